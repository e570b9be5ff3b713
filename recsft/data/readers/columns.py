"""Column-wise validation shared by all table readers: ids, timestamps and event types.

Columns are checked as whole Arrow arrays, never row by row; the first bad row is located
afterwards (a line for text, a row group and row for Parquet) through a :class:`Where`.

Ids become strings. Strings and integers are taken as they are; a float id column must hold
whole numbers below 2**53, which are read as integers (``2.0`` -> ``'2'``, the id a text file
spelling ``2`` gives); NaN, infinities, fractions, booleans, lists, objects and other types are
errors naming the file, the row or line and the column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recsft.data.events import DEFAULT_EVENT_TYPE, EventLogError
from recsft.data.readers.common import check_unique
from recsft.data.readers.lines import clip, names_text
from recsft.errors import shorten

#: Timestamps must lie in [1970-01-01, 2100-01-01) once converted to unix seconds.
MAX_TIMESTAMP = 4_102_444_800
#: Divisors from a timestamp unit to seconds.
TIMESTAMP_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
#: Float ids must be whole numbers smaller than this in magnitude (exact in a float64).
MAX_FLOAT_ID = 2.0**53

ID_RULE = "expected a string or an integer"
FLOAT_ID_RULE = ("expected a string, an integer or a whole number below 2**53 (a whole float "
                 "is read as an integer: 2.0 -> '2')")
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass
class Where:
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


def first_true(mask: pa.ChunkedArray | pa.Array) -> int | None:
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def scalar(column: pa.ChunkedArray, where: Where, canonical: str) -> pa.ChunkedArray:
    """The column with dictionaries decoded; a nested column (list, struct, map) is an error."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_nested(column.type):
        raise where.error(f"nested values of type {column.type}; expected one scalar value per "
                          "row", None, canonical)
    return column


def as_text(column: pa.ChunkedArray, where: Where, canonical: str) -> pa.ChunkedArray:
    """Cast to string; bytes that are not UTF-8 are an error naming the column."""
    if pa.types.is_string(column.type):
        return column
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise where.error(f"cannot read values of type {column.type} as text "
                          f"({clip(str(err))}); expected UTF-8 text", None, canonical) from err


def ids(column: pa.ChunkedArray, where: Where, canonical: str) -> pa.ChunkedArray:
    """Ids as strings (see the module docstring); a bad or empty id is an error naming its row."""
    column = scalar(column, where, canonical)
    kind = column.type
    if pa.types.is_floating(kind):
        column = _whole_floats(column, where, canonical)
    elif pa.types.is_boolean(kind):
        row = first_true(pc.is_valid(column))
        if row is not None:
            raise where.error(f"boolean id {json.dumps(column[row].as_py())}; {ID_RULE}", row,
                              canonical)
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
              or pa.types.is_integer(kind) or pa.types.is_binary(kind)
              or pa.types.is_large_binary(kind) or pa.types.is_null(kind)
              or (pa.types.is_decimal(kind) and kind.scale == 0)):
        raise where.error(f"ids of type {kind} are not supported; {ID_RULE}", None, canonical)
    column = as_text(column, where, canonical)
    bad = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
    row = first_true(bad)
    if row is not None:
        raise where.error("empty id; expected a non-empty value", row, canonical)
    return column


def _whole_floats(column: pa.ChunkedArray, where: Where, canonical: str) -> pa.ChunkedArray:
    """Whole floats -> int64 (nulls stay null); NaN, infinities, fractions and huge values are
    errors."""
    values = column.cast(pa.float64())
    good = pc.and_(pc.equal(pc.floor(values), values),  # false for NaN
                   pc.less(pc.abs(values), MAX_FLOAT_ID))  # false for NaN and infinities
    row = first_true(pc.invert(pc.fill_null(good, True)))
    if row is not None:
        raise where.error(float_id_problem(values[row].as_py()), row, canonical)
    return values.cast(pa.int64())


def float_id_problem(value: float) -> str:
    """The message for a float id that is not a whole number below 2**53."""
    if math.isfinite(value) and value == math.floor(value):
        return f"float id {value!r} is too large to be exact; {FLOAT_ID_RULE}"
    return f"float id {value!r} is not a whole number; {FLOAT_ID_RULE}"


class BadId(Exception):
    """A Python id value that is not a string or an integer (the message says which)."""


