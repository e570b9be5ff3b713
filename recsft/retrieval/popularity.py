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
                raise ValueError(f"popularity of item {item!r} must be a non-negative number, "
                                 f"got {value!r}")
            values[n] = value
        order = np.argsort(-values, kind="stable")
        self._ranked = [ids[i] for i in order]
        self._counts = {ids[i]: float(values[i]) for i in order}

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

    def save(self, directory: str | os.PathLike[str]) -> str:
        """Write ``item_popularity.json`` into ``directory`` (temporary file, then rename)."""
        path = os.path.join(os.fspath(directory), POPULARITY_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(self._counts, handle)
        os.replace(path + ".tmp", path)
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Popularity | None:
        """Read ``item_popularity.json`` from ``directory``; ``None`` when there is none.

        Raises:
            ValueError: the file is not a JSON object of item id → count (naming the file).
        """
        path = os.path.join(os.fspath(directory), POPULARITY_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                counts = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read item popularity {path}: {err}") from err
        if not isinstance(counts, dict):
            raise ValueError(f"{path}: expected a JSON object of item id -> count")
        try:
            return cls(counts)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
