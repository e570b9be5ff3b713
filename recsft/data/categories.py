"""Item categories from an item table, as the fixed table the models' category embeddings read.

Item tables come in several shapes (see :func:`recsft.data.readers.read_items`): a single
``category`` string (the synthetic catalogue, Taobao), ``categories`` lists (Amazon metadata),
``genres`` joined by ``|`` (MovieLens), S3-Rec ``attributes`` lists, or RecBole's ``class``
(a ``token_seq`` field: space-separated). :func:`category_table`
turns any of them into a ``(vocab_size, max_item_categories)`` array of category ids aligned with
the tokenizer's token ids, with the category names beside it.

Example:
    >>> items = pd.DataFrame({"item_id": ["a", "b"], "genres": ["Drama|War", "Comedy"]})
    >>> table, names = category_table(items, ["[PAD]", "b", "a"], first_item_id=1)
    >>> table.tolist(), names
    ([[0, 0], [1, 0], [2, 3]], ['Comedy', 'Drama', 'War'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from recsft.data.config import DataConfig
    from recsft.data.events import EventLog

#: Columns looked for, in this order, when no category column is named.
CATEGORY_COLUMNS = ("category", "categories", "genres", "attributes", "class")
#: Columns whose string cells are space-separated lists (RecBole ``token_seq`` fields).
SPACE_SEPARATED = ("class",)


def category_column(items: pd.DataFrame, column: str | None = None) -> str:
    """The item-table column holding categories.

    Raises:
        ValueError: the named column is missing, or no known one is present.
    """
    if column is not None:
        if column not in items.columns:
            raise ValueError(f"the item table has no column '{column}' (data.category_column); "
                             f"its columns: {list(items.columns)}")
        return column
    for name in CATEGORY_COLUMNS:
        if name in items.columns:
            return name
    raise ValueError(f"the item table has none of the category columns {list(CATEGORY_COLUMNS)}; "
                     f"name one with data.category_column (its columns: {list(items.columns)})")


def cell_labels(value: Any, separator: str | None = "|") -> list[str]:
    """One cell's categories: a list/array, a ``separator``-separated string (``None``: any
    whitespace), or missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value if str(v)]
    return [part for part in str(value).split(separator) if part]


def item_labels(items: pd.DataFrame, column: str | None = None,
                max_item_categories: int | None = None) -> dict[str, list[str]]:
    """Each item's categories (the first ``max_item_categories``), by item id.

    Raises:
        ValueError: no category column (see :func:`category_column`).
    """
    name = category_column(items, column)
    separator = None if name in SPACE_SEPARATED else "|"
    return {str(item): cell_labels(value, separator)[:max_item_categories]
            for item, value in zip(items["item_id"], items[name])}


def category_table(
    items: pd.DataFrame,
    tokens: Sequence[str],
    first_item_id: int,
    column: str | None = None,
    max_item_categories: int = 4,
) -> tuple[np.ndarray, list[str]]:
    """Category ids per token, for :meth:`RecsftPreTrainedModel.set_item_categories`.

    Args:
        items: Item table with an ``item_id`` column.
        tokens: The tokenizer's tokens in id order (specials first).
        first_item_id: Id of the first item token; rows before it stay zero.
        column: Category column (default: see :func:`category_column`).
        max_item_categories: Categories kept per item, the first ones of its cell.

    Returns:
        ``(table, names)``: ``table`` is ``(len(tokens), width)`` int64 with ids ``1..len(names)``
        and 0 for "none" (``width`` is the most categories any item keeps, at least 1);
        ``names[i - 1]`` is the name of category id ``i``. Names are sorted.

    Raises:
        ValueError: no category column, or ``max_item_categories`` below 1.
    """
    if max_item_categories < 1:
        raise ValueError(f"max_item_categories must be at least 1, got {max_item_categories}")
    by_item = item_labels(items, column, max_item_categories)
    rows = [by_item.get(token, []) if i >= first_item_id else [] for i, token in enumerate(tokens)]
    names = sorted({label for row in rows for label in row})
    ids = {label: i + 1 for i, label in enumerate(names)}
    width = max((len(row) for row in rows), default=0) or 1
    table = np.zeros((len(tokens), width), dtype=np.int64)
    for r, row in enumerate(rows):
        table[r, : len(row)] = [ids[label] for label in row]
    return table, names


