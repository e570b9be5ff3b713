"""Item attribute tables, in every shape the formats bring (see :func:`read_items`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recsft.data.events import EventLogError
from recsft.data.readers.columns import key_items
from recsft.data.readers.delimited import arrow_csv, split_csv
from recsft.data.readers.jsonl import read_json_items
from recsft.data.readers.lines import base_name, check_encoding, first_line, require_input
from recsft.data.readers.movielens import read_ml1m_movies, read_ml100k_items
from recsft.data.readers.parquet import read_parquet_items
from recsft.data.readers.recbole import read_recbole_items
from recsft.data.readers.text import read_item2attributes


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
    Text files may be gzip-compressed. The first row of a repeated item id wins. Ids follow the
    rules of the event readers (whole floats read as integers; booleans, lists, objects and
    fractions refused).

    Args:
        path: The item table.
        item_column: The item-id column when it is not ``item_id`` (``asin`` and ``itemid``
            are also recognised).
        encoding: Text encoding; ``None`` for utf-8 (latin-1 for MovieLens).

    Returns:
        One row per item: ``item_id`` plus attribute columns.

    Raises:
        EventLogError: the table is missing, not a readable regular file, unreadable, or has no
            (or a repeated, or a bad) item-id column.

    Example:
        >>> items = read_items("Beauty_item2attributes.json")  # doctest: +SKIP
        >>> list(items.columns)  # doctest: +SKIP
        ['item_id', 'attributes']
    """
    path = Path(path)
    require_input(path)
    base = base_name(path)
    latin = base == "u.item" or base.endswith("movies.dat")
    enc = check_encoding(path, encoding or ("latin-1" if latin else "utf-8"))
    if "item2attributes" in base and base.endswith(".json"):
        items = read_item2attributes(path, enc)
    elif base == "u.item":
        items = read_ml100k_items(path, enc)
    elif base.endswith(".item"):
        items = read_recbole_items(path, enc, item_column)
    elif base.endswith("movies.dat"):
        items = read_ml1m_movies(path, enc)
    elif base.endswith((".csv", ".tsv")):
        items = read_table_items(path, enc, "\t" if base.endswith(".tsv") else ",", item_column)
    elif base.endswith(".parquet"):
        items = read_parquet_items(path, item_column)
    elif base.endswith((".jsonl", ".ndjson", ".json")):
        items = read_json_items(path, enc, item_column)
    else:
        raise EventLogError(
            path,
            "unknown item table kind; expected .csv, .tsv, .parquet, .jsonl/.json, .item, "
            "*item2attributes.json, movies.dat or u.item",
        )
    return items.drop_duplicates("item_id", keep="first").reset_index(drop=True)


def read_table_items(path: Path, encoding: str, delimiter: str,
                     item_column: str | None) -> pd.DataFrame:
    """A CSV / TSV item table with a header; the id column is read as text."""
    first = first_line(path, encoding).lstrip("\ufeff")
    header = [c.strip() for c in split_csv(delimiter)(first)]
    keys = {item_column, "item_id", "asin", "itemid"}
    table = arrow_csv(
        path, fields=header, delimiter=delimiter, encoding=encoding, header_lines=1,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header if c in keys}),
    )
    return key_items(table.to_pandas(), path, item_column, first_line=2)
