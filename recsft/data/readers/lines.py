"""Files, lines, encodings and gzip: the bounded byte-level layer under every reader.

Every input path is checked to be a regular, readable file before it is opened
(:func:`require_input`): a folder, FIFO, device or socket would make a reader fail late, block
or read forever. Every line is read with a bound (:data:`MAX_LINE_BYTES`, checked while reading:
a 4 GB line is refused after 16 MiB, never allocated whole), plain or gzip-compressed alike.

Errors name the file and the line (1-based; blank lines count).
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recsft.data.events import EventLogError
from recsft.errors import RecsftError, shorten
from recsft.fileio import require_regular_file

#: The longest line (or record) a line-based reader accepts, in bytes, its newline not counted.
#: Read at call time: tests and callers may set ``recsft.data.readers.lines.MAX_LINE_BYTES``.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: The largest whole-file JSON document (S3-Rec's ``*_item2attributes.json``), in bytes.
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024
#: Bytes read at a time when a file is read whole.
CHUNK_BYTES = 1 << 24

GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_NEWLINE = 10


def line_limit() -> int:
    """The current :data:`MAX_LINE_BYTES` (a module global, so that it can be lowered)."""
    return MAX_LINE_BYTES


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (for library messages that quote a whole row)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def names_text(names: list[str], limit: int = 300) -> str:
    """``repr(names)`` when short; a bounded summary for a header with huge or many names."""
    text = repr(names)
    return text if len(text) <= limit else shorten(names)


def size_text(count: int) -> str:
    """``1 GiB`` / ``16 MiB`` for whole gibibytes / mebibytes, else ``N bytes``."""
    for shift, unit in ((30, "GiB"), (20, "MiB")):
        if count and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"


def require_input(path: Path) -> Path:
    """Check that ``path`` is an existing, readable regular file (symlinks followed).

    Raises:
        EventLogError: missing (``file not found``), a folder, a FIFO, a device, a socket, or
            not readable (``permission denied``).
    """
    try:
        require_regular_file(path, "data file")
    except RecsftError as err:
        reason = str(err).removeprefix(f"{path}: ")
        if reason.startswith("no such"):
            reason = "file not found"
        raise EventLogError(path, reason) from None
    return path


def base_name(path: Path) -> str:
    """The lower-case file name without a ``.gz`` suffix."""
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def check_encoding(path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise EventLogError(path, f"unknown encoding {shorten(encoding)}; expected a Python "
                                  "codec name such as utf-8 or latin-1") from err
    return encoding


def arrow_encoding(encoding: str) -> str:
    """pyarrow reads utf-8 natively and transcodes anything else."""
    return "utf8" if codecs.lookup(encoding).name == "utf-8" else encoding


def open_binary(path: Path) -> BinaryIO:
    """Open a checked input file (:func:`require_input`), decompressing ``.gz``."""
    require_input(path)
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


def gzip_error(path: Path, err: BaseException, lines_read: int) -> EventLogError:
    return EventLogError(
        path,
        f"truncated or corrupt gzip after line {lines_read} ({clip(str(err))}); expected a "
        "complete gzip file",
    )


def too_long(path: Path, line: int, limit: int) -> EventLogError:
    return EventLogError(
        path,
        f"the line is longer than {size_text(limit)}; expected at most {size_text(limit)} per "
        "line (one event or record per line)",
        line=line,
    )


def raw_lines(path: Path, handle: BinaryIO) -> Iterator[bytes]:
    """Yield each line of ``handle`` with its newline; a line over the limit is an error.

    At most ``MAX_LINE_BYTES + 1`` bytes are read for one line, so an endless line costs no
    more memory than the limit. Gzip errors propagate (the callers number them).
    """
    limit = line_limit()
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            raise too_long(path, number, limit)
        yield raw


def decode_error(
    path: Path,
    err: UnicodeDecodeError,
    raw: bytes,
    line: int,
    encoding: str,
    fields: list[str] | None = None,
    delimiter: str | None = None,
) -> EventLogError:
    """Name the bad byte, its line and (for delimited text) its column."""
    column = None
    if fields and delimiter:
        index = raw[: err.start].count(delimiter.encode())
        if index < len(fields):
            column = fields[index]
    return EventLogError(
        path,
        f"cannot decode byte 0x{raw[err.start]:02x} (byte {err.start + 1} of the line) as "
        f"{encoding}; expected {encoding}-encoded text (pass encoding= for another encoding)",
        line=line,
        column=column,
    )


def iter_lines(
    path: Path,
    encoding: str,
    fields: list[str] | None = None,
    delimiter: str | None = None,
) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text without the newline)``; decoding, gzip and size errors are
    named."""
    number = 0
    with open_binary(path) as handle:
        lines = raw_lines(path, handle)
        while True:
            try:
                raw = next(lines, None)
            except GZIP_ERRORS as err:
                raise gzip_error(path, err, number) from err
            if raw is None:
                return
            number += 1
            raw = raw.rstrip(b"\r\n")
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise decode_error(path, err, raw, number, encoding, fields, delimiter) from err


