"""Cleaning steps applied to an event log before splitting.

Every step is a function ``EventLog -> EventLog``. It never modifies its input; it returns a new
log whose ``steps`` list is the input's plus one record::

    {"name": "k_core", "params": {"user_k": 5, "item_k": 5},
     "events_before": 1000, "events_after": 712, "users_after": 80, "items_after": 41,
     ...step-specific counts, e.g. "iterations": 3}

All steps are vectorised (pandas / numpy, no Python loop over events). Row order: the surviving
rows keep the input's order (so later stable sorts keep breaking timestamp ties by file order),
except :func:`collapse_repeats`, which returns rows ordered by user id, then time, then file
position, as it always has. Wherever a step needs each user's events in time order, **ties in
timestamp keep the file's order** (a stable sort with the row position as the last key), as in
:meth:`recsft.data.events.EventLog.sequences`. This matters for logs whose order carries
information the timestamps do not (MovieLens ratings share a second; order-only formats such as
the SASRec text files use the position as the timestamp).

:func:`preprocess` applies the steps switched on in a :class:`PreprocessConfig` in this fixed
order (:data:`STEP_ORDER`):

1. :func:`time_window` — keep ``start <= timestamp < end``;
2. :func:`filter_event_types` — keep the listed behaviour types;
3. :func:`drop_duplicates` — remove exact duplicate events;
4. :func:`remove_abnormal_users` — drop users with bursts of more than N events a minute;
5. :func:`split_sessions` — one sequence per session (user ids become ``user#session``);
6. :func:`collapse_repeats` — consecutive events on one item become one event;
7. :func:`k_core` — iterative user / item k-core to a fixed point;
8. :func:`filter_sequence_length` — minimum / maximum events per user (drop or truncate);
9. :func:`weight_event_types` — a ``weight`` column from the event type.

Example:
    >>> from recsft.data.preprocess import PreprocessConfig, preprocess
    >>> config = PreprocessConfig(drop_duplicates=True, user_k=5, item_k=5)
    >>> clean = preprocess(log, config)
    >>> [step["name"] for step in clean.steps]
    ['drop_duplicates', 'k_core']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import CANONICAL_COLUMNS, EventLog

SESSION_SEPARATOR = "#"
"""Separator between the user id and the session index in :func:`split_sessions` ids."""

STEP_ORDER = (
    "time_window",
    "filter_event_types",
    "drop_duplicates",
    "remove_abnormal_users",
    "split_sessions",
    "collapse_repeats",
    "k_core",
    "filter_sequence_length",
    "weight_event_types",
)
"""The order in which :func:`preprocess` applies the steps it is asked for."""

_INT64_LIMIT = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Kernels: filters return (keep flags over the view's rows, details for the step record);
# transforms return (new frame, codes carried over to it, details).
# --------------------------------------------------------------------------------------------


def _time_window_keep(view: _View, lo: int | None, hi: int | None) -> tuple[np.ndarray, dict]:
    times = view.values("timestamp")
    keep = np.ones(len(times), dtype=bool)
    if lo is not None:
        keep &= times >= lo
    if hi is not None:
        keep &= times < hi
    return keep, {}


def _event_types_keep(view: _View, kept: list[str]) -> tuple[np.ndarray, dict]:
    codes, uniques = view.codes("event_type")
    allowed = np.asarray(uniques.isin(kept), dtype=bool)
    keep = allowed[codes]
    removed = np.bincount(codes[~keep], minlength=len(uniques))
    by_type = {str(uniques[k]): int(removed[k]) for k in np.flatnonzero(removed)}
    return keep, {"removed_by_type": by_type}


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


def _sessions(view: _View, gap_seconds: int) -> tuple[pd.DataFrame, dict, dict]:
    users, uniques = view.codes("user_id")
    times = view.values("timestamp")
    order = _time_order(users, times)
    sorted_users = users[order]
    user_start = np.ones(len(order), dtype=bool)
    user_start[1:] = sorted_users[1:] != sorted_users[:-1]
    new_session = user_start.copy()
    new_session[1:] |= np.diff(times[order]) > gap_seconds
    session_number = np.cumsum(new_session) - 1  # over all users, in sorted order
    first_session = np.zeros(len(uniques), dtype=np.int64)
    first_session[sorted_users[user_start]] = session_number[user_start]
    # One id string per session, then one take per row.
    owners = sorted_users[new_session]
    index_in_user = session_number[new_session] - first_session[owners]
    names = (
        pd.Series(uniques.take(owners), dtype=str).reset_index(drop=True)
        + SESSION_SEPARATOR
        + pd.Series(index_in_user).astype(str)
    )
    session_of_row = np.empty(len(order), dtype=np.int64)
    session_of_row[order] = session_number
    frame = view.materialize()
    frame = frame.assign(user_id=names.take(session_of_row).reset_index(drop=True))
    carry = {c: codes for c, codes in view.carry().items() if c != "user_id"}
    carry["user_id"] = (session_of_row, pd.Index(names))
    details = {
        "users_before": int(np.count_nonzero(user_start)),
        "sessions_after": len(names),
    }
    return frame, carry, details


def _weights(
    view: _View, table: dict[str, float], default: float | None
) -> tuple[pd.DataFrame, dict, dict]:
    codes, uniques = view.codes("event_type")
    per_type = np.array([table.get(str(t), np.nan) for t in uniques], dtype=np.float64)
    weight = per_type[codes]
    missing = np.isnan(weight)
    if missing.any():
        if default is None:
            unknown = sorted({str(uniques[c]) for c in np.unique(codes[missing])})
            raise ValueError(
                f"weight_event_types: no weight for event type(s) {unknown}; add them to "
                "weights or pass default="
            )
        weight[missing] = float(default)
    return view.materialize().assign(weight=weight), view.carry(), {}


def _transform_step(
    view: _View, name: str, params: dict[str, Any], kernel: _Transform, *args: Any
) -> tuple[_View, dict[str, Any]]:
    """Run a transforming kernel; returns a view of the new frame and the step record."""
    before = len(view)
    frame, carry, details = kernel(view, *args)
    new_view = _View(frame, carry)
    return new_view, _record(name, params, before, new_view, **details)


def _run_transform(
    log: EventLog, name: str, params: dict[str, Any], kernel: _Transform, *args: Any
) -> EventLog:
    view, record = _transform_step(_View(log.frame), name, params, kernel, *args)
    return _finish(log, view.frame, [record])


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


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
        >>> january = time_window(log, start="2024-01-01", end="2024-02-01")
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


def weight_event_types(
    log: EventLog, weights: Mapping[str, float], default: float | None = None
) -> EventLog:
    """Add a ``weight`` column (float64) from each event's type.

    Every step of this module keeps the column (:func:`collapse_repeats` takes the weight of
    the last event, like the type); constructing a new ``EventLog`` from the frame drops it
    (the event log keeps only the canonical columns).

    Args:
        log: The events.
        weights: Event type -> weight, e.g. ``{"view": 1.0, "cart": 2.0, "buy": 4.0}``.
        default: Weight of types missing from ``weights``; ``None`` makes a missing type an
            error.

    Returns:
        A new log with a ``weight`` column; no event is removed.

    Raises:
        ValueError: Some event type has no weight and no default was given.
    """
    table = {str(k): float(v) for k, v in weights.items()}
    return _run_transform(
        log, "weight_event_types", {"weights": table, "default": default}, _weights, table,
        default,
    )


def drop_duplicates(log: EventLog) -> EventLog:
    """Remove exact duplicate events: same user, item, timestamp and event type.

    The first occurrence in the file is kept, so no user or item disappears.

    Args:
        log: The events.

    Returns:
        A new log; the step record adds ``duplicates_removed``.
    """
    return _run_filter(log, "drop_duplicates", {}, _duplicates_keep)


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


def split_sessions(log: EventLog, gap_seconds: int) -> EventLog:
    """Cut each user's events into sessions at inactivity gaps; each session becomes a user.

    A new session starts when the time since the user's previous event is greater than
    ``gap_seconds``. The output's ``user_id`` is ``"<user_id>#<k>"``, ``k`` the 0-based index
    of the session in the user's time order (ties keep file order): ``"u7#0"``, ``"u7#1"``.
    The original user is the part before the last ``#`` (:func:`session_table` gives the
    mapping). Everything downstream (k-core, lengths, splits) then works on sessions. Rows
    keep their order.

    Args:
        log: The events.
        gap_seconds: Longest pause inside a session, in seconds (e.g. 1800).

    Returns:
        A new log; the step record adds ``users_before`` (real users) and ``sessions_after``
        (also its ``users_after``); its params hold ``gap_seconds`` and the ``separator``.

    Raises:
        ValueError: ``gap_seconds`` is negative.
    """
    return _run_transform(
        log, "split_sessions", _session_params(gap_seconds), _sessions, int(gap_seconds)
    )


def _session_params(gap_seconds: int) -> dict[str, Any]:
    if gap_seconds < 0:
        raise ValueError(f"split_sessions: gap_seconds must be >= 0, got {gap_seconds}")
    return {"gap_seconds": int(gap_seconds), "separator": SESSION_SEPARATOR}


def session_table(log: EventLog) -> pd.DataFrame:
    """The session -> user mapping of a log produced by :func:`split_sessions`.

    Args:
        log: A log whose user ids are ``"<user_id>#<k>"``.

    Returns:
        One row per session, in order of first appearance: ``session_id`` (the log's user id),
        ``user_id`` (the original user), ``session`` (``k``, int), ``start`` / ``end`` (first
        and last timestamp) and ``events``.

    Raises:
        ValueError: Some user id is not a session id.
    """
    grouped = log.frame.groupby("user_id", sort=False)["timestamp"].agg(["min", "max", "size"])
    parts = grouped.index.to_series().astype(str).str.rpartition(SESSION_SEPARATOR)
    if (parts[1] != SESSION_SEPARATOR).any() or not parts[2].str.isdigit().all():
        raise ValueError("session_table: user ids are not '<user>#<session>' session ids")
    return pd.DataFrame({
        "session_id": grouped.index.astype(str).to_numpy(),
        "user_id": parts[0].to_numpy(),
        "session": parts[2].astype(np.int64).to_numpy(),
        "start": grouped["min"].to_numpy(),
        "end": grouped["max"].to_numpy(),
        "events": grouped["size"].to_numpy(),
    })


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


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


@dataclass
class PreprocessConfig:
    """Which cleaning steps :func:`preprocess` applies; every step is off by default.

    Attributes:
        start: :func:`time_window` inclusive start (unix seconds or ISO-8601), or ``None``.
        end: :func:`time_window` exclusive end, or ``None``. The window step runs when either
            bound is set.
        keep_event_types: :func:`filter_event_types`: the behaviour types to keep, or ``None``
            to keep all.
        drop_duplicates: :func:`drop_duplicates`: remove exact duplicate events.
        max_events_per_minute: :func:`remove_abnormal_users`: drop users with a 60-second
            window holding more events than this; ``None`` = off.
        session_gap_seconds: :func:`split_sessions`: cut sessions at pauses longer than this
            and make each session a user ``"user#k"``; ``None`` = off.
        collapse_repeats: :func:`collapse_repeats`: consecutive events on one item become
            one event (first timestamp, last type).
        user_k: :func:`k_core`: minimum events per user; k-core runs when ``user_k`` or
            ``item_k`` is above 1.
        item_k: :func:`k_core`: minimum events per item.
        min_length: :func:`filter_sequence_length`: drop users with fewer events; ``None``.
        max_length: :func:`filter_sequence_length`: longest sequence; ``None`` = unbounded.
        truncate: With ``max_length``: keep the newest ``max_length`` events of longer users
            (``True``) or drop those users (``False``).
        event_weights: :func:`weight_event_types`: event type -> weight, stored in a
            ``weight`` column; ``None`` = no weights.
        default_weight: Weight of types missing from ``event_weights`` (``None``: an error).
    """

    start: int | str | None = None
    end: int | str | None = None
    keep_event_types: list[str] | None = None
    drop_duplicates: bool = False
    max_events_per_minute: int | None = None
    session_gap_seconds: int | None = None
    collapse_repeats: bool = False
    user_k: int = 0
    item_k: int = 0
    min_length: int | None = None
    max_length: int | None = None
    truncate: bool = True
    event_weights: dict[str, float] | None = None
    default_weight: float | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> PreprocessConfig:
        """Build from a mapping (a config file section); unknown keys are an error."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"unknown preprocessing option(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (for run records)."""
        return asdict(self)


def preprocess(log: EventLog, config: PreprocessConfig) -> EventLog:
    """Apply the steps ``config`` switches on, in the fixed order :data:`STEP_ORDER`.

    The order: time window → event-type filter → exact duplicates → abnormal users →
    sessions → collapse repeats → k-core → sequence length → event weights. Filters that
    define the data's scope come first; duplicates go before the burst detector so that double
    logging does not flag a user; abnormal users are judged on whole users before sessions;
    repeats are collapsed inside sessions; k-core runs on the final events; the length bounds
    come last so that the model's inputs respect them (dropping or truncating users after the
    k-core can leave an item below ``item_k``; ``user_k >= min_length`` makes the minimum
    redundant); weights last, on the final event types.

    Args:
        log: The events (not modified).
        config: The steps to apply.

    Returns:
        The cleaned log; ``steps`` gains one record per applied step, in order. With every
        step off, a new log holding the same events and steps.
    """
    c = config
    # Check every option before any work.
    window = _window_bounds(c.start, c.end) if c.start is not None or c.end is not None else None
    kept = _kept_types(c.keep_event_types) if c.keep_event_types is not None else None
    abnormal = (
        _abnormal_params(c.max_events_per_minute, 60)
        if c.max_events_per_minute is not None else None
    )
    sessions = (
        _session_params(c.session_gap_seconds) if c.session_gap_seconds is not None else None
    )
    core = _check_k(c.user_k, c.item_k) if c.user_k > 1 or c.item_k > 1 else None
    lengths = (
        _length_params(c.min_length, c.max_length, c.truncate)
        if c.min_length is not None or c.max_length is not None else None
    )
    weights = (
        {str(k): float(v) for k, v in c.event_weights.items()}
        if c.event_weights is not None else None
    )

    view = _View(log.frame)
    records: list[dict] = []
    if window is not None:
        records.append(_filter_step(
            view, "time_window", {"start": window[0], "end": window[1]}, _time_window_keep,
            *window,
        ))
    if kept is not None:
        records.append(_filter_step(
            view, "filter_event_types", {"keep": kept}, _event_types_keep, kept
        ))
    if c.drop_duplicates:
        records.append(_filter_step(view, "drop_duplicates", {}, _duplicates_keep))
    if abnormal is not None:
        records.append(_filter_step(
            view, "remove_abnormal_users", abnormal, _abnormal_keep,
            abnormal["max_events_per_minute"], abnormal["window_seconds"],
        ))
    if sessions is not None:
        view, record = _transform_step(
            view, "split_sessions", sessions, _sessions, sessions["gap_seconds"]
        )
        records.append(record)
    if c.collapse_repeats:
        view, record = _transform_step(view, "collapse_repeats", {}, _collapse)
        records.append(record)
    if core is not None:
        records.append(_filter_step(
            view, "k_core", {"user_k": core[0], "item_k": core[1]}, _k_core_keep, *core
        ))
    if lengths is not None:
        records.append(_filter_step(
            view, "filter_sequence_length", lengths, _length_keep, lengths["min_length"],
            lengths["max_length"], lengths["truncate"],
        ))
    if weights is not None:
        view, record = _transform_step(
            view, "weight_event_types", {"weights": weights, "default": c.default_weight},
            _weights, weights, c.default_weight,
        )
        records.append(record)
    return _finish(log, view.materialize(), records)
