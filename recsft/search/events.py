"""Search events: a query, the user's history before it, and the items it led to.

A :class:`SearchEvents` holds parallel lists, one entry per search. :func:`search_events`
extracts them from an event log with the optional ``query`` column
(:data:`recsft.data.events.OPTIONAL_COLUMNS`); :mod:`recsft.search.constructions` builds them
for the Amazon product-search setup and :mod:`recsft.search.jdsearch` reads JDsearch files.

Extraction rules (:func:`search_events`):

- A *search* is a row whose ``query`` is non-empty (after stripping). Every other row is
  *behaviour* (view / click / cart / fav / buy / ...).
- Each user's rows are put in time order, ties in file order (as
  :meth:`recsft.data.events.EventLog.sequences` does), and cut into sessions where the pause
  since the previous row is longer than ``session_gap`` seconds (the rule of
  :func:`recsft.data.preprocess.split_sessions`).
- The *targets* of a search are its own ``item_id`` (the item it led to, as in the synthetic
  shop; skipped when empty) followed by the items of the behaviour rows after it in the same
  session, up to the next search; each item once, first occurrence first.
- The *history* is the item ids of the user's behaviour rows before the search (search rows
  are not behaviour), oldest first, at most the newest ``max_length``, with their event types.
- A search without targets is dropped (counted in ``metadata``).

Split (:func:`leave_last_out`), in recsft's leave-one-out spirit
(:func:`recsft.data.split.leave_one_out`): for each user with at least ``min_searches``
searches, the last search is ``"test"``, the one before ``"valid"`` and the rest ``"train"``;
users with fewer searches are training data only. So a re-ranker trained on ``"train"`` never
sees a valid/test search's targets as labels, and every train search of a user happens before
that user's valid and test searches. As in leave-one-out, a test search's *history* does hold
the user's earlier behaviour (including the valid search's clicks): that is the input a live
system would have.

Example:
    >>> import pandas as pd
    >>> from recsft.data.events import EventLog
    >>> log = EventLog(pd.DataFrame({
    ...     "user_id": ["u"] * 4, "item_id": ["a", "b", "b", "c"], "timestamp": [0, 5, 6, 9],
    ...     "event_type": ["view", "search", "view", "buy"],
    ...     "query": [None, "blue mug", None, None]}))
    >>> events = search_events(log, min_searches=1)
    >>> events.queries, events.histories, events.targets, events.splits
    (['blue mug'], [['a']], [['b', 'c']], ['test'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import EventLog, EventLogError
from recsft.errors import RecsftError

SPLITS = ("train", "valid", "test")
#: Default longest pause inside a session (seconds), as in the contrastive task's sessions.
DEFAULT_SESSION_GAP = 1800
#: Default number of history items kept (the newest), as recsft's sequence models use.
DEFAULT_MAX_LENGTH = 50


@dataclass
class SearchEvents:
    """Search events as parallel lists, ``n`` entries each, grouped by user, in time order.

    Attributes:
        user_ids: Who searched, ``(n,)``.
        queries: The query text, ``(n,)`` (JDsearch: term ids joined by spaces).
        timestamps: When, int64 ``(n,)`` (the log's unit; order-only data: the position).
        histories: ``histories[i]`` the user's items before search ``i``, oldest first, at
            most ``max_length``.
        history_event_types: Parallel event types of the histories.
        targets: ``targets[i]`` the items search ``i`` led to (clicked / carted / bought),
            each once, non-empty.
        splits: ``"train"``, ``"valid"`` or ``"test"`` per search.
        candidates: Optional displayed candidates per search (JDsearch); empty when unknown.
        candidate_labels: Parallel labels of the candidates (JDsearch: 0 none, 1 click,
            2 cart, 3 purchase).
        metadata: How the events were made: source, parameters, counts.
    """

    user_ids: list[str]
    queries: list[str]
    timestamps: np.ndarray
    histories: list[list[str]]
    history_event_types: list[list[str]]
    targets: list[list[str]]
    splits: list[str]
    candidates: list[list[str]] = field(default_factory=list)
    candidate_labels: list[list[float]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.int64).reshape(-1)
        n = len(self.user_ids)
        lengths = {name: len(getattr(self, name)) for name in (
            "queries", "timestamps", "histories", "history_event_types", "targets", "splits")}
        if self.candidates or self.candidate_labels:
            lengths |= {"candidates": len(self.candidates),
                        "candidate_labels": len(self.candidate_labels)}
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise RecsftError(f"SearchEvents: {n} user_ids but field lengths {wrong}")
        unknown = sorted(set(self.splits) - set(SPLITS))
        if unknown:
            raise RecsftError(f"SearchEvents: split labels {unknown}; expected {list(SPLITS)}")

    def __len__(self) -> int:
        return len(self.user_ids)

    def select(self, split: str) -> SearchEvents:
        """The events of one split (``"train"``, ``"valid"`` or ``"test"``), order kept."""
        if split not in SPLITS:
            raise RecsftError(f"SearchEvents.select: split {split!r}; expected one of {SPLITS}")
        return self.take([i for i, s in enumerate(self.splits) if s == split])

    def take(self, rows: Sequence[int]) -> SearchEvents:
        """The events of ``rows`` (indices, in the order given)."""
        keep = list(rows)

        def pick(values: Sequence) -> list:
            return [values[i] for i in keep]

        return SearchEvents(
            pick(self.user_ids), pick(self.queries), self.timestamps[keep],
            pick(self.histories), pick(self.history_event_types), pick(self.targets),
            pick(self.splits),
            pick(self.candidates) if self.candidates else [],
            pick(self.candidate_labels) if self.candidate_labels else [],
            dict(self.metadata))

    def counts(self) -> dict[str, dict[str, float]]:
        """Per split: ``searches``, ``users`` and ``mean_targets`` (targets per search)."""
        out = {}
        for split in SPLITS:
            rows = [i for i, s in enumerate(self.splits) if s == split]
            sizes = [len(self.targets[i]) for i in rows]
            out[split] = {"searches": len(rows),
                          "users": len({self.user_ids[i] for i in rows}),
                          "mean_targets": float(np.mean(sizes)) if sizes else 0.0}
        return out


def leave_last_out(user_ids: Sequence[str], min_searches: int = 3) -> list[str]:
    """Split labels: per user, the last search ``"test"``, the one before ``"valid"``.

    Args:
        user_ids: The user of each search, ``(n,)``, each user's searches in time order (a
            user's searches need not be adjacent).
        min_searches: Users with fewer searches are ``"train"`` only. At least 1 (a user
            with a single search then gives a test search and no valid one).

    Returns:
        ``(n,)`` labels.

    Example:
        >>> leave_last_out(["a", "a", "a", "b", "b"], min_searches=2)
        ['train', 'valid', 'test', 'valid', 'test']
    """
    if min_searches < 1:
        raise RecsftError(f"leave_last_out: min_searches must be >= 1, got {min_searches}")
    positions: dict[str, list[int]] = {}
    for i, user in enumerate(user_ids):
        positions.setdefault(user, []).append(i)
    labels = ["train"] * len(user_ids)
    for rows in positions.values():
        if len(rows) >= min_searches:
            labels[rows[-1]] = "test"
            if len(rows) >= 2:
                labels[rows[-2]] = "valid"
    return labels


def _check_args(max_length: int, session_gap: float | None = None) -> None:
    if max_length < 1:
        raise RecsftError(f"max_length must be >= 1, got {max_length}")
    if session_gap is not None and session_gap < 0:
        raise RecsftError(f"session_gap must be >= 0 seconds, got {session_gap}")


def _query_mask(frame: pd.DataFrame) -> np.ndarray:
    query = frame["query"]
    text = query.where(query.notna(), "").astype(str).str.strip()
    return (text != "").to_numpy()


def search_events(log: EventLog, session_gap: float = DEFAULT_SESSION_GAP,
                  max_length: int = DEFAULT_MAX_LENGTH, min_searches: int = 3) -> SearchEvents:
    """Extract the search events of a log with a ``query`` column (rules: module docstring).

    Args:
        log: The events; its frame must have a ``query`` column.
        session_gap: Longest pause inside a session, in seconds (default 1800, as recsft's
            session tasks). The synthetic shop's sessions are at least 30 minutes apart.
        max_length: History items kept per search (the newest).
        min_searches: Users with fewer searches (with targets) are training data only
            (:func:`leave_last_out`).

    Returns:
        The searches, grouped by user in order of first appearance, each user's in time order.

    Raises:
        EventLogError: The log has no ``query`` column, or no search row.
        RecsftError: ``max_length`` < 1, ``session_gap`` < 0 or ``min_searches`` < 1.
    """
    _check_args(max_length, session_gap)
    frame = log.frame
    if "query" not in frame.columns:
        raise EventLogError(log.source, "no search queries; expected a 'query' column "
                            "(non-empty on search rows)", column="query")
    is_search = _query_mask(frame)
    if not is_search.any():
        raise EventLogError(log.source, "no search row; expected a non-empty query on at "
                            "least one row", column="query")
    users, uniques = pd.factorize(frame["user_id"], sort=False)
    times = frame["timestamp"].to_numpy(dtype=np.int64)
    order = np.lexsort((np.arange(len(frame)), times, users))
    users, times, is_search = users[order], times[order], is_search[order]
    items = frame["item_id"].to_numpy(dtype=object)[order]
    kinds = frame["event_type"].to_numpy(dtype=object)[order]
    queries = frame["query"].to_numpy(dtype=object)[order]
    new_session = np.ones(len(order), dtype=bool)
    new_session[1:] = (users[1:] != users[:-1]) | (np.diff(times) > session_gap)
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])

    out: dict[str, list] = {k: [] for k in ("user", "query", "time", "hist", "kinds", "targets")}
    no_target = 0
    for start, end in zip(bounds[:-1], bounds[1:]):
        history: list[str] = []
        history_kinds: list[str] = []
        for i in range(start, end):
            if not is_search[i]:
                history.append(str(items[i]))
                history_kinds.append(str(kinds[i]))
                continue
            found = [] if pd.isna(items[i]) or str(items[i]) == "" else [str(items[i])]
            j = i + 1
            while j < end and not new_session[j] and not is_search[j]:
                found.append(str(items[j]))
                j += 1
            targets = list(dict.fromkeys(found))
            if not targets:
                no_target += 1
                continue
            out["user"].append(str(uniques[users[i]]))
            out["query"].append(str(queries[i]).strip())
            out["time"].append(int(times[i]))
            out["hist"].append(history[-max_length:])
            out["kinds"].append(history_kinds[-max_length:])
            out["targets"].append(targets)
    splits = leave_last_out(out["user"], min_searches)
    metadata = {"source": log.source, "construction": "query column",
                "session_gap": session_gap, "max_length": max_length,
                "min_searches": min_searches, "search_rows": int(is_search.sum()),
                "searches_without_targets": no_target}
    return SearchEvents(out["user"], out["query"], np.asarray(out["time"], dtype=np.int64),
                        out["hist"], out["kinds"], out["targets"], splits, metadata=metadata)
