"""The iterative user / item k-core: the cleaning step that keeps dense users and items.

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import k_core
    >>> dense = k_core(log, user_k=2, item_k=2)
    >>> dense.frame["user_id"].tolist(), dense.steps[-1]["iterations"]
    (['a', 'a'], 3)
"""

from __future__ import annotations

import numpy as np

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _run_filter, _View


def k_core(log: EventLog, user_k: int = 5, item_k: int = 5) -> EventLog:
    """Iterative k-core: keep users with >= ``user_k`` events and items with >= ``item_k``.

    Counts are events (rows), not distinct partners. Removing sparse users can make items
    sparse and the reverse, so both filters repeat until nothing changes (a fixed point):
    afterwards every user has at least ``user_k`` events and every item at least ``item_k``.
    The result can be empty.

    Args:
        log: The events.
        user_k: Minimum events per user (``<= 1`` keeps every user).
        item_k: Minimum events per item (``<= 1`` keeps every item).

    Returns:
        A new log; the step record adds ``iterations`` (passes until the fixed point, the
        last one removing nothing), ``users_removed`` and ``items_removed``.

    Raises:
        ValueError: A threshold is negative.
    """
    user_k, item_k = _check_k(user_k, item_k)
    return _run_filter(
        log, "k_core", {"user_k": user_k, "item_k": item_k}, _k_core_keep, user_k, item_k
    )


def _check_k(user_k: int, item_k: int) -> tuple[int, int]:
    if user_k < 0 or item_k < 0:
        raise ValueError(f"k_core: user_k and item_k must be >= 0, got {user_k}, {item_k}")
    return int(user_k), int(item_k)


def _k_core_keep(view: _View, user_k: int, item_k: int) -> tuple[np.ndarray, dict]:
    users, user_uniques = view.codes("user_id")
    items, item_uniques = view.codes("item_id")
    user_counts = np.bincount(users, minlength=len(user_uniques))
    item_counts = np.bincount(items, minlength=len(item_uniques))
    users_before = int(np.count_nonzero(user_counts))
    items_before = int(np.count_nonzero(item_counts))
    alive = np.ones(len(users), dtype=bool)
    iterations = 0
    while True:
        iterations += 1
        bad_users = (user_counts > 0) & (user_counts < user_k)
        bad_items = (item_counts > 0) & (item_counts < item_k)
        if not (bad_users.any() or bad_items.any()):
            break
        drop = alive & (bad_users[users] | bad_items[items])
        alive &= ~drop
        user_counts -= np.bincount(users[drop], minlength=len(user_counts))
        item_counts -= np.bincount(items[drop], minlength=len(item_counts))
    return alive, {
        "iterations": iterations,
        "users_removed": users_before - int(np.count_nonzero(user_counts)),
        "items_removed": items_before - int(np.count_nonzero(item_counts)),
    }
