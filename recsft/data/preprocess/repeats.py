"""Collapsing repeats: consecutive events of a user on one item become one event.

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import collapse_repeats
    >>> collapsed = collapse_repeats(log)  # a's view and buy of x become one "buy" at t=1
    >>> collapsed.frame.values.tolist()
    [['a', 'x', 1, 'buy'], ['a', 'y', 9000, 'view'], ['b', 'y', 3, 'view']]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _run_transform, _time_order, _View


def collapse_repeats(log: EventLog) -> EventLog:
    """Collapse consecutive events of a user on the same item into one event.

    A view followed by a cart and a purchase of the same item becomes one event with the
    first event's timestamp and the last event's type (here "buy"), so the next-item task
    asks for the next *different* item. Consecutive means adjacent in the user's time order
    (ties keep file order). A ``weight`` column, if present, follows the event type (last
    event); other columns come from the first event.

    The output rows are ordered by user id, then time, then file position.

    Args:
        log: The events.

    Returns:
        A new :class:`EventLog` with the repeats collapsed.

    Example:
        ``u: a(view, t=1) a(cart, t=2) a(buy, t=3) b(view, t=4) a(view, t=5)`` becomes
        ``u: a(buy, t=1) b(view, t=4) a(view, t=5)``.
    """
    return _run_transform(log, "collapse_repeats", {}, _collapse)


def _collapse(view: _View) -> tuple[pd.DataFrame, dict, dict]:
    users, user_uniques = view.codes("user_id")
    items, item_uniques = view.codes("item_id")
    # Users in id order (the order collapse_repeats has always returned), then time, then
    # position.
    rank = np.empty(len(user_uniques), dtype=np.int64)
    rank[np.asarray(user_uniques.argsort())] = np.arange(len(user_uniques))
    order = _time_order(rank[users], view.values("timestamp"))
    sorted_users = users[order]
    sorted_items = items[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_users[1:] != sorted_users[:-1]) | (sorted_items[1:] != sorted_items[:-1])
    last_of_group = np.ones(len(order), dtype=bool)
    last_of_group[:-1] = starts[1:]
    positions = view.positions()[order]
    frame = view.frame
    collapsed = frame.iloc[positions[starts]].reset_index(drop=True)
    for column in ("event_type", "weight"):
        if column in frame.columns:
            last = frame[column].iloc[positions[last_of_group]]
            collapsed[column] = last.reset_index(drop=True)
    carry = {
        "user_id": (sorted_users[starts], user_uniques),
        "item_id": (sorted_items[starts], item_uniques),
    }
    return collapsed, carry, {}
