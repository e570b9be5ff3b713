"""Each item's text, built from an item table and a template over its columns.

A template is ``str.format``-style (``"{title}. {categories}. {brand}"``) or a bare column name
(``"title"``). A missing cell gives an empty string, a list cell its members joined by ``", "``;
the result is NFKC-normalised with runs of whitespace collapsed to one space.

Example:
    >>> items = pd.DataFrame({"item_id": ["a", "b"], "title": ["Ｇlue", "Tape"],
    ...                       "brand": ["Gorilla", None]})
    >>> item_texts(items, "{title}. {brand}")
    ['Glue. Gorilla', 'Tape.']
"""

from __future__ import annotations

import math
import os
import re
import string
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsft.errors import RecsftError

_SPACES = re.compile(r"\s+")


class ItemTextError(RecsftError):
    """A template that names a column the item table lacks, or is not a valid template."""


def read_item_table(path: str | os.PathLike, item_column: str | None = None,
                    encoding: str | None = None) -> pd.DataFrame:
    """Read an item table for item text, keyed by ``item_id`` (str).

    Every table :func:`recsft.data.readers.items.read_items` reads (CSV / TSV / Parquet / JSON
    lines, Amazon metadata, MovieLens ``u.item`` and ``movies.dat``, RecBole ``.item``), plus the
    RecBole-style ``.text`` files of the UniSRec / Amazon-Scientific releases (a typed header
    ``item_id:token<TAB>text:token_seq``, one item per line).

    Args:
        path: The item table.
        item_column: The item-id column when it is not ``item_id`` (or ``asin``, ``itemid``).
        encoding: Text encoding; ``None`` for the reader's default.

    Returns:
        One row per item: ``item_id`` plus the table's columns.

    Raises:
        EventLogError: (a :class:`RecsftError`) the table is missing, unreadable or has no
            item-id column.
    """
    from recsft.data.readers.items import read_items
    from recsft.data.readers.lines import base_name, check_encoding, require_input
    from recsft.data.readers.recbole import read_recbole_items

    path = Path(path)
    if base_name(path).endswith(".text"):
        require_input(path)
        enc = check_encoding(path, encoding or "utf-8")
        items = read_recbole_items(path, enc, item_column)
        return items.drop_duplicates("item_id", keep="first").reset_index(drop=True)
    return read_items(path, item_column=item_column, encoding=encoding)


def template_columns(template: str) -> list[str]:
    """The columns a template names (a bare column name names itself).

    Raises:
        ItemTextError: a malformed template (unbalanced braces) or a positional field ``{}``.
    """
    if "{" not in template and "}" not in template:
        return [template]
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ItemTextError(f"data.item_text {template!r} is not a valid template: {err}") \
            from None
    names = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ItemTextError(f"data.item_text {template!r}: every {{}} must name a column, "
                                f"e.g. {{title}}")
        if name not in names:
            names.append(name)
    return names


def cell_text(value: Any) -> str:
    """One cell as text: ``""`` for a missing value, a list's members joined by ``", "``."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(part for part in (cell_text(v) for v in value) if part)
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def normalise(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def item_texts(items: pd.DataFrame, template: str, source: str = "the item table") -> list[str]:
    """Each row's text, in the table's order.

    Args:
        items: An item table (:func:`read_item_table`).
        template: ``str.format``-style over its columns, or a bare column name.
        source: How messages name the table (its path).

    Returns:
        One normalised string per row (``len(items)``).

    Raises:
        ItemTextError: the template names a column the table lacks (one line naming the table,
            the column and the columns it has), or is malformed.
    """
    columns = template_columns(template)
    missing = [name for name in columns if name not in items.columns]
    if missing:
        raise ItemTextError(f"{source} has no column '{missing[0]}' (named by data.item_text "
                            f"{template!r}); its columns: {list(map(str, items.columns))}")
    bare = "{" not in template and "}" not in template
    cells = [[cell_text(v) for v in items[name].tolist()] for name in columns]
    texts = []
    for row in zip(*cells) if cells else [() for _ in range(len(items))]:
        values = dict(zip(columns, row))
        text = values[template] if bare else template.format_map(values)
        texts.append(normalise(text))
    return texts


def table_texts(path: str | os.PathLike, template: str, item_column: str | None = None,
                encoding: str | None = None) -> dict[str, str]:
    """Read an item table and build its texts: ``{item_id: text}`` in the table's order.

    Raises:
        RecsftError: the table cannot be read, or the template names a missing column.
    """
    items = read_item_table(path, item_column=item_column, encoding=encoding)
    texts = item_texts(items, template, source=str(path))
    return dict(zip(items["item_id"].astype(str).tolist(), texts))
