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
DEFAULT_EVENT_TYPE = "item"
FORMATS = ("csv", "tsv", "parquet", "sasrec", "s3rec")


class EventLogError(ValueError):
    """Bad input data: the message names the file, line and column and what was expected."""

    def __init__(
        self,
        path: str | os.PathLike,
        message: str,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.column = column


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
        self.frame = self.frame[list(CANONICAL_COLUMNS)]

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

    Args:
        path: The event file.

    Returns:
        One of :data:`FORMATS`.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if ".parquet" in suffixes:
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    if ".tsv" in suffixes:
        return "tsv"
    first = _first_line(p)
    tokens = first.split()
    if len(tokens) == 2:
        return "sasrec"
    if len(tokens) >= 2:
        return "s3rec"
    raise EventLogError(path, "cannot detect the format; pass format= one of " + ", ".join(FORMATS))


def _first_line(path: Path) -> str:
    if not path.exists():
        raise EventLogError(path, "file not found")
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line
    raise EventLogError(path, "the file is empty; expected at least one event")


def read_events(
    path: str | os.PathLike,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
) -> EventLog:
    """Read an event log from a file.

    Args:
        path: CSV/TSV/Parquet with a header, or a text file in the SASRec format (``user item``
            per line, already in time order) or the S3-Rec format (``user item item ...``, one
            user per line, items in time order).
        format: ``"auto"`` (from the name and the first line) or one of :data:`FORMATS`.
        columns: For tables, canonical name -> name in the file, e.g.
            ``{"user_id": "visitorid", "item_id": "itemid", "event_type": "event"}``.
            Unmapped canonical columns are looked up under their own names; ``event_type`` is
            optional.

    Returns:
        The validated :class:`EventLog`.

    Raises:
        EventLogError: the file is missing, empty, or a row/column is not what was expected.
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise EventLogError(path, f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}")
    if fmt in ("sasrec", "s3rec"):
        frame = _read_text(Path(path), fmt)
    else:
        frame = _read_table(Path(path), fmt, dict(columns or {}))
    return EventLog(frame, source=str(path))


def _read_text(path: Path, fmt: str) -> pd.DataFrame:
    users: list[str] = []
    items: list[str] = []
    _first_line(path)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                continue
            if fmt == "sasrec":
                if len(tokens) != 2:
                    raise EventLogError(
                        path, f"expected 2 fields 'user item', found {len(tokens)}", line=number
                    )
                users.append(tokens[0])
                items.append(tokens[1])
            else:
                if len(tokens) < 2:
                    raise EventLogError(
                        path, "expected 'user item [item ...]', found only a user", line=number
                    )
                users.extend([tokens[0]] * (len(tokens) - 1))
                items.extend(tokens[1:])
    # Order-only formats: the timestamp is the position in the file (ties impossible).
    return pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "timestamp": np.arange(len(users), dtype=np.int64),
            "event_type": DEFAULT_EVENT_TYPE,
        }
    )


def _read_table(path: Path, fmt: str, columns: dict[str, str]) -> pd.DataFrame:
    unknown = set(columns) - set(CANONICAL_COLUMNS)
    if unknown:
        raise EventLogError(
            path, f"unknown canonical column(s) {sorted(unknown)} in the column mapping; "
            f"expected some of {list(CANONICAL_COLUMNS)}"
        )
    if not path.exists():
        raise EventLogError(path, "file not found")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str)
    except pd.errors.EmptyDataError as err:
        raise EventLogError(path, "the file is empty; expected a header and events") from err
    except pd.errors.ParserError as err:
        raise EventLogError(path, f"cannot parse the table: {err}") from err
    if frame.empty:
        raise EventLogError(path, "no events after the header")
    rename: dict[str, str] = {}
    for canonical in CANONICAL_COLUMNS:
        source = columns.get(canonical, canonical)
        if source in frame.columns:
            rename[source] = canonical
        elif canonical != "event_type" or canonical in columns:
            raise EventLogError(
                path,
                f"missing column '{source}' (for {canonical}); the file has {list(frame.columns)}",
                column=source,
            )
    frame = frame[list(rename)].rename(columns=rename)
    for canonical in ("user_id", "item_id"):
        null = frame[canonical].isna().to_numpy()
        if null.any():
            row = int(np.flatnonzero(null)[0])
            raise EventLogError(
                path, "empty id; expected a non-empty value", line=row + 2,
                column=_source_name(canonical, columns),
            )
        frame[canonical] = frame[canonical].astype(str)
    frame["timestamp"] = _parse_timestamps(frame["timestamp"], path, columns)
    if "event_type" in frame.columns:
        frame["event_type"] = frame["event_type"].fillna(DEFAULT_EVENT_TYPE).astype(str)
    return frame.reset_index(drop=True)


def _source_name(canonical: str, columns: Mapping[str, str]) -> str:
    return columns.get(canonical, canonical)


def _parse_timestamps(values: pd.Series, path: Path, columns: Mapping[str, str]) -> pd.Series:
    """Unix seconds from numbers or ISO-8601 strings; the first bad row is named."""
    column = _source_name("timestamp", columns)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.astype(np.float64).round().astype(np.int64)
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    bad = (parsed.isna() & numeric.isna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EventLogError(
            path,
            f"cannot parse timestamp {values.iloc[row]!r}; expected unix seconds or an "
            "ISO-8601 date-time",
            line=row + 2,
            column=column,
        )
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    seconds = ((parsed - epoch) // pd.Timedelta(seconds=1)).fillna(0)
    return pd.Series(np.where(numeric.notna(), numeric, seconds), index=values.index).astype(
        np.int64
    )
