"""Format-specific readers behind :func:`recsft.data.events.read_events`.

Each reader turns one kind of file into the canonical event frame (``user_id``, ``item_id``,
``timestamp``, ``event_type``; see :mod:`recsft.data.events`) and, where the format has one, an
item attribute table. Tables (CSV, TSV, Parquet, RecBole, MovieLens, RetailRocket, Taobao) are
parsed by :mod:`pyarrow` and validated column-wise, never row by row; line-oriented text formats
(SASRec, S3-Rec, JSON lines that :mod:`pyarrow.json` cannot take) are read line by line.

Every bad input raises one :class:`~recsft.data.events.EventLogError` that names the file, the
line (1-based, a header is line 1; for Parquet the row group and row), the column, and what was
expected. Finding the exact line of a bad row costs a second pass over the file, which is only
made when there is an error.

Example:
    >>> from recsft.data.readers import detect_format
    >>> detect_format("UserBehavior.csv")  # doctest: +SKIP
    'taobao'
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from recsft.data.events import CANONICAL_COLUMNS, DEFAULT_EVENT_TYPE, FORMATS, EventLogError

#: Timestamps must lie in [1970-01-01, 2100-01-01) once converted to unix seconds.
MAX_TIMESTAMP = 4_102_444_800
#: Divisors from a timestamp unit to seconds.
TIMESTAMP_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

#: RetailRocket ``event`` values -> canonical event types.
RETAILROCKET_EVENT_MAP = {"view": "view", "addtocart": "cart", "transaction": "buy"}
#: Taobao UserBehavior ``behavior_type`` values -> canonical event types.
TAOBAO_EVENT_MAP = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "buy"}
#: The genre flags of MovieLens 100K's ``u.item``, in order (used when ``u.genre`` is absent).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

_RETAILROCKET_HEADER = ["timestamp", "visitorid", "event", "itemid", "transactionid"]
_TAOBAO_LAYOUT = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
_ML_RATINGS_LAYOUT = ["user_id", "item_id", "rating", "timestamp"]
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_MOVIELENS_SPLIT = re.compile(r"u[0-9ab]?\.(data|base|test)")
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"

# Canonical name -> name in the file, per format; unlisted canonical columns keep their name.
_DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "retailrocket": {
        "user_id": "visitorid", "item_id": "itemid", "timestamp": "timestamp",
        "event_type": "event",
    },
    "amazon-reviews": {"user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime"},
}
# Canonical columns a format cannot do without (others are read when present).
_REQUIRED = {
    "recbole": ("user_id", "item_id"),
    "retailrocket": CANONICAL_COLUMNS,
}
_FIXED_LAYOUT = ("sasrec", "s3rec", "movielens", "taobao")
_NO_EVENT_TYPES = ("sasrec", "s3rec", "movielens")
_DEFAULT_EVENT_MAPS = {"retailrocket": RETAILROCKET_EVENT_MAP, "taobao": TAOBAO_EVENT_MAP}
_DEFAULT_UNITS = {"retailrocket": "ms"}


@dataclass
class ReadRequest:
    """What :func:`read` is asked to do (the arguments of ``read_events``, resolved).

    Attributes:
        path: The event file.
        format: One of :data:`~recsft.data.events.FORMATS` (not ``"auto"``).
        columns: Canonical name -> name in the file, as the caller gave it.
        event_map: Source event type -> canonical event type, or ``None`` for the format's
            default map (RetailRocket, Taobao) or none at all.
        items_path: An explicit item attribute table, or ``None`` to look beside the events.
        encoding: Text encoding, or ``None`` for the format's default.
        timestamp_unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``, or ``None`` for the format's
            default (milliseconds for RetailRocket, seconds otherwise).
    """

    path: Path
    format: str
    columns: dict[str, str]
    event_map: dict[str, str] | None = None
    items_path: Path | None = None
    encoding: str | None = None
    timestamp_unit: str | None = None


@dataclass
class ReadResult:
    """What a reader produced, and the settings it used (recorded in ``EventLog.steps``).

    Attributes:
        frame: The canonical event frame.
        columns: Canonical name -> the file's column each canonical column came from (``None``
            for the SASRec/S3-Rec text formats, which have no columns).
        event_map: The event map applied, if any.
        items: The item attribute table, if the format has one or one was given.
        items_path: Where ``items`` came from.
        encoding: The text encoding used (``None`` for Parquet).
        timestamp_unit: The unit the file's numeric timestamps were read in (``None`` for
            order-only formats, whose timestamp is the position in the file).
    """

    frame: pd.DataFrame
    columns: dict[str, str] | None
    event_map: dict[str, str] | None = None
    items: pd.DataFrame | None = None
    items_path: str | None = None
    encoding: str | None = "utf-8"
    timestamp_unit: str | None = "s"


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def read(request: ReadRequest) -> ReadResult:
    """Read and validate an event file with the reader of ``request.format``.

    Args:
        request: The file, the format and the options.

    Returns:
        The canonical frame, the item table if any, and the settings used.

    Raises:
        EventLogError: the file is missing, empty or not what the format expects.
    """
    path = request.path
    fmt = request.format
    unknown = sorted(set(request.columns) - set(CANONICAL_COLUMNS))
    if unknown:
        raise EventLogError(
            path,
            f"unknown canonical column(s) {unknown} in the column mapping; "
            f"expected some of {list(CANONICAL_COLUMNS)}",
        )
    if fmt in _FIXED_LAYOUT and request.columns:
        raise EventLogError(
            path,
            f"format '{fmt}' has a fixed layout, so columns= does not apply; expected no "
            "column mapping (it applies to csv, tsv, parquet, jsonl, recbole, retailrocket, "
            "amazon-reviews)",
        )
    if fmt in _NO_EVENT_TYPES and request.event_map is not None:
        raise EventLogError(path, f"an event_map was given but format '{fmt}' has no event "
                                  "types; expected event_map=None")
    unit = request.timestamp_unit or _DEFAULT_UNITS.get(fmt, "s")
    if unit not in TIMESTAMP_UNITS:
        raise EventLogError(
            path, f"unknown timestamp_unit '{unit}'; expected one of {list(TIMESTAMP_UNITS)}"
        )
    encoding = _check_encoding(path, request.encoding or ("latin-1" if fmt == "movielens"
                                                           else "utf-8"))
    if not path.exists():
        raise EventLogError(path, "file not found")
    reader = _READERS[fmt]
    result = reader(request, encoding, unit)
    if request.items_path is not None:
        item_column = request.columns.get("item_id") or (result.columns or {}).get("item_id")
        result.items = read_items(request.items_path, item_column=item_column,
                                  encoding=request.encoding)
        result.items_path = str(request.items_path)
    return result


def detect_format(path: str | Path) -> str:
    """Guess the reader from the file name and its first line.

    Rules, in order (a ``.gz`` suffix is looked through): ``.parquet`` -> parquet; ``.inter``
    -> recbole; ``u.data`` (and ``u1.base`` ...) or a ``.dat`` file whose first line is
    ``a::b::c::d`` -> movielens; ``UserBehavior*.csv`` or a headerless CSV whose fourth field is
    pv/cart/fav/buy -> taobao; a CSV with RetailRocket's header -> retailrocket; other
    ``.csv`` -> csv; ``.tsv`` -> tsv; ``.jsonl`` / ``.ndjson`` / ``.json`` whose first object has
    ``reviewerID`` and ``asin`` -> amazon-reviews, else (one JSON object on the first line)
    jsonl; any other file whose first line has 3 or more tab-separated fields -> tsv, 2
    whitespace-separated fields -> sasrec, more -> s3rec.

    Args:
        path: The event file.

    Returns:
        One of :data:`~recsft.data.events.FORMATS`.

    Raises:
        EventLogError: the file is missing or empty, or no rule matches.

    Example:
        >>> detect_format("ml-100k/ml-100k.inter")  # doctest: +SKIP
        'recbole'
    """
    path = Path(path)
    base = _base_name(path)
    if base.endswith(".parquet"):
        return "parquet"
    if not path.exists():
        raise EventLogError(path, "file not found")
    if base.endswith(".inter"):
        return "recbole"
    if _MOVIELENS_SPLIT.fullmatch(base):
        return "movielens"
    first = _first_line(path, "utf-8", errors="replace").lstrip("\ufeff")
    if base.endswith(".dat") and len(first.split("::")) == 4:
        return "movielens"
    if base.endswith(".csv"):
        fields = [f.strip() for f in first.split(",")]
        if base.startswith("userbehavior"):
            return "taobao"
        if fields == _RETAILROCKET_HEADER:
            return "retailrocket"
        if len(fields) == 5 and fields[3] in TAOBAO_EVENT_MAP and fields[4].isdigit():
            return "taobao"
        return "csv"
    if base.endswith(".tsv"):
        return "tsv"
    if base.endswith((".jsonl", ".ndjson", ".json")):
        stripped = first.strip()
        if stripped.startswith("{") and "reviewerID" in stripped and "asin" in stripped:
            return "amazon-reviews"
        try:
            is_object = isinstance(json.loads(stripped), dict)
        except ValueError:
            is_object = False
        if is_object:
            return "jsonl"
    else:
        if len(first.split("\t")) >= 3:  # a tab-separated header, e.g. YOOCHOOSE's
            return "tsv"
        tokens = first.split()
        if len(tokens) == 2:
            return "sasrec"
        if len(tokens) > 2:
            return "s3rec"
    raise EventLogError(
        path, "cannot detect the format; pass format= one of " + ", ".join(FORMATS)
    )


def read_items(
    path: str | Path,
    item_column: str | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read an item attribute table into a frame keyed by ``item_id`` (str).

    The kind of table comes from its name: ``*item2attributes*.json`` (S3-Rec: item -> list of
    attribute ids, read into an ``attributes`` column of lists of str), ``*.item`` (RecBole:
    typed header, ``:type`` suffixes stripped, ``token_seq`` kept as a string, ``float`` columns
    as floats), ``movies.dat`` (MovieLens 1M: ``title``, ``genres``), ``u.item`` (MovieLens 100K:
    ``title``, ``release_date``, ``genres`` joined by ``|``), ``.csv`` / ``.tsv`` / ``.parquet``
    with a header, or JSON lines (``.jsonl`` / ``.json``; Amazon product metadata keeps
    ``title``, ``brand``, ``categories`` as a flat list of str and ``price`` as a float).
    Text files may be gzip-compressed. The first row of a repeated item id wins.

    Args:
        path: The item table.
        item_column: The item-id column when it is not ``item_id`` (``asin`` and ``itemid``
            are also recognised).
        encoding: Text encoding; ``None`` for utf-8 (latin-1 for MovieLens).

    Returns:
        One row per item: ``item_id`` plus attribute columns.

    Raises:
        EventLogError: the table is missing, unreadable or has no item-id column.

    Example:
        >>> items = read_items("Beauty_item2attributes.json")  # doctest: +SKIP
        >>> list(items.columns)  # doctest: +SKIP
        ['item_id', 'attributes']
    """
    path = Path(path)
    if not path.exists():
        raise EventLogError(path, "file not found")
    base = _base_name(path)
    latin = base == "u.item" or base.endswith("movies.dat")
    enc = _check_encoding(path, encoding or ("latin-1" if latin else "utf-8"))
    if "item2attributes" in base and base.endswith(".json"):
        items = _read_item2attributes(path, enc)
    elif base == "u.item":
        items = _read_ml100k_items(path, enc)
    elif base.endswith(".item"):
        items = _read_recbole_items(path, enc, item_column)
    elif base.endswith("movies.dat"):
        items = _read_ml1m_movies(path, enc)
    elif base.endswith((".csv", ".tsv")):
        items = _read_table_items(path, enc, "\t" if base.endswith(".tsv") else ",", item_column)
    elif base.endswith(".parquet"):
        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as err:
            raise EventLogError(path, f"cannot read the Parquet file ({err})") from err
        items = _key_items(frame, path, item_column)
    elif base.endswith((".jsonl", ".ndjson", ".json")):
        items = _read_json_items(path, enc, item_column)
    else:
        raise EventLogError(
            path,
            "unknown item table kind; expected .csv, .tsv, .parquet, .jsonl/.json, .item, "
            "*item2attributes.json, movies.dat or u.item",
        )
    return items.drop_duplicates("item_id", keep="first").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Files, lines, encodings and gzip
