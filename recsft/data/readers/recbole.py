"""RecBole atomic files: ``.inter`` events and ``.item`` tables, tab-separated, with a typed
header (``user_id:token  item_id:token  rating:float  timestamp:float``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recsft.data.events import EventLogError
from recsft.data.readers.columns import finish, key_items
from recsft.data.readers.common import ReadRequest, ReadResult, check_all_unique, event_map
from recsft.data.readers.delimited import arrow_csv, read_delimited
from recsft.data.readers.lines import first_line, is_gzip
from recsft.data.readers.recbole_seq import read_recbole_sequences


def typed_header(path: Path, encoding: str) -> tuple[list[str], list[str]]:
    """RecBole's ``name:type`` header -> (names, types)."""
    fields = first_line(path, encoding).split("\t")
    names = [f.rsplit(":", 1)[0].strip() for f in fields]
    types = [f.rsplit(":", 1)[1].strip() if ":" in f else "token" for f in fields]
    return names, types


def read_recbole(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """A ``.inter`` file; without a ``timestamp`` column the file order is the time.

    A sequential file (``user_id  item_id_list  item_id``, UniSRec-style) is read by
    :func:`~recsft.data.readers.recbole_seq.read_recbole_sequences`: each row's history and
    target become the user's events, with order-only timestamps.
    """
    path = request.path
    layout, _ = typed_header(path, encoding)
    if "item_id_list" in layout:
        if request.columns:
            raise EventLogError(path, "a column mapping does not apply to a sequential atomic "
                                      "file (user_id, item_id_list, item_id); expected none",
                                line=1)
        frame = read_recbole_sequences(path, layout, encoding)
        return ReadResult(frame, None, encoding=encoding, timestamp_unit=None)
    table, where, names = read_delimited(path, fmt="recbole", delimiter="\t", encoding=encoding,
                                         user_columns=request.columns, layout=layout,
                                         skip_rows=1, quoting=False)
    mapping = event_map(request, names)
    has_time = "timestamp" in names
    frame = finish(table, where, unit if has_time else None, mapping)
    return ReadResult(frame, names, mapping, encoding=encoding,
                      timestamp_unit=unit if has_time else None)


def recbole_items_beside(path: Path) -> Path | None:
    """``ml-100k.inter`` -> ``ml-100k.item`` (or ``.item.gz``) when present."""
    stem = path.name[: -len(".gz")] if is_gzip(path) else path.name
    if not stem.endswith(".inter"):
        return None
    for candidate in (stem[: -len(".inter")] + ".item", stem[: -len(".inter")] + ".item.gz"):
        beside = path.with_name(candidate)
        if beside.exists():
            return beside
    return None


def read_recbole_items(path: Path, encoding: str, item_column: str | None) -> pd.DataFrame:
    """A ``.item`` table; ``float`` columns become floats when every value parses."""
    names, types = typed_header(path, encoding)
    check_all_unique(path, names, line=1)
    table = arrow_csv(
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
    return key_items(frame, path, item_column)
