"""Delimited tables through pyarrow: CSV, TSV, RetailRocket and Taobao (and the tables of the
RecBole and MovieLens readers).

pyarrow parses the file in blocks; a row must fit in a block, so the block size bounds the
memory one row can take. The first pass uses half of
:data:`~recsft.data.readers.lines.MAX_LINE_BYTES`: a longer row makes pyarrow stop, a pass over
the lines then names the line over the limit, or (a row under the limit that straddled two
blocks) the file is parsed again with blocks as large as the limit.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recsft.data.events import EventLogError
from recsft.data.readers.columns import Where, finish
from recsft.data.readers.common import ReadRequest, ReadResult, event_map, resolve_columns
from recsft.data.readers.lines import (
    GZIP_ERRORS,
    arrow_encoding,
    check_line_lengths,
    clip,
    first_line,
    iter_lines,
    line_limit,
    line_of_row,
)

TAOBAO_LAYOUT = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]


def split_csv(delimiter: str) -> Callable[[str], list[str]]:
    def split(text: str) -> list[str]:
        return next(csv.reader([text], delimiter=delimiter), [])

    return split


def read_delimited(
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
) -> tuple[pa.Table, Where, dict[str, str]]:
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
    first = first_line(path, encoding).lstrip("\ufeff")
    header_lines = skip_rows if layout is not None else 1
    if layout is not None:
        available = layout
    else:
        header_split = split or (split_csv(delimiter) if quoting else
                                 (lambda s: s.split(delimiter)))
        available = [c.strip() for c in header_split(first)]
    names = resolve_columns(path, fmt, available, user_columns, line=1)
    wanted = list(dict.fromkeys([*names.values(), *extra]))
    table = arrow_csv(
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
        return {"line": line_of_row(path, row, header_lines)}

    return table, Where(path, names, locate), names


def arrow_csv(
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

    def run(threads: bool, handler: Callable[[Any], str] | None = None, *,
            block: int) -> pa.Table:
        read_options = pacsv.ReadOptions(
            column_names=column_names, skip_rows=header_lines if column_names else 0,
            encoding=arrow_encoding(encoding), block_size=block, use_threads=threads,
        )
        parse_options = pacsv.ParseOptions(delimiter=delimiter,
                                           quote_char='"' if quoting else False,
                                           invalid_row_handler=handler)
        source = pa.BufferReader(data) if data is not None else path
        return pacsv.read_csv(source, read_options, parse_options, convert_options)

    errors = (pa.ArrowInvalid, OSError, *GZIP_ERRORS)
    block = max(line_limit() // 2, 1)
    try:
        return run(threads=True, block=block)
    except errors as err:
        failure: BaseException = err
    if "straddl" in str(failure):  # a row longer than a block: over the limit, or unlucky
        check_line_lengths(path)
        block = line_limit() + 1
        try:
            return run(threads=True, block=block)
        except errors as err:
            failure = err
    split = split or (split_csv(delimiter) if quoting else (lambda s: s.split(delimiter)))
    raise diagnose(path, failure, partial(run, block=block), encoding, fields, split,
                   header_lines, file_delimiter or delimiter) from failure


def diagnose(path: Path, err: BaseException, run: Callable[..., pa.Table], encoding: str,
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
        except (pa.ArrowInvalid, OSError, *GZIP_ERRORS):
            pass
        if invalid and invalid[0].number is not None:
            # pyarrow numbers non-blank rows from 1, the header included.
            line = line_of_row(path, invalid[0].number - 1 - header_lines, header_lines)
            return ragged_error(path, fields, invalid[0].actual_columns, line)
    for number, text in iter_lines(path, encoding, fields, delimiter):
        if ragged and number > header_lines and text and len(split(text)) != len(fields):
            return ragged_error(path, fields, len(split(text)), number)
    return EventLogError(path, f"cannot parse the table ({clip(str(err))})")


def ragged_error(path: Path, fields: list[str], found: int, line: int) -> EventLogError:
    return EventLogError(
        path, f"expected {len(fields)} fields ({clip(', '.join(fields), 300)}), found {found}",
        line=line,
    )


def read_csv_like(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """CSV, TSV and RetailRocket: a header row, then one event per row."""
    path, fmt = request.path, request.format
    delimiter = "\t" if fmt == "tsv" else ","
    table, where, names = read_delimited(path, fmt=fmt, delimiter=delimiter, encoding=encoding,
                                         user_columns=request.columns)
    mapping = event_map(request, names)
    frame = finish(table, where, unit, mapping)
    return ReadResult(frame, names, mapping, encoding=encoding, timestamp_unit=unit)


def read_taobao(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """Taobao UserBehavior: headerless ``user,item,category,behavior,timestamp``; the
    category column becomes the item table."""
    path = request.path
    columns = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp",
               "event_type": "behavior_type"}
    table, where, names = read_delimited(path, fmt="taobao", delimiter=",", encoding=encoding,
                                         user_columns=columns, layout=list(TAOBAO_LAYOUT),
                                         extra=("category_id",))
    mapping = event_map(request, names)
    frame = finish(table, where, unit, mapping)
    items = pd.DataFrame({"item_id": frame["item_id"],
                          "category": table["category_id"].to_pandas()})
    items = items.drop_duplicates("item_id", keep="first").reset_index(drop=True)
    return ReadResult(frame, names, mapping, items=items, items_path=str(path),
                      encoding=encoding, timestamp_unit=unit)
