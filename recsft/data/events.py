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

The format-specific readers live in :mod:`recsft.data.readers`; :func:`read_events` picks one
(from the file name and first line, or ``format=``) and records the read in ``EventLog.steps``.

Example:
    >>> from recsft.data.events import read_events
    >>> log = read_events("clicks.csv", columns={"user_id": "visitor", "item_id": "sku"})
    >>> sequences = log.sequences()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

CANONICAL_COLUMNS = ("user_id", "item_id", "timestamp", "event_type")
# Kept when present: per-event weights (preprocess.weight_event_types), search query text.
OPTIONAL_COLUMNS = ("weight", "query")
DEFAULT_EVENT_TYPE = "item"
#: Reader names accepted by :func:`read_events` (``format="auto"`` picks one).
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


class EventLogError(ValueError):
    """Bad input data: the message names the file, line and column and what was expected.

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
            where += f", column '{column}'"
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


def detect_format(path: str | os.PathLike) -> str:
    """Guess a reader from the file name and its first line.

    The rules are listed in :func:`recsft.data.readers.detect_format` and in docs/data.md.

    Args:
        path: The event file.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        EventLogError: the file is missing or empty, or no rule matches.
    """
    from recsft.data.readers import detect_format as detect

    return detect(path)


def read_events(
    path: str | os.PathLike,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    *,
    event_map: Mapping[str, str] | None = None,
    items_path: str | os.PathLike | None = None,
    encoding: str | None = None,
    timestamp_unit: str | None = None,
) -> EventLog:
    """Read an event log from a file, validate it and record the read as the first step.

    Args:
        path: The event file (text formats may be gzip-compressed, ``.gz``).
        format: ``"auto"`` (from the name and the first line; see :func:`detect_format`) or one
            of :data:`FORMATS`: ``csv``, ``tsv``, ``parquet``, ``jsonl`` (tables with named
            columns), ``sasrec`` (``user item`` per line, in time order), ``s3rec`` (``user item
            item ...``), ``recbole`` (``.inter`` atomic file), ``movielens`` (``ratings.dat`` or
            ``u.data``), ``amazon-reviews`` (review JSON lines), ``retailrocket``
            (``events.csv``), ``taobao`` (``UserBehavior.csv``).
        columns: For formats with named columns (csv, tsv, parquet, jsonl, recbole,
            retailrocket, amazon-reviews): canonical name -> name in the file, e.g.
            ``{"user_id": "visitorid", "item_id": "itemid", "event_type": "event"}``. It
            overrides the format's defaults; unmapped canonical columns are looked up under
            their own names; ``event_type`` is optional.
        event_map: Source event type -> canonical event type (``view``, ``cart``, ``fav``,
            ``buy`` ...). Every type in the file must be a key. ``None`` uses the format's
            default (RetailRocket: view/addtocart/transaction; Taobao: pv/cart/fav/buy) or
            keeps the file's types as they are.
        items_path: An item attribute table (CSV/TSV/Parquet with a header, JSON lines,
            RecBole ``.item``, S3-Rec ``*_item2attributes.json``, ``movies.dat``, ``u.item``),
            read into :attr:`EventLog.items`. ``None`` reads the format's table beside the
            events when present (S3-Rec attributes, RecBole ``.item``, MovieLens movies,
            Amazon ``meta_*.json``; Taobao's category column).
        encoding: Text encoding; ``None`` for utf-8 (latin-1 for MovieLens).
        timestamp_unit: Unit of numeric timestamps: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``;
            ``None`` for the format's (milliseconds for RetailRocket, seconds otherwise).
            Timestamps become int64 unix seconds (rounded down).

    Returns:
        The validated :class:`EventLog`; ``steps[0]`` is ``{"name": "read", "params":
        {"path", "format", "columns", "event_map", "items_path", "encoding",
        "timestamp_unit"}, "events": n}``.

    Raises:
        EventLogError: the file is missing, empty, or a row/column is not what was expected;
            the message names the file, the line (or Parquet row) and the column.

    Example:
        >>> log = read_events("events.csv")  # RetailRocket: detected from the header
        >>> log.steps[0]["params"]["event_map"]
        {'view': 'view', 'addtocart': 'cart', 'transaction': 'buy'}
    """
    from recsft.data import readers

    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise EventLogError(path, f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    request = readers.ReadRequest(
        path=Path(path),
        format=fmt,
        columns=dict(columns or {}),
        event_map=dict(event_map) if event_map is not None else None,
        items_path=Path(items_path) if items_path is not None else None,
        encoding=encoding,
        timestamp_unit=timestamp_unit,
    )
    result = readers.read(request)
    step = {
        "name": "read",
        "params": {
            "path": str(path),
            "format": fmt,
            "columns": result.columns,
            "event_map": result.event_map,
            "items_path": result.items_path,
            "encoding": result.encoding,
            "timestamp_unit": result.timestamp_unit,
        },
        "events": len(result.frame),
    }
    return EventLog(result.frame, source=str(path), items=result.items, steps=[step])