def id_text(value: object) -> str | None:
    """One id from JSON or a pandas object column as a string (``None`` stays ``None``).

    Raises:
        BadId: a boolean, a list, an object, or a float that is not a whole number below 2**53.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise BadId(f"boolean id {json.dumps(bool(value))}; {ID_RULE}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not (math.isfinite(number) and number == math.floor(number)
                and abs(number) < MAX_FLOAT_ID):
            raise BadId(float_id_problem(number))
        return str(int(number))
    if isinstance(value, (list, tuple, np.ndarray)):
        raise BadId(f"list id {_show(value)}; {ID_RULE}")
    if isinstance(value, dict):
        raise BadId(f"object id {_show(value)}; {ID_RULE}")
    return str(value)


def _show(value: object) -> str:
    try:
        return clip(json.dumps(value, default=str), 80)
    except (TypeError, ValueError):
        return shorten(value)


def timestamps(column: pa.ChunkedArray, unit: str, where: Where) -> np.ndarray:
    """Unix seconds (int64) from numbers in ``unit``, ISO-8601 strings or Arrow timestamps."""
    column = scalar(column, where, "timestamp")
    kind = column.type
    divisor = TIMESTAMP_UNITS[unit]
    null = first_true(pc.is_null(column))
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
    return f"cannot parse timestamp {shorten(value)}; expected {units} or an ISO-8601 date-time"


def _out_of_range(value: object, seconds: float, unit: str) -> str:
    units = "unix seconds" if unit == "s" else f"unix time in {unit}"
    message = (f"timestamp {shorten(value)} is out of range; expected {units} between "
               "1970-01-01 and 2100-01-01")
    if unit == "s" and 1e11 <= seconds < MAX_TIMESTAMP * 1000:  # 1973 to 2100 in ms
        message += " (it looks like milliseconds: pass timestamp_unit='ms')"
    return message


def _float_seconds(values: np.ndarray, divisor: int, column: pa.ChunkedArray, unit: str,
                   where: Where) -> np.ndarray:
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
                    where: Where) -> np.ndarray:
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
    column = pc.if_else(numeric, pc.utf8_trim_whitespace(column), column)  # " 7" is 7
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
                      where: Where) -> np.ndarray:
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


def event_types(column: pa.ChunkedArray, event_map: Mapping[str, str] | None,
                where: Where) -> pa.ChunkedArray:
    """Event types as strings, mapped through ``event_map`` (every source value must be in it)."""
    column = as_text(scalar(column, where, "event_type"), where, "event_type")
    if event_map is None:
        return pc.fill_null(column, DEFAULT_EVENT_TYPE)
    keys = pa.array([str(k) for k in event_map], pa.string())
    index = pc.index_in(column, value_set=keys)
    row = first_true(pc.is_null(index))
    if row is not None:
        value = column[row].as_py()
        expected = f"expected one of {sorted(event_map)} (the event_map)"
        if value is None or not value.strip():
            raise where.error(f"empty event type; {expected}", row, "event_type")
        raise where.error(f"unknown event type {shorten(value)}; {expected}", row,
                          "event_type")
    targets = pa.array([str(v) for v in event_map.values()], pa.string())
    return pa.chunked_array([targets.take(chunk) for chunk in index.chunks], pa.string())


def finish(table: pa.Table, where: Where, unit: str | None,
           event_map: Mapping[str, str] | None) -> pd.DataFrame:
    """Validate a table whose columns carry canonical names; return the canonical frame."""
    if table.num_rows == 0:
        raise EventLogError(where.path, where.empty)
    return canonical_arrow(table, where, unit, event_map).to_pandas()


def canonical_arrow(table: pa.Table, where: Where, unit: str | None,
                    event_map: Mapping[str, str] | None) -> pa.Table:
    """Validate a table (or a batch of one) whose columns carry canonical names.

    Returns:
        The canonical Arrow table: ``user_id``, ``item_id`` (strings), ``timestamp`` (int64
        unix seconds; the position in the table when there is no timestamp or ``unit`` is
        ``None``), ``event_type``, and ``query`` when present.
    """
    users = ids(table["user_id"], where, "user_id")
    items = ids(table["item_id"], where, "item_id")
    if "timestamp" in table.column_names and unit is not None:
        times = timestamps(table["timestamp"], unit, where)
    else:  # order-only: the position in the file
        times = np.arange(table.num_rows, dtype=np.int64)
    if "event_type" in table.column_names:
        types = event_types(table["event_type"], event_map, where)
    elif event_map is not None:
        raise EventLogError(where.path, "an event_map was given but the file has no event-type "
                                        "column; expected columns={'event_type': ...}")
    else:
        types = pc.fill_null(pa.nulls(table.num_rows, pa.string()), DEFAULT_EVENT_TYPE)
    columns = {"user_id": users, "item_id": items, "timestamp": pa.array(times),
               "event_type": types}
    if "query" in table.column_names:  # search events' text; empty means "not a search"
        query = pc.cast(table["query"], pa.string())
        columns["query"] = pc.if_else(pc.equal(query, ""), pa.scalar(None, pa.string()), query)
    return pa.table(columns)


def key_items(frame: pd.DataFrame, path: Path, item_column: str | None,
              first_line: int | None = None) -> pd.DataFrame:
    """Rename the item-id column to ``item_id`` (str, by the rules of :func:`id_text`) and put
    it first.

    A bad id is named by its line (``first_line`` is the line of the first data row) or, when
    lines are unknown, by its 1-based row.
    """
    candidates = [c for c in (item_column, "item_id", "asin", "itemid") if c]
    key = next((c for c in candidates if c in frame.columns), None)
    if key is None:
        wanted = candidates[0]
        raise EventLogError(path, f"missing column '{wanted}' (for item_id); the table has "
                                  f"{names_text([str(c) for c in frame.columns])}",
                            column=wanted)
    header = {"line": 1} if first_line else {}
    check_unique(path, [str(c) for c in frame.columns], key, "table", **header)
    frame = frame.rename(columns={key: "item_id"})

    def fail(message: str, row: int) -> EventLogError:
        location = {"line": row + first_line} if first_line else {"row": row + 1}
        return EventLogError(path, message, column=key, **location)

    column = frame["item_id"]
    null = column.isna().to_numpy()
    if null.any():
        raise fail("empty id; expected a non-empty value", int(np.flatnonzero(null)[0]))
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64)
        bad = ~((np.floor(values) == values) & (np.abs(values) < MAX_FLOAT_ID))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise fail(float_id_problem(float(values[row])), row)
        frame["item_id"] = column.astype(np.int64).astype(str)
    elif column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) != "string":
        texts = []
        for row, value in enumerate(column.tolist()):
            try:
                texts.append(id_text(value))
            except BadId as err:
                raise fail(str(err), row) from None
        frame["item_id"] = texts
    elif pd.api.types.is_bool_dtype(column.dtype):
        raise fail(f"boolean id {json.dumps(bool(column.iloc[0]))}; {ID_RULE}", 0)
    else:
        frame["item_id"] = column.astype(str)
    return frame[["item_id", *[c for c in frame.columns if c != "item_id"]]]
