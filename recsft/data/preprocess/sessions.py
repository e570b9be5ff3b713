"""Sessions: each user's events cut at inactivity gaps, every session becoming a user
``"<user_id>#<k>"``, and the table that maps sessions back to users.

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import session_table, split_sessions
    >>> sessions = split_sessions(log, gap_seconds=1800)
    >>> sessions.frame["user_id"].tolist()
    ['a#0', 'a#0', 'a#1', 'b#0']
    >>> session_table(sessions)["user_id"].tolist()
    ['a', 'a', 'b']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _run_transform, _time_order, _View

SESSION_SEPARATOR = "#"
"""Separator between the user id and the session index in :func:`split_sessions` ids."""


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
