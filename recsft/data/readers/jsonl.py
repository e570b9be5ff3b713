"""JSON lines: generic event objects, Amazon reviews, and JSON-lines item tables (Amazon
product metadata is reduced to title, brand, categories and price).

pyarrow reads a clean UTF-8 file in one pass; anything it cannot take (mixed types, a bad line,
a bad byte, a line longer than its block) goes through the exact line-by-line path, which names
the line. Ids must be JSON strings or integers (or whole numbers such as ``2.0``, read as
``'2'``): booleans, lists, objects and fractions are errors naming the line and the key.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from recsft.data.events import EventLogError
from recsft.data.readers.columns import BadId, Where, finish, id_text, key_items
from recsft.data.readers.common import ReadRequest, ReadResult, event_map, resolve_columns
from recsft.data.readers.lines import GZIP_ERRORS, iter_lines, line_limit, line_of_row

_ID_COLUMNS = ("user_id", "item_id")


def json_line_error(path: Path, err: json.JSONDecodeError, text: str,
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


def json_objects(path: Path, encoding: str) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line; anything but an object is an
    error naming its line."""
    for number, text in iter_lines(path, encoding):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise json_line_error(path, err, text, number) from err
        if not isinstance(value, dict):
            raise EventLogError(path, f"expected a JSON object per line, found "
                                      f"{type(value).__name__}", line=number)
        yield number, value


def _arrow_type(value: object) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def read_jsonl(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """``jsonl`` and ``amazon-reviews``: one JSON object per line, keys as columns."""
    path = request.path
    objects = json_objects(path, encoding)
    first = next(objects, None)
    objects.close()
    if first is None:
        raise EventLogError(path, "the file is empty; expected at least one event")
    names = resolve_columns(path, request.format, list(first[1]), request.columns)
    wanted = list(dict.fromkeys(names.values()))
    table = None
    lines: np.ndarray | None = None
    if codecs.lookup(encoding).name == "utf-8":
        schema = pa.schema([(key, _arrow_type(first[1][key])) for key in wanted])
        try:
            # pyarrow fails on a line longer than two blocks: such a line goes to the exact path,
            # which refuses a line over the limit.
            block = min(1 << 20, max(line_limit() // 2, 1))
            table = pajson.read_json(
                path,
                read_options=pajson.ReadOptions(block_size=block),
                parse_options=pajson.ParseOptions(explicit_schema=schema,
                                                  unexpected_field_behavior="ignore"),
            )
        except (pa.ArrowInvalid, OSError, *GZIP_ERRORS):
            table = None  # mixed types, a bad line, a bad byte: the line-by-line path says which
    if table is None:
        id_keys = {names[c] for c in _ID_COLUMNS if c in names}
        table, lines = read_json_lines(path, encoding, wanted, id_keys)
    table = pa.table({canonical: table[source] for canonical, source in names.items()})

    def locate(row: int) -> dict[str, int]:
        if lines is not None:
            return {"line": int(lines[row])}
        return {"line": line_of_row(path, row, 0)}

    mapping = event_map(request, names)
    frame = finish(table, Where(path, names, locate), unit, mapping)
    return ReadResult(frame, names, mapping, encoding=encoding, timestamp_unit=unit)


def _json_value(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def read_json_lines(path: Path, encoding: str, keys: list[str],
                    id_keys: set[str]) -> tuple[pa.Table, np.ndarray]:
    """The slow, exact path: one object per line; values become strings; lines are kept.

    Args:
        path: The file.
        encoding: Text encoding.
        keys: The keys to read.
        id_keys: The keys holding ids (checked by :func:`~recsft.data.readers.columns.id_text`).

    Returns:
        The table (one string column per key) and the line of each row.
    """
    values: dict[str, list[str | None]] = {key: [] for key in keys}
    lines: list[int] = []
    for number, obj in json_objects(path, encoding):
        for key in keys:
            value = obj.get(key)
            if key in id_keys:
                try:
                    values[key].append(id_text(value))
                except BadId as err:
                    raise EventLogError(path, str(err), line=number, column=key) from None
            else:
                values[key].append(_json_value(value))
        lines.append(number)
    table = pa.table({key: pa.array(column, pa.string()) for key, column in values.items()})
    return table, np.asarray(lines, dtype=np.int64)


def amazon_meta_beside(path: Path) -> Path | None:
    """``reviews_Beauty_5.json.gz`` -> ``meta_Beauty.json.gz`` (or ``.json``) when present."""
    name = re.sub(r"\.(jsonl|json|ndjson)(\.gz)?$", "", path.name, flags=re.IGNORECASE)
    category = re.sub(r"_5$", "", re.sub(r"^reviews_", "", name))
    for suffix in (".json.gz", ".json", ".jsonl.gz", ".jsonl"):
        candidate = path.with_name(f"meta_{category}{suffix}")
        if candidate.exists():
            return candidate
    return None


def read_json_items(path: Path, encoding: str, item_column: str | None) -> pd.DataFrame:
    """A JSON-lines item table; Amazon metadata (``asin``) is reduced by :func:`amazon_meta`."""
    records = []
    amazon = None
    for _, obj in json_objects(path, encoding):
        if amazon is None:
            amazon = "asin" in obj and "item_id" not in obj and item_column in (None, "asin")
        records.append(amazon_meta(obj) if amazon else obj)
    if not records:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return key_items(pd.DataFrame.from_records(records), path, item_column)


def amazon_meta(obj: dict) -> dict:
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