def check_line_lengths(path: Path) -> None:
    """Read ``path`` line by line; raise the error naming the first line over the limit."""
    number = 0
    with open_binary(path) as handle:
        lines = raw_lines(path, handle)
        while True:
            try:
                if next(lines, None) is None:
                    return
            except GZIP_ERRORS as err:
                raise gzip_error(path, err, number) from err
            number += 1


def read_bytes(path: Path, document: bool = False) -> bytes:
    """The whole (decompressed) file, checked while it is read.

    Args:
        path: The file.
        document: The file is one JSON document (no line limit; at most
            :data:`MAX_DOCUMENT_BYTES` in all) rather than lines (each at most
            :data:`MAX_LINE_BYTES`).

    Raises:
        EventLogError: a truncated gzip (with the lines read), a line over the limit (named by
            its number, found before the rest of the line is read), or a document too large.
    """
    limit = line_limit()
    chunks: list[bytes] = []
    total = 0
    newlines = 0  # complete lines before the current chunk
    tail = 0  # bytes since the last newline
    with open_binary(path) as handle:
        while True:
            try:
                chunk = handle.read(CHUNK_BYTES)
            except GZIP_ERRORS as err:
                raise gzip_error(path, err, _lines_before_gzip_error(path)) from err
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if document and total > MAX_DOCUMENT_BYTES:
                raise EventLogError(path, f"the file is larger than "
                                          f"{size_text(MAX_DOCUMENT_BYTES)}; expected a smaller "
                                          "JSON document")
            if not document:
                newlines, tail = _check_chunk(path, chunk, newlines, tail, limit)
            chunks.append(chunk)


def _check_chunk(path: Path, chunk: bytes, newlines: int, tail: int,
                 limit: int) -> tuple[int, int]:
    """Check the lines a chunk ends or holds; return the new ``(newlines, tail)``."""
    ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == _NEWLINE)
    if len(ends) == 0:
        tail += len(chunk)
        if tail > limit:
            raise too_long(path, newlines + 1, limit)
        return newlines, tail
    lengths = np.diff(ends, prepend=-1 - tail) - 1  # line k ends at ends[k]
    over = np.flatnonzero(lengths > limit)
    if len(over):
        raise too_long(path, newlines + int(over[0]) + 1, limit)
    tail = len(chunk) - int(ends[-1]) - 1
    newlines += len(ends)
    if tail > limit:
        raise too_long(path, newlines + 1, limit)
    return newlines, tail


def _lines_before_gzip_error(path: Path) -> int:
    """How many complete lines a damaged gzip file yields before it fails."""
    count = 0
    with open_binary(path) as handle:
        try:
            for raw in raw_lines(path, handle):
                count += raw.endswith(b"\n")
        except GZIP_ERRORS:
            pass
    return count


def decode_all(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line_end = data.find(b"\n", err.start)
        raw = data[line_start: None if line_end < 0 else line_end]
        shifted = UnicodeDecodeError(err.encoding, raw, err.start - line_start,
                                     err.end - line_start, err.reason)
        number = data.count(b"\n", 0, err.start) + 1
        raise decode_error(path, shifted, raw, number, encoding) from err


def first_line(path: Path, encoding: str, errors: str = "strict") -> str:
    """The first non-blank line; a missing, unreadable or empty file is an error."""
    require_input(path)
    if errors == "strict":
        for _, text in iter_lines(path, encoding):
            if text.strip():
                return text
    else:
        with open_binary(path) as handle:
            try:
                for raw in raw_lines(path, handle):
                    text = raw.decode(encoding, errors=errors)
                    if text.strip():
                        return text.rstrip("\r\n")
            except GZIP_ERRORS as err:
                raise gzip_error(path, err, 0) from err
    raise EventLogError(path, "the file is empty; expected at least one event")


def line_of_row(path: Path, row: int, skip: int) -> int:
    """Physical line of the ``row``-th (0-based) non-blank data line after ``skip`` lines."""
    seen = -1
    number = 0
    with open_binary(path) as handle:
        try:
            for number, raw in enumerate(raw_lines(path, handle), start=1):
                if number > skip and raw.strip(b"\r\n"):
                    seen += 1
                    if seen == row:
                        return number
        except GZIP_ERRORS:
            pass
    return row + skip + 1
