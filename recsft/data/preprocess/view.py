"""The machinery every cleaning step runs on: a selection of rows with cached integer codes,
time order with ties in file order, and step records.

Kernels do the work of a step on a :class:`_View`. Filtering kernels return ``(keep flags over
the view's rows, details for the step record)``; transforming kernels return ``(new frame, codes
carried over to it, details)``. :func:`_run_filter` and :func:`_run_transform` run one kernel as
a standalone step on an :class:`~recsft.data.events.EventLog`;
:func:`~recsft.data.preprocess.preprocess` chains kernels on one view and materialises the
frame once.

Example:
    >>> import pandas as pd
    >>> view = _View(pd.DataFrame({"user_id": ["a", "b", "a"], "timestamp": [3, 1, 2]}))
    >>> view.count("user_id")
    2
    >>> view.narrow(view.values("timestamp") > 1)
    >>> view.materialize()["user_id"].tolist()
    ['a', 'a']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import CANONICAL_COLUMNS, EventLog

_INT64_LIMIT = np.iinfo(np.int64).max


class _View:
    """Selected rows of a frame, with integer codes of its columns computed once.

    Filtering steps only narrow the selection; the frame is materialised once at the end of a
    chain of filters, and each column is factorised at most once for the whole chain. The
    selected rows are kept in the frame's order.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        carry: dict[str, tuple[np.ndarray, pd.Index]] | None = None,
    ) -> None:
        self.frame = frame
        self.rows: np.ndarray | None = None  # positions into frame; None = every row
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = dict(carry or {})

    def __len__(self) -> int:
        return len(self.frame) if self.rows is None else len(self.rows)

    def positions(self) -> np.ndarray:
        """Positions of the selected rows in the frame."""
        return np.arange(len(self.frame)) if self.rows is None else self.rows

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """Integer codes of the selected rows' values and the distinct values they index."""
        if column not in self._codes:
            codes, uniques = pd.factorize(self.frame[column])
            if len(uniques) < np.iinfo(np.int32).max:
                codes = codes.astype(np.int32)
            self._codes[column] = (codes, pd.Index(uniques))
        codes, uniques = self._codes[column]
        return (codes if self.rows is None else codes[self.rows]), uniques

    def values(self, column: str) -> np.ndarray:
        """The selected rows' values of a column as a numpy array."""
        values = self.frame[column].to_numpy()
        return values if self.rows is None else values[self.rows]

    def count(self, column: str) -> int:
        """Distinct values of a column among the selected rows."""
        codes, uniques = self.codes(column)
        if len(codes) == 0:
            return 0
        return int(np.count_nonzero(np.bincount(codes, minlength=len(uniques))))

    def narrow(self, keep: np.ndarray) -> None:
        """Keep only the selected rows where ``keep`` (one flag per selected row) is true."""
        if keep.all():
            return
        self.rows = np.flatnonzero(keep) if self.rows is None else self.rows[keep]

    def carry(self) -> dict[str, tuple[np.ndarray, pd.Index]]:
        """Codes of the selected rows, for a view of :meth:`materialize`'s frame."""
        return {column: self.codes(column) for column in self._codes}

    def materialize(self) -> pd.DataFrame:
        """The selected rows, every column, in the frame's order, with a fresh index."""
        frame = self.frame if self.rows is None else self.frame.iloc[self.rows]
        return frame.reset_index(drop=True)


def _combine(a: np.ndarray, size_a: int, b: np.ndarray, size_b: int) -> tuple[np.ndarray, int]:
    """One int64 code per row for the pair ``(a, b)`` of non-negative codes.

    Returns the combined codes and an upper bound of their values (exclusive).
    """
    if size_a == 0 or size_b == 0:
        return np.zeros(len(a), dtype=np.int64), 1
    if size_a > _INT64_LIMIT // size_b:
        a, uniques_a = pd.factorize(a)
        b, uniques_b = pd.factorize(b)
        size_a, size_b = len(uniques_a), len(uniques_b)
    return a.astype(np.int64) * size_b + b, size_a * size_b


def _time_order(user_codes: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Row positions ordered by user code, then time, then position (ties keep file order)."""
    if len(timestamps) == 0:
        return np.zeros(0, dtype=np.int64)
    t_min = int(timestamps.min())
    span = int(timestamps.max()) - t_min + 1
    users = int(user_codes.max()) + 1
    if users <= _INT64_LIMIT // span:  # one stable sort of a combined key
        key = user_codes.astype(np.int64) * span + (timestamps - t_min)
        return np.argsort(key, kind="stable")
    order = np.argsort(timestamps, kind="stable")
    return order[np.argsort(user_codes[order], kind="stable")]


def _record(
    name: str, params: dict[str, Any], events_before: int, view: _View, **details: Any
) -> dict[str, Any]:
    """The step record for a view after the step."""
    return {
        "name": name,
        "params": params,
        "events_before": int(events_before),
        "events_after": len(view),
        "users_after": view.count("user_id"),
        "items_after": view.count("item_id"),
        **details,
    }


_Filter = Callable[..., tuple[np.ndarray, dict]]

_Transform = Callable[..., tuple[pd.DataFrame, dict, dict]]


def _filter_step(
    view: _View, name: str, params: dict[str, Any], kernel: _Filter, *args: Any
) -> dict[str, Any]:
    """Run a filtering kernel on a view, narrow it, and return the step record."""
    before = len(view)
    keep, details = kernel(view, *args)
    view.narrow(keep)
    return _record(name, params, before, view, **details)


def _transform_step(
    view: _View, name: str, params: dict[str, Any], kernel: _Transform, *args: Any
) -> tuple[_View, dict[str, Any]]:
    """Run a transforming kernel; returns a view of the new frame and the step record."""
    before = len(view)
    frame, carry, details = kernel(view, *args)
    new_view = _View(frame, carry)
    return new_view, _record(name, params, before, new_view, **details)


def _finish(log: EventLog, frame: pd.DataFrame, records: list[dict]) -> EventLog:
    """A new log holding ``frame`` with ``records`` appended to the input's steps.

    ``EventLog`` keeps only the canonical columns; optional columns that the steps maintain
    (``weight``) are put back after construction.
    """
    out = EventLog(frame, source=log.source, items=log.items, steps=[*log.steps, *records])
    extra = [c for c in frame.columns if c not in CANONICAL_COLUMNS]
    if extra:
        out.frame = frame[[*CANONICAL_COLUMNS, *extra]]
    return out


def _run_filter(
    log: EventLog, name: str, params: dict[str, Any], kernel: _Filter, *args: Any
) -> EventLog:
    view = _View(log.frame)
    record = _filter_step(view, name, params, kernel, *args)
    return _finish(log, view.materialize(), [record])


def _run_transform(
    log: EventLog, name: str, params: dict[str, Any], kernel: _Transform, *args: Any
) -> EventLog:
    view, record = _transform_step(_View(log.frame), name, params, kernel, *args)
    return _finish(log, view.frame, [record])