def log_categories(data: DataConfig, log: EventLog, tokens: Sequence[str],
                   first_item_id: int) -> tuple[np.ndarray, list[str]]:
    """The category table of an event log's item table, as a run's ``data`` section asks
    (``category_column``, ``max_item_categories``).

    Args:
        data: The run config's data section.
        log: The cleaned events with their item table.
        tokens: Every token of the vocabulary, special tokens first.
        first_item_id: Id of the first item token.

    Returns:
        ``(len(tokens), C)`` category ids per token and the category names (see
        :func:`category_table`).

    Raises:
        RecsftError: no item table, no category column, or no item with a category.
    """
    from recsft.errors import RecsftError

    if log.items is None:
        raise RecsftError(f"model.use_categories needs an item table with categories, and "
                          f"{log.source} has none (give one with the reader's items_path)")
    table, names = category_table(log.items, tokens, first_item_id,
                                  column=data.category_column,
                                  max_item_categories=data.max_item_categories)
    if not names:
        raise RecsftError(f"model.use_categories: no item of {log.source} has a category in "
                          "its item table")
    return table, names


def check_category_table(
    table: Any,
    vocab_size: int,
    num_categories: int,
    max_item_categories: int | None = None,
    first_item_id: int | None = None,
    source: str | os.PathLike = "category table",
) -> np.ndarray:
    """Check a category table read from a file (a model's ``model.safetensors``) before use.

    An id outside ``0..num_categories`` would make the category embedding fail at the first
    forward pass (a device-side assert on a GPU), a wrong shape would misalign items.

    Args:
        table: ``(vocab_size, max_item_categories)`` integer category ids (NumPy array or CPU
            tensor).
        vocab_size: Tokens of the vocabulary (rows expected).
        num_categories: Largest category id allowed (ids ``1..num_categories``, 0 for none).
        max_item_categories: Columns expected (any width ``>= 1`` when ``None``).
        first_item_id: When given, rows of the special tokens before it must be all 0.
        source: The file named in messages.

    Returns:
        The table as an int64 array.

    Raises:
        RecsftError: wrong dtype, shape or an id out of range (one line naming ``source``, the
            row and the id).
    """
    from recsft.errors import RecsftError

    array = np.asarray(table)
    where = f"{source}: category table"
    if array.dtype.kind not in "iu":
        raise RecsftError(f"{where} has dtype {array.dtype}, expected integer category ids")
    width = max_item_categories
    if array.ndim != 2 or array.shape[0] != vocab_size or array.shape[1] < 1 or (
            width is not None and array.shape[1] != width):
        expected = f"({vocab_size}, {width if width is not None else 'C >= 1'})"
        raise RecsftError(f"{where} has shape {tuple(array.shape)}, expected {expected}")
    array = array.astype(np.int64)
    outside = (array < 0) | (array > num_categories)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        raise RecsftError(f"{where} holds category id {int(array[row, column])} in row {row}, "
                          f"outside 0..{num_categories}")
    if first_item_id is not None and array[:first_item_id].any():
        row = int(np.flatnonzero(array[:first_item_id].any(axis=1))[0])
        raise RecsftError(f"{where} gives special token {row} categories; its row must be 0")
    return array


def read_category_names(path: str | os.PathLike, num_categories: int | None = None) -> list[str]:
    """Read ``categories.json`` (the names of category ids ``1..n``) and check it.

    Args:
        path: The file.
        num_categories: Names expected (the model's ``num_categories``), when known.

    Returns:
        ``names[i - 1]`` is the name of category id ``i``.

    Raises:
        RecsftError: unreadable, not a JSON list of distinct strings, or the wrong count (one
            line naming the file).
    """
    from recsft.errors import RecsftError, shorten
    from recsft.fileio import read_json

    names = read_json(path, "category names file")
    if not isinstance(names, list):
        raise RecsftError(f"{path}: expected a JSON list of category names, got "
                          f"{type(names).__name__}")
    for position, name in enumerate(names):
        if not isinstance(name, str):
            raise RecsftError(f"{path}: category name {position} is {shorten(name)}, expected "
                              f"a string")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise RecsftError(f"{path}: category name {shorten(name)} appears twice")
        seen.add(name)
    if num_categories is not None and len(names) != num_categories:
        raise RecsftError(f"{path}: lists {len(names)} category names, but the model has "
                          f"{num_categories} categories")
    return names
