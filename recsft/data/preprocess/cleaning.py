"""Cleaning steps that remove events or whole users by a rule on each event: the time window,
the event types, exact duplicates and abnormal (bot-like) users.

Each step is a function ``EventLog -> EventLog`` that keeps the surviving rows in the input's
order and appends one record to ``steps`` (see :mod:`recsft.data.preprocess`).

Example:
    >>> from recsft.data.preprocess import to_unix_seconds
    >>> to_unix_seconds("2024-01-01T00:00:00+02:00")
    1704060000
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _combine, _run_filter, _time_order, _View


def to_unix_seconds(value: int | float | str | datetime | np.integer) -> int:
    """Convert a time given as unix seconds or an ISO-8601 date-time to unix seconds.

    Date-times without a time zone are read as UTC, as the readers do.

    Args:
        value: Unix seconds (``1704067200``, ``"1704067200"``) or a date-time
            (``"2024-01-01"``, ``"2024-01-01T00:00:00+02:00"``, a ``datetime``).

    Returns:
        Whole unix seconds (floored).

    Raises:
        ValueError: The value is neither a number nor a date-time.

    Example:
        >>> to_unix_seconds("2024-01-01")
        1704067200
    """
    if isinstance(value, bool):
        raise ValueError(f"cannot read {value!r} as a time; expected unix seconds or ISO-8601")
    if isinstance(value, (int, np.integer)):
        return int(value)
    number: float | None = None
    if isinstance(value, (float, np.floating)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is not None:
        if not np.isfinite(number):
            raise ValueError(f"cannot read {value!r} as a time; expected a finite number")
        return int(np.floor(number))
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"cannot read {value!r} as a time; expected unix seconds or an ISO-8601 date-time"
        ) from err
    if stamp is pd.NaT:
        raise ValueError(f"cannot read {value!r} as a time; expected a date-time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1))


def time_window(
    log: EventLog,
    start: int | str | datetime | None = None,
    end: int | str | datetime | None = None,
) -> EventLog:
    """Keep the events with ``start <= timestamp < end``.

    Args:
        log: The events.
        start: Inclusive lower bound, unix seconds or an ISO-8601 date-time (UTC when no zone
            is given); ``None`` for no lower bound.
        end: Exclusive upper bound, same forms; ``None`` for no upper bound.

    Returns:
        A new log. The step record's params hold the bounds as unix seconds.

    Raises:
        ValueError: A bound cannot be read, or ``end <= start``.

    Example:
        ``time_window(log, start="2024-01-01", end="2024-02-01")`` keeps January 2024 (UTC).
    """
    lo, hi = _window_bounds(start, end)
    return _run_filter(
        log, "time_window", {"start": lo, "end": hi}, _time_window_keep, lo, hi
    )


def _window_bounds(start: Any, end: Any) -> tuple[int | None, int | None]:
    lo = None if start is None else to_unix_seconds(start)
    hi = None if end is None else to_unix_seconds(end)
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"time_window: end ({hi}) must be after start ({lo})")
    return lo, hi


def _time_window_keep(view: _View, lo: int | None, hi: int | None) -> tuple[np.ndarray, dict]:
    times = view.values("timestamp")
    keep = np.ones(len(times), dtype=bool)
    if lo is not None:
        keep &= times >= lo
    if hi is not None:
        keep &= times < hi
    return keep, {}


def filter_event_types(log: EventLog, keep: Iterable[str]) -> EventLog:
    """Keep only the events whose ``event_type`` is in ``keep``.

    Args:
        log: The events.
        keep: Behaviour types to keep, e.g. ``["view", "buy"]``.

    Returns:
        A new log; the step record adds ``removed_by_type`` (type -> events removed).

    Raises:
        ValueError: ``keep`` is empty.
    """
    kept = _kept_types(keep)
    return _run_filter(log, "filter_event_types", {"keep": kept}, _event_types_keep, kept)


def _kept_types(keep: Iterable[str]) -> list[str]:
    if isinstance(keep, str):
        keep = [keep]
    kept = sorted({str(k) for k in keep})
    if not kept:
        raise ValueError("filter_event_types: keep at least one event type")
    return kept


def _event_types_keep(view: _View, kept: list[str]) -> tuple[np.ndarray, dict]:
    codes, uniques = view.codes("event_type")
    allowed = np.asarray(uniques.isin(kept), dtype=bool)
    keep = allowed[codes]
    removed = np.bincount(codes[~keep], minlength=len(uniques))
    by_type = {str(uniques[k]): int(removed[k]) for k in np.flatnonzero(removed)}
    return keep, {"removed_by_type": by_type}


def drop_duplicates(log: EventLog) -> EventLog:
    """Remove exact duplicate events: same user, item, timestamp and event type.

    The first occurrence in the file is kept, so no user or item disappears.

    Args:
        log: The events.

    Returns:
        A new log; the step record adds ``duplicates_removed``.
    """
    return _run_filter(log, "drop_duplicates", {}, _duplicates_keep)


def _duplicates_keep(view: _View) -> tuple[np.ndarray, dict]:
    # One int64 key per (user, item, event type, timestamp).
    users, user_uniques = view.codes("user_id")
    key, size = users.astype(np.int64), max(len(user_uniques), 1)
    for column in ("item_id", "event_type"):
        codes, uniques = view.codes(column)
        key, size = _combine(key, size, codes, len(uniques))
    times = view.values("timestamp")
    if len(times):
        t_min = int(times.min())
        key, size = _combine(key, size, times - t_min, int(times.max()) - t_min + 1)
    keep = ~pd.Series(key).duplicated(keep="first").to_numpy()
    return keep, {"duplicates_removed": int(len(keep) - np.count_nonzero(keep))}


def remove_abnormal_users(
    log: EventLog, max_events_per_minute: int, window_seconds: int = 60
) -> EventLog:
    """Drop users (bots, crawlers) who ever have more than N events within one minute.

    A user is abnormal when some half-open window ``[t, t + window_seconds)`` holds more than
    ``N = max_events_per_minute`` of their events; equivalently, when two of their events
    ``N`` apart in time order lie less than ``window_seconds`` apart. All their events are
    removed. Meaningless for order-only formats (the timestamp is the position in the file).

    Args:
        log: The events.
        max_events_per_minute: Most events allowed in any window (N >= 1).
        window_seconds: Window length; 60 by default.

    Returns:
        A new log; the step record adds ``users_removed``.

    Raises:
        ValueError: N < 1 or the window is not positive.
    """
    params = _abnormal_params(max_events_per_minute, window_seconds)
    return _run_filter(
        log, "remove_abnormal_users", params, _abnormal_keep, params["max_events_per_minute"],
        params["window_seconds"],
    )


def _abnormal_params(max_events_per_minute: int, window_seconds: int) -> dict[str, int]:
    if max_events_per_minute < 1:
        raise ValueError(
            f"remove_abnormal_users: max_events_per_minute must be >= 1, "
            f"got {max_events_per_minute}"
        )
    if window_seconds <= 0:
        raise ValueError(f"remove_abnormal_users: window_seconds must be > 0, got {window_seconds}")
    return {"max_events_per_minute": int(max_events_per_minute),
            "window_seconds": int(window_seconds)}


def _abnormal_keep(view: _View, n: int, window_seconds: int) -> tuple[np.ndarray, dict]:
    users, uniques = view.codes("user_id")
    times = view.values("timestamp")
    order = _time_order(users, times)
    sorted_users = users[order]
    sorted_times = times[order]
    burst = (sorted_users[n:] == sorted_users[:-n]) & (
        sorted_times[n:] - sorted_times[:-n] < window_seconds
    )
    abnormal = np.zeros(len(uniques), dtype=bool)
    abnormal[sorted_users[n:][burst]] = True
    return ~abnormal[users], {"users_removed": int(np.count_nonzero(abnormal))}
