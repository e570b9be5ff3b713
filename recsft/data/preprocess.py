"""Cleaning steps applied to an event log before splitting."""

from __future__ import annotations

import numpy as np

from recsft.data.events import EventLog


def collapse_repeats(log: EventLog) -> EventLog:
    """Collapse consecutive events of a user on the same item into one event.

    A view followed by a cart and a purchase of the same item becomes one event with the
    first event's timestamp and the last event's type (here "buy"), so the next-item task
    asks for the next *different* item. Order is by user, then time (ties keep file order).

    Args:
        log: The events.

    Returns:
        A new :class:`EventLog` with the repeats collapsed.
    """
    frame = log.frame
    order = np.lexsort((np.arange(len(frame)), frame["timestamp"].to_numpy(),
                        frame["user_id"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    users = frame["user_id"].to_numpy()
    items = frame["item_id"].to_numpy()
    starts = np.ones(len(frame), dtype=bool)
    starts[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    last_of_group = np.ones(len(frame), dtype=bool)
    last_of_group[:-1] = starts[1:]
    collapsed = frame[starts].reset_index(drop=True)
    collapsed["event_type"] = frame["event_type"].to_numpy()[last_of_group]
    steps = [*log.steps, {"name": "collapse_repeats", "params": {},
                          "events_before": len(frame), "events_after": len(collapsed)}]
    return EventLog(collapsed, source=log.source, items=log.items, steps=steps)
