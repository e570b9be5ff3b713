"""Event logs: the canonical table every reader produces.

An event log is a :class:`pandas.DataFrame` with the canonical columns

=============  ========  ==========================================================
column         dtype     meaning
=============  ========  ==========================================================
``user_id``    str       who acted
``item_id``    str       on what
``timestamp``  int64     when (unix seconds; for order-only formats, the position)
``event_type`` str       view / cart / fav / buy / any string ("item" if unknown)
=============  ========  ==========================================================

Readers validate their input and raise :class:`EventLogError`, which names the file, the line and
the column and says what was expected.

The readers live in :mod:`recsft.data.readers`, which imports this module (never the other way):
:func:`recsft.data.readers.read_events` picks a reader (from the file name and first line, or
``format=``) and records the read in ``EventLog.steps``.

Example:
    >>> import pandas as pd
    >>> log = EventLog(pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]}))
    >>> log.stats()
    {'users': 1, 'items': 1, 'interactions': 1}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsft.errors import RecsftError

CANONICAL_COLUMNS = ("user_id", "item_id", "timestamp", "event_type")
# Kept when present: per-event weights (preprocess.weight_event_types), search query text.
OPTIONAL_COLUMNS = ("weight", "query")
DEFAULT_EVENT_TYPE = "item"
#: Reader names accepted by :func:`recsft.data.readers.read_events` (``format="auto"`` picks one).
FORMATS = (
    "csv",
    "tsv",
    "parquet",
    "jsonl",
    "sasrec",
    "s3rec",
    "recbole",
    "movielens",
    "amazon-reviews",
    "retailrocket",
    "taobao",
)


class EventLogError(RecsftError):
    """Bad input data: the message names the file, line and column and what was expected.

    A :class:`~recsft.errors.RecsftError` (so also a ``ValueError``). A column name longer than
    80 characters is cut in the message.

    Args:
        path: The file.
        message: What is wrong and what was expected.
        line: 1-based line of a text file (a header is line 1).
        column: The column (or JSON key) as named in the file.
        row: 1-based row of a Parquet file (Parquet has no lines).
        row_group: 0-based Parquet row group holding ``row``.

    Example:
        >>> str(EventLogError("bad.csv", "empty id; expected a non-empty value", 3, "user_id"))
        "bad.csv, line 3, column 'user_id': empty id; expected a non-empty value"
    """

    def __init__(
        self,
        path: str | os.PathLike,
        message: str,
        line: int | None = None,
        column: str | None = None,
        *,
        row: int | None = None,
        row_group: int | None = None,
    ) -> None:
        where = str(path)
        if row_group is not None:
            where += f", row group {row_group}"
        if row is not None:
            where += f", row {row}"
        if line is not None:
            where += f", line {line}"
        if column is not None:
            shown = column if len(column) <= 80 else column[:77] + "..."
            where += f", column '{shown}'"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.column = column
        self.row = row
        self.row_group = row_group


@dataclass
class UserSequences:
    """Each user's events in time order.

    Attributes:
        user_ids: External user ids, one per user.
        items: ``items[u]`` is the list of external item ids of user ``u``, oldest first.
        event_types: ``event_types[u]`` is the parallel list of event types.
        timestamps: ``timestamps[u]`` is the parallel list of timestamps (int64).
    """

    user_ids: list[str]
    items: list[list[str]]
    event_types: list[list[str]]
    timestamps: list[list[int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass
class EventLog:
    """A validated event table with canonical columns (see the module docstring).

    Attributes:
        frame: The events, one row per event.
        source: Where the events came from (a path or a generator name), for error messages
            and metadata.
        items: Optional item attribute table: an ``item_id`` column (str) plus attribute
            columns such as ``category``, ``brand``, ``price``, ``title``.
        steps: The processing applied so far, in order: one dict per step with at least
            ``name`` and ``params`` (readers and preprocessing append to it).
    """

    frame: pd.DataFrame
    source: str = "<memory>"
    items: pd.DataFrame | None = None
    steps: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        missing = [c for c in ("user_id", "item_id", "timestamp") if c not in self.frame.columns]
        if missing:
            raise EventLogError(self.source, f"missing required column(s) {missing}")
        if "event_type" not in self.frame.columns:
            self.frame = self.frame.assign(event_type=DEFAULT_EVENT_TYPE)
        optional = [c for c in OPTIONAL_COLUMNS if c in self.frame.columns]
        self.frame = self.frame[[*CANONICAL_COLUMNS, *optional]]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_users(self) -> int:
        return int(self.frame["user_id"].nunique())

    @property
    def num_items(self) -> int:
        return int(self.frame["item_id"].nunique())

    def stats(self) -> dict[str, int]:
        """Users, items and interactions, as reported beside every metric."""
        return {
            "users": self.num_users,
            "items": self.num_items,
            "interactions": len(self),
        }

    def sequences(self) -> UserSequences:
        """Group events by user, each user's events ordered by time.

        Ties in timestamp keep the file's order (a stable sort), which matters for formats
        whose order carries information the timestamps do not.

        Returns:
            The users in order of first appearance in the file, with their ordered events.
        """
        frame = self.frame
        order = np.lexsort(
            (np.arange(len(frame)), frame["timestamp"].to_numpy(), _first_seen_codes(frame))
        )
        frame = frame.iloc[order]
        users = frame["user_id"].to_numpy()
        boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
        starts = np.concatenate([[0], boundaries])
        ends = np.concatenate([boundaries, [len(frame)]])
        items = frame["item_id"].to_numpy()
        types = frame["event_type"].to_numpy()
        times = frame["timestamp"].to_numpy()
        return UserSequences(
            user_ids=[str(users[s]) for s in starts],
            items=[items[s:e].tolist() for s, e in zip(starts, ends)],
            event_types=[types[s:e].tolist() for s, e in zip(starts, ends)],
            timestamps=[times[s:e].tolist() for s, e in zip(starts, ends)],
        )


def _first_seen_codes(frame: pd.DataFrame) -> np.ndarray:
    """Integer code per row: the rank of the row's user by first appearance."""
    codes, _ = pd.factorize(frame["user_id"], sort=False)
    return codes
