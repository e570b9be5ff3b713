"""Item popularity: the cold-start answer for a history the model cannot encode.

A run folder holds ``item_popularity.json``: ``{"item_id": training interactions, ...}`` for
every item of the tokenizer, written by training. :class:`Popularity` ranks items by that count
(ties by id order in the file) under the same exclusion and allow-list rules as an item index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping

import numpy as np

from recsft.errors import RunFolderError, shorten

__all__ = ["POPULARITY_FILE", "Popularity"]

POPULARITY_FILE = "item_popularity.json"


class Popularity:
    """Items ranked by training interactions.

    Args:
        counts: Item id → interaction count (non-negative, finite).

    Raises:
        ValueError: a count is negative or not a finite number (naming the item).
    """

    def __init__(self, counts: Mapping[str, float]) -> None:
        ids = list(counts)
        values = np.empty(len(ids), dtype=np.float64)
        for n, item in enumerate(ids):
            value = counts[item]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    np.isfinite(value) and value >= 0):
                raise ValueError(f"popularity of item {shorten(item)} must be a non-negative "
                                 f"number, got {shorten(value)}")
            values[n] = value
        order = np.argsort(-values, kind="stable")
        self._ranked = [ids[i] for i in order]
        self._counts = {ids[i]: float(values[i]) for i in order}
        self._source: str | None = None  # the file it was loaded from

    def __len__(self) -> int:
        return len(self._ranked)

    def count(self, item_id: str) -> float:
        """Training interactions of ``item_id`` (0 for an item it does not hold)."""
        return self._counts.get(item_id, 0.0)

    def top(self, k: int, exclude: Collection[str] = (),
            keep: Callable[[str], bool] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most popular items outside ``exclude`` for which ``keep`` holds.

        Returns:
            ``[(item_id, count), ...]``, most popular first; shorter than ``k`` when fewer
            items qualify.
        """
        excluded = set(exclude)
        result: list[tuple[str, float]] = []
        for item in self._ranked:
            if len(result) == k:
                break
            if item in excluded or (keep is not None and not keep(item)):
                continue
            result.append((item, self._counts[item]))
        return result

    @property
    def item_ids(self) -> tuple[str, ...]:
        """The items it holds, most popular first."""
        return tuple(self._ranked)

    def check_ids(self, expected_item_ids: Collection[str],
                  source: str | os.PathLike[str] | None = None) -> None:
        """Refuse a table that does not hold exactly the run's items.

        Args:
            expected_item_ids: The run's item ids (its tokenizer's items).
            source: The file named in the message (default: the file it was loaded from, else
                :data:`POPULARITY_FILE`).

        Raises:
            RunFolderError: an item is missing or extra (one named, shortened).
        """
        from recsft.retrieval.id_check import check_same_items

        check_same_items(self._ranked, expected_item_ids,
                         source or self._source or POPULARITY_FILE,
                         "the item popularity", "it was not written by this run's training")

    def save(self, directory: str | os.PathLike[str]) -> str:
        """Write ``item_popularity.json`` into ``directory`` (temporary file, then rename)."""
        from recsft.fileio import atomic_write_text

        path = os.path.join(os.fspath(directory), POPULARITY_FILE)
        atomic_write_text(path, json.dumps(self._counts))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Popularity | None:
        """Read ``item_popularity.json`` from ``directory``; ``None`` when there is none.

        Raises:
            RunFolderError: the file is not a JSON object of distinct item ids to finite,
                non-negative counts (one line naming the file and the item).
        """
        from recsft.fileio import read_json

        path = os.path.join(os.fspath(directory), POPULARITY_FILE)
        if not os.path.exists(path):
            return None
        try:
            counts = read_json(path, "item popularity", RunFolderError,
                               object_pairs_hook=_distinct_keys)
        except _RepeatedItem as repeat:
            raise RunFolderError(f"{path}: item {shorten(repeat.args[0])} appears twice; "
                                 f"expected one count per item") from None
        if not isinstance(counts, dict):
            raise RunFolderError(f"{path}: expected a JSON object of item id -> count, got "
                                 f"{type(counts).__name__}")
        try:
            popularity = cls(counts)
        except ValueError as err:
            raise RunFolderError(f"{path}: {err}") from None
        popularity._source = path
        return popularity


class _RepeatedItem(Exception):
    """A key repeated in a JSON object (``json`` would keep the last silently)."""


def _distinct_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``object_pairs_hook`` refusing repeated keys."""
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _RepeatedItem(key)
        result[key] = value
    return result
