"""Bounds on the number of events per user: drop short users, truncate or drop long ones.

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import filter_sequence_length
    >>> bounded = filter_sequence_length(log, min_length=2, max_length=2)
    >>> bounded.frame["timestamp"].tolist()  # a's newest two; b is too short
    [2, 9000]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _run_filter, _time_order, _View


def filter_sequence_length(
    log: EventLog,
    min_length: int | None = None,
    max_length: int | None = None,
    truncate: bool = True,
) -> EventLog:
    """Bound the number of events per user.

    Users with more than ``max_length`` events are cut to their newest ``max_length`` events
    (``truncate=True``; newest by time, ties by file order) or dropped (``truncate=False``).
    Then users with fewer than ``min_length`` events are dropped.

    Args:
        log: The events.
        min_length: Fewest events a user must have; ``None`` for no minimum.
        max_length: Most events a user may have; ``None`` for no maximum.
        truncate: Keep the newest ``max_length`` events of longer users instead of dropping
            them.

    Returns:
        A new log; the step record adds ``users_truncated``, ``users_dropped_long`` and
        ``users_dropped_short``.

    Raises:
        ValueError: A bound is below 1, or ``min_length > max_length``.

    Example:
        ``filter_sequence_length(log, min_length=3, max_length=200)`` keeps users with at
        least 3 events and cuts the others to their newest 200.
    """
    params = _length_params(min_length, max_length, truncate)
    return _run_filter(
        log, "filter_sequence_length", params, _length_keep, min_length, max_length,
        bool(truncate),
    )


def _length_params(
    min_length: int | None, max_length: int | None, truncate: bool
) -> dict[str, Any]:
    for name, value in (("min_length", min_length), ("max_length", max_length)):
        if value is not None and value < 1:
            raise ValueError(f"filter_sequence_length: {name} must be >= 1, got {value}")
    if min_length is not None and max_length is not None and min_length > max_length:
        raise ValueError(
            f"filter_sequence_length: min_length ({min_length}) > max_length ({max_length})"
        )
    return {"min_length": min_length, "max_length": max_length, "truncate": bool(truncate)}


def _length_keep(
    view: _View, min_length: int | None, max_length: int | None, truncate: bool
) -> tuple[np.ndarray, dict]:
    users, uniques = view.codes("user_id")
    lengths = np.bincount(users, minlength=len(uniques))
    keep = np.ones(len(users), dtype=bool)
    truncated = dropped_long = dropped_short = 0
    if max_length is not None:
        long_users = lengths > max_length
        if truncate:
            truncated = int(np.count_nonzero(long_users))
            if truncated:
                order = _time_order(users, view.values("timestamp"))
                sorted_users = users[order]
                # Rank of each event counted from its user's newest event (0 = newest).
                ends = np.cumsum(lengths)
                from_end = ends[sorted_users] - 1 - np.arange(len(order))
                keep[order[from_end >= max_length]] = False
                lengths = np.minimum(lengths, max_length)
        else:
            dropped_long = int(np.count_nonzero(long_users))
            keep &= ~long_users[users]
            lengths = np.where(long_users, 0, lengths)
    if min_length is not None:
        short = (lengths > 0) & (lengths < min_length)
        dropped_short = int(np.count_nonzero(short))
        keep &= ~short[users]
    return keep, {
        "users_truncated": truncated,
        "users_dropped_long": dropped_long,
        "users_dropped_short": dropped_short,
    }