# --------------------------------------------------------------------------------------------


def _base_name(path: Path) -> str:
    """The lower-case file name without a ``.gz`` suffix."""
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _check_encoding(path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise EventLogError(path, f"unknown encoding '{encoding}'; expected a Python codec name "
                                  "such as utf-8 or latin-1") from err
    return encoding


def _arrow_encoding(encoding: str) -> str:
    """pyarrow reads utf-8 natively and transcodes anything else."""
    return "utf8" if codecs.lookup(encoding).name == "utf-8" else encoding


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115


def _gzip_error(path: Path, err: BaseException, lines_read: int) -> EventLogError:
    return EventLogError(
        path,
        f"truncated or corrupt gzip after line {lines_read} ({err}); expected a complete "
        "gzip file",
    )


def _decode_error(
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


def _iter_lines(
    path: Path,
    encoding: str,
    fields: list[str] | None = None,
    delimiter: str | None = None,
) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text without the newline)``; decoding and gzip errors are named."""
    number = 0
    with _open_binary(path) as handle:
        while True:
            try:
                raw = handle.readline()
            except _GZIP_ERRORS as err:
                raise _gzip_error(path, err, number) from err
            if not raw:
                return
            number += 1
            raw = raw.rstrip(b"\r\n")
            try:
                yield number, raw.decode(encoding)
            except UnicodeDecodeError as err:
                raise _decode_error(path, err, raw, number, encoding, fields, delimiter) from err


def _read_bytes(path: Path) -> bytes:
    """The whole (decompressed) file; a truncated gzip is reported with the lines read."""
    chunks: list[bytes] = []
    with _open_binary(path) as handle:
        while True:
            try:
                chunk = handle.read(1 << 24)
            except _GZIP_ERRORS as err:
                raise _gzip_error(path, err, _lines_before_gzip_error(path)) from err
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _lines_before_gzip_error(path: Path) -> int:
    """How many complete lines a damaged gzip file yields before it fails."""
    count = 0
    with _open_binary(path) as handle:
        try:
            for raw in handle:
                count += raw.endswith(b"\n")
        except _GZIP_ERRORS:
            pass
    return count


def _decode_all(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line_end = data.find(b"\n", err.start)
        raw = data[line_start: None if line_end < 0 else line_end]
        shifted = UnicodeDecodeError(err.encoding, raw, err.start - line_start,
                                     err.end - line_start, err.reason)
        number = data.count(b"\n", 0, err.start) + 1
        raise _decode_error(path, shifted, raw, number, encoding) from err


def _first_line(path: Path, encoding: str, errors: str = "strict") -> str:
    """The first non-blank line; a missing or empty file is an error."""
    if not path.exists():
        raise EventLogError(path, "file not found")
    if errors == "strict":
        for _, text in _iter_lines(path, encoding):
            if text.strip():
                return text
    else:
        with _open_binary(path) as handle:
            try:
                for raw in handle:
                    text = raw.decode(encoding, errors=errors)
                    if text.strip():
                        return text.rstrip("\r\n")
            except _GZIP_ERRORS as err:
                raise _gzip_error(path, err, 0) from err
    raise EventLogError(path, "the file is empty; expected at least one event")


def _line_of_row(path: Path, row: int, skip: int) -> int:
    """Physical line of the ``row``-th (0-based) non-blank data line after ``skip`` lines."""
    seen = -1
    number = 0
    with _open_binary(path) as handle:
        try:
            for number, raw in enumerate(handle, start=1):
                if number > skip and raw.strip(b"\r\n"):
                    seen += 1
                    if seen == row:
                        return number
        except _GZIP_ERRORS:
            pass
    return row + skip + 1


# --------------------------------------------------------------------------------------------
# Column-wise validation shared by all table readers
# --------------------------------------------------------------------------------------------


@dataclass
class _Where:
    """Turns a 0-based row index into an :class:`EventLogError` location."""

    path: Path
    names: dict[str, str]
    locate: Callable[[int], dict[str, int]]
    empty: str = "no events after the header; expected at least one event"

    def error(self, message: str, row: int | None = None,
              canonical: str | None = None) -> EventLogError:
        location = self.locate(row) if row is not None else {}
        column = self.names.get(canonical) if canonical else None
        return EventLogError(self.path, message, column=column, **location)


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int | None:
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def _ids(column: pa.ChunkedArray, where: _Where, canonical: str) -> pa.ChunkedArray:
    """Ids as strings; a null or blank id is an error naming its row."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_floating(kind):
        integral = pc.all(pc.equal(pc.floor(column), column)).as_py()
        if integral:
            column = column.cast(pa.int64())
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    bad = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
    row = _first_true(bad)
    if row is not None:
        raise where.error("empty id; expected a non-empty value", row, canonical)
    return column


def _timestamps(column: pa.ChunkedArray, unit: str, where: _Where) -> np.ndarray:
    """Unix seconds (int64) from numbers in ``unit``, ISO-8601 strings or Arrow timestamps."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    divisor = TIMESTAMP_UNITS[unit]
    null = _first_true(pc.is_null(column))
    if null is not None:
        raise where.error(_unparsable("", unit), null, "timestamp")
    if pa.types.is_timestamp(kind):
        raw = column.cast(pa.int64()).to_numpy()
        seconds = raw // TIMESTAMP_UNITS[kind.unit]
    elif pa.types.is_date(kind):
        raw = column.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
        seconds = raw
    elif pa.types.is_integer(kind):
        seconds = column.cast(pa.int64()).to_numpy() // divisor
    elif pa.types.is_floating(kind):
        seconds = _float_seconds(column.cast(pa.float64()).to_numpy(), divisor, column, unit,
                                 where)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        seconds = _string_seconds(column, divisor, unit, where)
    else:
        raise where.error(f"timestamps of type {kind} are not supported; expected numbers or "
                          "ISO-8601 date-times", 0, "timestamp")
    bad = (seconds < 0) | (seconds >= MAX_TIMESTAMP)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise where.error(_out_of_range(column[row].as_py(), seconds[row], unit), row,
                          "timestamp")
    return seconds.astype(np.int64, copy=False)


def _unparsable(value: object, unit: str) -> str:
    units = "unix seconds" if unit == "s" else f"unix time in {unit}"
    return f"cannot parse timestamp {value!r}; expected {units} or an ISO-8601 date-time"


def _out_of_range(value: object, seconds: float, unit: str) -> str:
    units = "unix seconds" if unit == "s" else f"unix time in {unit}"
    message = (f"timestamp {value!r} is out of range; expected {units} between 1970-01-01 and "
               "2100-01-01")
    if unit == "s" and 1e11 <= seconds < MAX_TIMESTAMP * 1000:  # 1973 to 2100 in ms
        message += " (it looks like milliseconds: pass timestamp_unit='ms')"
    return message


def _float_seconds(values: np.ndarray, divisor: int, column: pa.ChunkedArray, unit: str,
                   where: _Where) -> np.ndarray:
    nonfinite = ~np.isfinite(values)
    if nonfinite.any():
        row = int(np.flatnonzero(nonfinite)[0])
        raise where.error(_unparsable(column[row].as_py(), unit), row, "timestamp")
    seconds = np.floor(values / divisor)
    bad = (seconds < 0) | (seconds >= MAX_TIMESTAMP)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise where.error(_out_of_range(column[row].as_py(), seconds[row], unit), row,
                          "timestamp")
    return seconds.astype(np.int64)


def _string_seconds(column: pa.ChunkedArray, divisor: int, unit: str,
                    where: _Where) -> np.ndarray:
    """Numbers in ``unit`` or ISO-8601 date-times, possibly mixed; the first bad row is named.

    Fast casts come first (all integers, all numbers, all ISO-8601); a mixed or bad column is
    split by a regular expression into numbers and date-times, and only the date-times that
    Arrow cannot parse go to pandas.
    """
    try:
        return pc.cast(column, pa.int64()).to_numpy() // divisor
    except pa.ArrowInvalid:
        pass
    numeric = pc.match_substring_regex(column, _NUMBER)
    if pc.all(numeric).as_py():
        return _float_seconds(pc.cast(column, pa.float64()).to_numpy(), divisor, column, unit,
                              where)
    seconds = np.zeros(len(column), dtype=np.float64)
    is_number = numeric.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(is_number)
    if len(rows):
        numbers = pc.cast(column.filter(numeric), pa.float64()).to_numpy()
        seconds[rows] = np.floor(numbers / divisor)
    rows = np.flatnonzero(~is_number)
    seconds[rows] = _datetime_seconds(column.filter(pc.invert(numeric)), rows, unit, where)
    bad = ~((seconds >= 0) & (seconds < MAX_TIMESTAMP))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise where.error(_out_of_range(column[row].as_py(), seconds[row], unit), row,
                          "timestamp")
    return seconds.astype(np.int64)


def _datetime_seconds(texts: pa.ChunkedArray, rows: np.ndarray, unit: str,
                      where: _Where) -> np.ndarray:
    """Seconds (float) of ISO-8601 strings; ``rows`` are their rows, for the error."""
    for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
        try:
            return np.floor(pc.cast(texts, target).cast(pa.int64()).to_numpy() / 1_000_000)
        except pa.ArrowInvalid:
            continue
    values = texts.to_pandas()
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    retry = np.flatnonzero(parsed.isna().to_numpy())
    if len(retry):  # other spellings pandas understands, e.g. "2024-01-01 10:00 +02:00"
        again = pd.to_datetime(values.iloc[retry], errors="coerce", utc=True, format="mixed")
        parsed.iloc[retry] = again
        bad = np.flatnonzero(again.isna().to_numpy())
        if len(bad):
            index = int(retry[bad[0]])
            raise where.error(_unparsable(values.iloc[index], unit), int(rows[index]),
                              "timestamp")
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    return ((parsed - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _event_types(column: pa.ChunkedArray, event_map: Mapping[str, str] | None,
                 where: _Where) -> pa.ChunkedArray:
    """Event types as strings, mapped through ``event_map`` (every source value must be in it)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    if event_map is None:
        return pc.fill_null(column, DEFAULT_EVENT_TYPE)
    keys = pa.array([str(k) for k in event_map], pa.string())
    index = pc.index_in(column, value_set=keys)
    row = _first_true(pc.is_null(index))
    if row is not None:
        value = column[row].as_py()
        expected = f"expected one of {sorted(event_map)} (the event_map)"
        if value is None or not value.strip():
            raise where.error(f"empty event type; {expected}", row, "event_type")
        raise where.error(f"unknown event type {value!r}; {expected}", row, "event_type")
    targets = pa.array([str(v) for v in event_map.values()], pa.string())
    return pa.chunked_array([targets.take(chunk) for chunk in index.chunks], pa.string())


def _finish(table: pa.Table, where: _Where, unit: str | None,
            event_map: Mapping[str, str] | None) -> pd.DataFrame:
    """Validate a table whose columns carry canonical names; return the canonical frame."""
    if table.num_rows == 0:
        raise EventLogError(where.path, where.empty)
    users = _ids(table["user_id"], where, "user_id")
    items = _ids(table["item_id"], where, "item_id")
    if "timestamp" in table.column_names and unit is not None:
        times = _timestamps(table["timestamp"], unit, where)
    else:  # order-only: the position in the file
        times = np.arange(table.num_rows, dtype=np.int64)
    if "event_type" in table.column_names:
        types = _event_types(table["event_type"], event_map, where)
    elif event_map is not None:
        raise EventLogError(where.path, "an event_map was given but the file has no event-type "
                                        "column; expected columns={'event_type': ...}")
    else:
        types = pc.fill_null(pa.nulls(table.num_rows, pa.string()), DEFAULT_EVENT_TYPE)
    out = pa.table({"user_id": users, "item_id": items, "timestamp": pa.array(times),
                    "event_type": types})
    return out.to_pandas()


def _resolve_columns(path: Path, fmt: str, available: list[str],
                     user: Mapping[str, str]) -> dict[str, str]:
    """Canonical name -> file column, from the format's defaults and the user's mapping."""
    defaults = _DEFAULT_COLUMNS.get(fmt, {})
    required = _REQUIRED.get(fmt, ("user_id", "item_id", "timestamp"))
    names: dict[str, str] = {}
    for canonical in CANONICAL_COLUMNS:
        source = user.get(canonical, defaults.get(canonical, canonical))
        if source in available:
            names[canonical] = source
        elif canonical in required or canonical in user:
            raise EventLogError(
                path,
                f"missing column '{source}' (for {canonical}); the file has {available}",
                column=source,
            )
    return names


# --------------------------------------------------------------------------------------------
# Delimited tables through pyarrow
# --------------------------------------------------------------------------------------------


def _split_csv(delimiter: str) -> Callable[[str], list[str]]:
    def split(text: str) -> list[str]:
        return next(csv.reader([text], delimiter=delimiter), [])

    return split


def _read_delimited(
    path: Path,
    *,
    fmt: str,
    delimiter: str,
    encoding: str,
    user_columns: Mapping[str, str],
    layout: list[str] | None = None,
    skip_rows: int = 0,
    quoting: bool = True,
    data: bytes | None = None,
    split: Callable[[str], list[str]] | None = None,
    extra: tuple[str, ...] = (),
    file_delimiter: str | None = None,
) -> tuple[pa.Table, _Where, dict[str, str]]:
    """Read the columns a format needs, as strings, and rename them to canonical names.

    Args:
        path: The file (for names, line numbers and diagnostics).
        fmt: The format (default column names, required columns).
        delimiter: Field separator as pyarrow sees it.
        encoding: Text encoding.
        user_columns: The caller's column mapping.
        layout: Column names for a file without a usable header (``None``: the first line is
            the header).
        skip_rows: Lines to skip before the data when ``layout`` is given (a typed header).
        quoting: Whether ``"`` quotes fields.
        data: What pyarrow reads instead of ``path`` (the content, rewritten).
        split: Splits one line into fields for diagnostics (default: the csv module).
        extra: Further file columns to read (as strings), kept under their own names.
        file_delimiter: The delimiter in ``path`` when ``data`` uses another one.

    Returns:
        The table (canonical columns, then ``extra``), the error locator and the
        canonical -> file column mapping used.
    """
    first = _first_line(path, encoding).lstrip("\ufeff")
    header_lines = skip_rows if layout is not None else 1
    if layout is not None:
        available = layout
    else:
        header_split = split or (_split_csv(delimiter) if quoting else
                                 (lambda s: s.split(delimiter)))
        available = [c.strip() for c in header_split(first)]
    names = _resolve_columns(path, fmt, available, user_columns)
    wanted = list(dict.fromkeys([*names.values(), *extra]))
    table = _arrow_csv(
        path, fields=available, delimiter=delimiter, encoding=encoding,
        header_lines=header_lines, column_names=layout, quoting=quoting, data=data,
        convert_options=pacsv.ConvertOptions(
            include_columns=wanted, column_types={c: pa.string() for c in wanted},
            strings_can_be_null=False,
        ),
        split=split, file_delimiter=file_delimiter,
    )
    columns = {canonical: table[source_name] for canonical, source_name in names.items()}
    table = pa.table({**columns, **{name: table[name] for name in extra}})

    def locate(row: int) -> dict[str, int]:
        return {"line": _line_of_row(path, row, header_lines)}

    return table, _Where(path, names, locate), names


def _arrow_csv(
    path: Path,
    *,
    fields: list[str],
    delimiter: str,
    encoding: str,
    header_lines: int,
    column_names: list[str] | None = None,
    quoting: bool = True,
    data: bytes | None = None,
    convert_options: pacsv.ConvertOptions | None = None,
    split: Callable[[str], list[str]] | None = None,
    file_delimiter: str | None = None,
) -> pa.Table:
    """``pyarrow.csv.read_csv`` with each failure turned into one named error.

    Args:
        path: The file (read unless ``data`` is given; named in errors).
        fields: The file's column names, for messages.
        delimiter: Field separator as pyarrow sees it.
        encoding: Text encoding.
        header_lines: Lines before the first data row (skipped when ``column_names`` is given).
        column_names: Names for the columns, when the file's first line is not a plain header.
        quoting: Whether ``"`` quotes fields.
        data: The (decompressed, rewritten) content to read instead of ``path``.
        convert_options: Which columns to read and as what.
        split: Splits a line into fields, for diagnostics.
        file_delimiter: The delimiter in ``path`` when ``data`` uses another one.

    Returns:
        The table.
    """

    def run(threads: bool, handler: Callable[[Any], str] | None = None) -> pa.Table:
        read_options = pacsv.ReadOptions(
            column_names=column_names, skip_rows=header_lines if column_names else 0,
            encoding=_arrow_encoding(encoding), block_size=1 << 24, use_threads=threads,
        )
        parse_options = pacsv.ParseOptions(delimiter=delimiter,
                                           quote_char='"' if quoting else False,
                                           invalid_row_handler=handler)
        source = pa.BufferReader(data) if data is not None else path
        return pacsv.read_csv(source, read_options, parse_options, convert_options)

    try:
        return run(threads=True)
    except (pa.ArrowInvalid, OSError, *_GZIP_ERRORS) as err:
        split = split or (_split_csv(delimiter) if quoting else (lambda s: s.split(delimiter)))
        raise _diagnose(path, err, run, encoding, fields, split, header_lines,
                        file_delimiter or delimiter) from err


def _diagnose(path: Path, err: BaseException, run: Callable[..., pa.Table], encoding: str,
              fields: list[str], split: Callable[[str], list[str]], header_lines: int,
              delimiter: str) -> EventLogError:
    """Find what pyarrow tripped over: a ragged row, a bad byte or a truncated gzip.

    A ragged row is found by a second, single-threaded pyarrow pass (which numbers rows); a
    bad byte or a truncated gzip by a pass over the lines in Python. Only errors pay for this.
    """
    ragged = "columns, got" in str(err)
    if ragged:
        invalid: list[Any] = []

        def handler(row: Any) -> str:
            invalid.append(row)
            return "error"

        try:
            run(threads=False, handler=handler)
        except (pa.ArrowInvalid, OSError, *_GZIP_ERRORS):
            pass
        if invalid and invalid[0].number is not None:
            # pyarrow numbers non-blank rows from 1, the header included.
            line = _line_of_row(path, invalid[0].number - 1 - header_lines, header_lines)
            return _ragged(path, fields, invalid[0].actual_columns, line)
    for number, text in _iter_lines(path, encoding, fields, delimiter):
        if ragged and number > header_lines and text and len(split(text)) != len(fields):
            return _ragged(path, fields, len(split(text)), number)
    return EventLogError(path, f"cannot parse the table ({err})")


def _ragged(path: Path, fields: list[str], found: int, line: int) -> EventLogError:
    return EventLogError(
        path, f"expected {len(fields)} fields ({', '.join(fields)}), found {found}", line=line
    )


def _read_csv_like(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path, fmt = request.path, request.format
    delimiter = "\t" if fmt == "tsv" else ","
    table, where, names = _read_delimited(path, fmt=fmt, delimiter=delimiter, encoding=encoding,
                                          user_columns=request.columns)
    event_map = _event_map(request, names)
    frame = _finish(table, where, unit, event_map)
    return ReadResult(frame, names, event_map, encoding=encoding, timestamp_unit=unit)


def _event_map(request: ReadRequest, names: Mapping[str, str]) -> dict[str, str] | None:
    if request.event_map is not None:
        return dict(request.event_map)
    default = _DEFAULT_EVENT_MAPS.get(request.format)
    return dict(default) if default is not None and "event_type" in names else None


def _read_taobao(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path = request.path
    columns = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp",
               "event_type": "behavior_type"}
    table, where, names = _read_delimited(path, fmt="taobao", delimiter=",", encoding=encoding,
                                          user_columns=columns, layout=list(_TAOBAO_LAYOUT),
                                          extra=("category_id",))
    event_map = _event_map(request, names)
    frame = _finish(table, where, unit, event_map)
    items = pd.DataFrame({"item_id": frame["item_id"],
                          "category": table["category_id"].to_pandas()})
    items = items.drop_duplicates("item_id", keep="first").reset_index(drop=True)
    return ReadResult(frame, names, event_map, items=items, items_path=str(path),
                      encoding=encoding, timestamp_unit=unit)


def _read_parquet(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path = request.path
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise EventLogError(path, f"cannot read the Parquet file ({err}); expected a Parquet "
                                  "file") from err
    names = _resolve_columns(path, "parquet", handle.schema_arrow.names, request.columns)
    table = handle.read(columns=list(dict.fromkeys(names.values())))
    table = pa.table({canonical: table[source] for canonical, source in names.items()})
    sizes = [handle.metadata.row_group(i).num_rows for i in range(handle.num_row_groups)]
    bounds = np.cumsum(sizes)

    def locate(row: int) -> dict[str, int]:
        group = int(np.searchsorted(bounds, row, side="right"))
        return {"row": row + 1, "row_group": group}

    event_map = _event_map(request, names)
    where = _Where(path, names, locate, empty="the file has no rows; expected at least one event")
    frame = _finish(table, where, unit, event_map)
    return ReadResult(frame, names, event_map, encoding=None, timestamp_unit=unit)


# --------------------------------------------------------------------------------------------
# RecBole atomic files
# --------------------------------------------------------------------------------------------


def _typed_header(path: Path, encoding: str) -> tuple[list[str], list[str]]:
    """RecBole's ``name:type`` header -> (names, types)."""
    fields = _first_line(path, encoding).split("\t")
    names = [f.rsplit(":", 1)[0].strip() for f in fields]
    types = [f.rsplit(":", 1)[1].strip() if ":" in f else "token" for f in fields]
    return names, types


def _read_recbole(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path = request.path
    layout, _ = _typed_header(path, encoding)
    table, where, names = _read_delimited(path, fmt="recbole", delimiter="\t", encoding=encoding,
                                          user_columns=request.columns, layout=layout,
                                          skip_rows=1, quoting=False)
    event_map = _event_map(request, names)
    has_time = "timestamp" in names
    frame = _finish(table, where, unit if has_time else None, event_map)
    items, items_path = None, None
    if request.items_path is None:
        stem = path.name[: -len(".gz")] if _is_gzip(path) else path.name
        for candidate in (stem[: -len(".inter")] + ".item", stem[: -len(".inter")] + ".item.gz"):
            beside = path.with_name(candidate)
            if stem.endswith(".inter") and beside.exists():
                items = read_items(beside, item_column=names["item_id"], encoding=encoding)
                items_path = str(beside)
                break
    return ReadResult(frame, names, event_map, items=items, items_path=items_path,
                      encoding=encoding, timestamp_unit=unit if has_time else None)


def _read_recbole_items(path: Path, encoding: str, item_column: str | None) -> pd.DataFrame:
    names, types = _typed_header(path, encoding)
    table = _arrow_csv(
        path, fields=names, delimiter="\t", encoding=encoding, header_lines=1,
        column_names=names, quoting=False,
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False),
    )
    frame = table.to_pandas()
    for name, kind in zip(names, types):
        if kind == "float":
            converted = pd.to_numeric(frame[name].replace("", None), errors="coerce")
            if converted.notna().sum() == (frame[name] != "").sum():
                frame[name] = converted
    return _key_items(frame, path, item_column)


# --------------------------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------------------------


def _read_movielens(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path = request.path
    base = _base_name(path)
    layout = list(_ML_RATINGS_LAYOUT)
    columns = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp"}
    if _MOVIELENS_SPLIT.fullmatch(base):  # MovieLens 100K: tab-separated
        table, where, names = _read_delimited(path, fmt="movielens", delimiter="\t",
                                              encoding=encoding, user_columns=columns,
                                              layout=layout, quoting=False)
        beside = [path.with_name("u.item")]
    else:  # ratings.dat: '::'-separated; pyarrow takes one-character delimiters
        _first_line(path, encoding)
        data = _read_bytes(path).replace(b"::", b"\t")
        table, where, names = _read_delimited(
            path, fmt="movielens", delimiter="\t", encoding=encoding, user_columns=columns,
            layout=layout, quoting=False, data=data, split=lambda s: s.split("::"),
            file_delimiter="::",
        )
        beside = [path.with_name("movies.dat"), path.with_name("movies.dat.gz")]
    event_map = _event_map(request, names)
    frame = _finish(table, where, unit, event_map)
    items, items_path = None, None
    if request.items_path is None:
        for candidate in beside:
            if candidate.exists():
                items = read_items(candidate, encoding=request.encoding)
                items_path = str(candidate)
                break
    return ReadResult(frame, names, event_map, items=items, items_path=items_path,
                      encoding=encoding, timestamp_unit=unit)


def _read_ml1m_movies(path: Path, encoding: str) -> pd.DataFrame:
    rows = []
    for number, text in _iter_lines(path, encoding, ["item_id", "title", "genres"], "::"):
        if not text.strip():
            continue
        fields = text.split("::")
        if len(fields) != 3:
            raise EventLogError(path, f"expected 3 fields (item_id, title, genres), found "
                                      f"{len(fields)}", line=number)
        rows.append(fields)
    if not rows:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return pd.DataFrame(rows, columns=["item_id", "title", "genres"])


def _read_ml100k_items(path: Path, encoding: str) -> pd.DataFrame:
    genres = list(ML100K_GENRES)
    genre_file = path.with_name("u.genre")
    if genre_file.exists():
        listed = [t.split("|")[0] for _, t in _iter_lines(genre_file, encoding) if t.strip()]
        if len(listed) == len(genres):
            genres = listed
    expected = 5 + len(genres)
    rows = []
    for number, text in _iter_lines(path, encoding):
        if not text.strip():
            continue
        fields = text.split("|")
        if len(fields) != expected:
            raise EventLogError(path, f"expected {expected} '|'-separated fields (id, title, "
                                      f"release date, video date, URL, {len(genres)} genre "
                                      f"flags), found {len(fields)}", line=number)
        flags = fields[5:]
        names = "|".join(g for g, flag in zip(genres, flags) if flag.strip() == "1")
        rows.append((fields[0], fields[1], fields[2], names))
    if not rows:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return pd.DataFrame(rows, columns=["item_id", "title", "release_date", "genres"])


# --------------------------------------------------------------------------------------------
# JSON lines (generic and Amazon reviews)
# --------------------------------------------------------------------------------------------


def _json_line_error(path: Path, err: json.JSONDecodeError, text: str,
                     number: int) -> EventLogError:
    hint = ""
    if text.lstrip().startswith("{'"):
        hint = (" (it looks like a Python dict literal, as in older Amazon dumps: convert each "
                "line with json.dumps(ast.literal_eval(line)))")
    return EventLogError(
        path,
        f"not valid JSON ({err.msg} at character {err.colno}); expected one JSON object per "
        f"line{hint}",
        line=number,
    )


def _first_object(path: Path, encoding: str) -> dict:
    for number, text in _iter_lines(path, encoding):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise _json_line_error(path, err, text, number) from err
        if not isinstance(value, dict):
            raise EventLogError(path, f"expected a JSON object per line, found "
                                      f"{type(value).__name__}", line=number)
        return value
    raise EventLogError(path, "the file is empty; expected at least one event")


def _arrow_type(value: object) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def _read_jsonl(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path = request.path
    first = _first_object(path, encoding)
    names = _resolve_columns(path, request.format, list(first), request.columns)
    wanted = list(dict.fromkeys(names.values()))
    table = None
    lines: np.ndarray | None = None
    if codecs.lookup(encoding).name == "utf-8":
        schema = pa.schema([(key, _arrow_type(first[key])) for key in wanted])
        try:
            table = pajson.read_json(
                path,
                parse_options=pajson.ParseOptions(explicit_schema=schema,
                                                  unexpected_field_behavior="ignore"),
            )
        except (pa.ArrowInvalid, OSError, *_GZIP_ERRORS):
            table = None  # mixed types, a bad line, a bad byte: the line-by-line path says which
    if table is None:
        table, lines = _read_json_lines(path, encoding, wanted)
    table = pa.table({canonical: table[source] for canonical, source in names.items()})

    def locate(row: int) -> dict[str, int]:
        if lines is not None:
            return {"line": int(lines[row])}
        return {"line": _line_of_row(path, row, 0)}

    event_map = _event_map(request, names)
    frame = _finish(table, _Where(path, names, locate), unit, event_map)
    items, items_path = None, None
    if request.format == "amazon-reviews" and request.items_path is None:
        meta = _amazon_meta_beside(path)
        if meta is not None:
            items = read_items(meta, item_column=names["item_id"], encoding=request.encoding)
            items_path = str(meta)
    return ReadResult(frame, names, event_map, items=items, items_path=items_path,
                      encoding=encoding, timestamp_unit=unit)


def _json_value(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _read_json_lines(path: Path, encoding: str, keys: list[str]) -> tuple[pa.Table, np.ndarray]:
    """The slow, exact path: one object per line; values become strings; lines are kept."""
    values: dict[str, list[str | None]] = {key: [] for key in keys}
    lines: list[int] = []
    for number, text in _iter_lines(path, encoding):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise _json_line_error(path, err, text, number) from err
        if not isinstance(obj, dict):
            raise EventLogError(path, f"expected a JSON object per line, found "
                                      f"{type(obj).__name__}", line=number)
        for key in keys:
            values[key].append(_json_value(obj.get(key)))
        lines.append(number)
    table = pa.table({key: pa.array(column, pa.string()) for key, column in values.items()})
    return table, np.asarray(lines, dtype=np.int64)


def _amazon_meta_beside(path: Path) -> Path | None:
    """``reviews_Beauty_5.json.gz`` -> ``meta_Beauty.json.gz`` (or ``.json``) when present."""
    name = re.sub(r"\.(jsonl|json|ndjson)(\.gz)?$", "", path.name, flags=re.IGNORECASE)
    category = re.sub(r"_5$", "", re.sub(r"^reviews_", "", name))
    for suffix in (".json.gz", ".json", ".jsonl.gz", ".jsonl"):
        candidate = path.with_name(f"meta_{category}{suffix}")
        if candidate.exists():
            return candidate
    return None


def _read_json_items(path: Path, encoding: str, item_column: str | None) -> pd.DataFrame:
    records = []
    amazon = None
    for number, text in _iter_lines(path, encoding):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise _json_line_error(path, err, text, number) from err
        if not isinstance(obj, dict):
            raise EventLogError(path, f"expected a JSON object per line, found "
                                      f"{type(obj).__name__}", line=number)
        if amazon is None:
            amazon = "asin" in obj and "item_id" not in obj and item_column in (None, "asin")
        records.append(_amazon_meta(obj) if amazon else obj)
    if not records:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return _key_items(pd.DataFrame.from_records(records), path, item_column)


def _amazon_meta(obj: dict) -> dict:
    """Amazon product metadata -> item_id, title, brand, categories (flat), price (float)."""
    raw = obj.get("categories", obj.get("category")) or []
    categories: list[str] = []
    for entry in raw:
        for name in entry if isinstance(entry, list) else [entry]:
            if isinstance(name, str) and name not in categories:
                categories.append(name)
    price = obj.get("price")
    if isinstance(price, str):
        try:
            price = float(price.strip().lstrip("$").replace(",", ""))
        except ValueError:
            price = None
    return {"asin": obj.get("asin"), "title": obj.get("title"), "brand": obj.get("brand"),
            "categories": categories, "price": float(price) if price is not None else np.nan}


# --------------------------------------------------------------------------------------------
# Order-only text formats: SASRec and S3-Rec
# --------------------------------------------------------------------------------------------


def _read_text(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    path, fmt = request.path, request.format
    _first_line(path, encoding)
    text = _decode_all(path, _read_bytes(path), encoding)
    users: list[str] = []
    items: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if fmt == "sasrec":
            if len(tokens) != 2:
                raise EventLogError(
                    path, f"expected 2 fields 'user item', found {len(tokens)}", line=number
                )
            users.append(tokens[0])
            items.append(tokens[1])
        else:
            if len(tokens) < 2:
                raise EventLogError(
                    path, "expected 'user item [item ...]', found only a user", line=number
                )
            users.extend([tokens[0]] * (len(tokens) - 1))
            items.extend(tokens[1:])
    # Order-only formats: the timestamp is the position in the file (ties impossible).
    frame = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "timestamp": np.arange(len(users), dtype=np.int64),
            "event_type": DEFAULT_EVENT_TYPE,
        }
    )
    result = ReadResult(frame, None, encoding=encoding, timestamp_unit=None)
    if fmt == "s3rec" and request.items_path is None:
        stem = path.name.split(".")[0]
        beside = path.with_name(f"{stem}_item2attributes.json")
        if beside.exists():
            result.items = read_items(beside, encoding=request.encoding)
            result.items_path = str(beside)
    return result


def _read_item2attributes(path: Path, encoding: str) -> pd.DataFrame:
    text = _decode_all(path, _read_bytes(path), encoding)
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as err:
        raise EventLogError(path, f"not valid JSON ({err.msg}); expected one JSON object "
                                  "mapping item ids to lists of attribute ids",
                            line=err.lineno) from err
    if not isinstance(mapping, dict):
        raise EventLogError(path, "expected one JSON object mapping item ids to lists of "
                                  f"attribute ids, found {type(mapping).__name__}")
    attributes = [[str(a) for a in (v if isinstance(v, list) else [v])] for v in mapping.values()]
    return pd.DataFrame({"item_id": [str(k) for k in mapping],
                         "attributes": pd.Series(attributes, dtype=object)})


# --------------------------------------------------------------------------------------------
# Generic item tables
# --------------------------------------------------------------------------------------------


def _read_table_items(path: Path, encoding: str, delimiter: str,
                      item_column: str | None) -> pd.DataFrame:
    first = _first_line(path, encoding).lstrip("\ufeff")
    header = [c.strip() for c in _split_csv(delimiter)(first)]
    keys = {item_column, "item_id", "asin", "itemid"}
    table = _arrow_csv(
        path, fields=header, delimiter=delimiter, encoding=encoding, header_lines=1,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header if c in keys}),
    )
    return _key_items(table.to_pandas(), path, item_column, first_line=2)


def _key_items(frame: pd.DataFrame, path: Path, item_column: str | None,
               first_line: int | None = None) -> pd.DataFrame:
    """Rename the item-id column to ``item_id`` (str) and put it first.

    A null id is named by its line (``first_line`` is the line of the first data row) or, when
    lines are unknown, by its 1-based row.
    """
    candidates = [c for c in (item_column, "item_id", "asin", "itemid") if c]
    key = next((c for c in candidates if c in frame.columns), None)
    if key is None:
        wanted = candidates[0]
        raise EventLogError(path, f"missing column '{wanted}' (for item_id); the table has "
                                  f"{list(frame.columns)}", column=wanted)
    frame = frame.rename(columns={key: "item_id"})
    null = frame["item_id"].isna().to_numpy()
    if null.any():
        row = int(np.flatnonzero(null)[0])
        location = {"line": row + first_line} if first_line else {"row": row + 1}
        raise EventLogError(path, "empty id; expected a non-empty value", column=key, **location)
    frame["item_id"] = frame["item_id"].astype(str)
    return frame[["item_id", *[c for c in frame.columns if c != "item_id"]]]


_READERS: dict[str, Callable[[ReadRequest, str, str], ReadResult]] = {
    "csv": _read_csv_like,
    "tsv": _read_csv_like,
    "parquet": _read_parquet,
    "jsonl": _read_jsonl,
    "sasrec": _read_text,
    "s3rec": _read_text,
    "recbole": _read_recbole,
    "movielens": _read_movielens,
    "amazon-reviews": _read_jsonl,
    "retailrocket": _read_csv_like,
    "taobao": _read_taobao,
}
