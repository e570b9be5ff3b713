"""The generator's output tables: :class:`SyntheticData`, its CSV files, and the Arrow columns
that blocks of generated users become.

:class:`_BlockColumns` turns a :class:`~recsft.data.synthetic.block._Block` (integer codes)
into the events, sessions and segments tables as Arrow columns; :func:`_frame` makes a pandas
DataFrame of them (string columns with the dtype pandas gives Python strings), and the CSV
writer (:func:`~recsft.data.synthetic.stream.write_events_csv`) streams them.

Example:
    >>> from recsft.data.synthetic import SyntheticConfig, generate_events
    >>> data = generate_events(SyntheticConfig(num_users=5, num_items=20, seed=1))
    >>> list(data.user_segments.columns)
    ['user_id', 'segment']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recsft.data.synthetic.block import _Block
from recsft.data.synthetic.catalogue import _Catalogue, _query_vocabulary
from recsft.data.synthetic.config import _TYPE_NAMES, SyntheticConfig
from recsft.fileio import atomic_writer, make_folder


@dataclass
class SyntheticData:
    """Output of :func:`generate_events`.

    Attributes:
        events: One row per event with columns ``user_id`` (str, e.g. ``"u00017"``),
            ``item_id`` (str, e.g. ``"i0042"``), ``timestamp`` (int64 unix seconds,
            strictly increasing within a user) and ``event_type`` (one of
            :data:`EVENT_TYPES`, or :data:`SEARCH_EVENT`), sorted by user then time. When
            searches are enabled there is a fifth column ``query`` (str; NaN except on
            search events), and a search's ``item_id`` is the item it led to.
        items: The catalogue, with columns ``item_id``, ``category`` (str, e.g. ``"c03"``)
            and ``title`` (a short readable fake product title), sorted by ``item_id``;
            when items launch (``launch_spread_days > 0``) also ``launch_time`` (int64 unix
            seconds, ``start_time`` for the items that exist from the start).
        user_segments: Latent segment of every user, with columns ``user_id`` and
            ``segment`` (int).
        sessions: Ground-truth sessions, one row per session with columns ``user_id``,
            ``session`` (int, 0-based position among the user's sessions), ``category``
            (the session's focus category, e.g. ``"c03"``) and ``start_time`` (int64, the
            timestamp of the session's first event), sorted by user then session; ``None``
            when loaded from a directory without ``sessions.csv``.
    """

    events: pd.DataFrame
    items: pd.DataFrame
    user_segments: pd.DataFrame
    sessions: pd.DataFrame | None = None

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``events.csv``, ``items.csv``, ``segments.csv`` and ``sessions.csv``.

        ``sessions.csv`` is written only when :attr:`sessions` is set. Each file is written
        through :func:`recsft.fileio.atomic_writer` (a temporary name in the same directory,
        then a rename), so no half-written file is left behind.

        Args:
            directory: Target directory; created if missing.

        Returns:
            The directory as a :class:`pathlib.Path`.
        """
        out = Path(directory)
        make_folder(out)
        tables = [
            ("events.csv", self.events),
            ("items.csv", self.items),
            ("segments.csv", self.user_segments),
        ]
        if self.sessions is not None:
            tables.append(("sessions.csv", self.sessions))
        for name, frame in tables:
            # A binary file: pandas writes its own line ends (newline="" in the text layer).
            with atomic_writer(out / name, binary=True) as handle:
                frame.to_csv(handle, index=False, encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SyntheticData:
        """Read data written by :meth:`save` or :func:`write_events_csv`.

        Args:
            directory: Directory containing ``events.csv``, ``items.csv`` and
                ``segments.csv``, and optionally ``sessions.csv``.

        Returns:
            The loaded data, with id columns as strings and timestamps as int64.
        """
        src = Path(directory)
        events = pd.read_csv(
            src / "events.csv",
            dtype={
                "user_id": str,
                "item_id": str,
                "event_type": str,
                "timestamp": np.int64,
                "query": str,
            },
        )
        items = pd.read_csv(
            src / "items.csv", dtype={"item_id": str, "category": str, "title": str}
        )
        segments = pd.read_csv(src / "segments.csv", dtype={"user_id": str, "segment": np.int64})
        sessions = None
        if (src / "sessions.csv").exists():
            sessions = pd.read_csv(
                src / "sessions.csv",
                dtype={
                    "user_id": str,
                    "session": np.int64,
                    "category": str,
                    "start_time": np.int64,
                },
            )
        return cls(events=events, items=items, user_segments=segments, sessions=sessions)



#: The dtype pandas gives a column built from Python strings (``str`` in pandas 3, object
#: before); generated string columns use it so that they equal columns built from lists.
_STR_DTYPE = pd.Series(["x"]).dtype


def _id_range(prefix: str, lo: int, hi: int, width: int) -> pa.Array:
    """Ids ``prefix{lo}`` ... ``prefix{hi - 1}``, zero-padded to ``width``, as Arrow strings."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(lo, hi)], type=pa.string())


def _str_column(values: pa.Array) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A pandas string column from Arrow strings; Arrow nulls become missing values."""
    if isinstance(_STR_DTYPE, pd.StringDtype):
        return pd.array(values, dtype=_STR_DTYPE)
    return values.to_numpy(zero_copy_only=False)


def _frame(columns: dict[str, pa.Array]) -> pd.DataFrame:
    """A DataFrame from Arrow columns: strings as pandas strings, numbers as numpy."""
    return pd.DataFrame(
        {
            name: _str_column(values) if pa.types.is_string(values.type) else values.to_numpy()
            for name, values in columns.items()
        }
    )


class _BlockColumns:
    """Turns blocks of generated users into the events, sessions and segments tables.

    Users are ``"u" + index`` zero-padded to at least five digits, items and categories take
    the catalogue's ids, event types their names, and search queries (when searches are on)
    the catalogue's query vocabulary.
    """

    def __init__(self, config: SyntheticConfig, catalogue: _Catalogue) -> None:
        """Build the id and name lookups.

        Args:
            config: Generator parameters (``num_users`` and ``search_rate`` are read).
            catalogue: The drawn catalogue.
        """
        self.user_width = max(5, len(str(config.num_users - 1)))
        self.arrow_items = pa.array(list(catalogue.item_ids), type=pa.string())
        self.arrow_cats = pa.array(list(catalogue.cat_ids), type=pa.string())
        self.arrow_types = pa.array(list(_TYPE_NAMES), type=pa.string())
        self.arrow_queries = (
            pa.array(_query_vocabulary(catalogue.names), type=pa.string())
            if config.search_rate > 0
            else None
        )

    def event_columns(self, block: _Block) -> dict[str, pa.Array]:
        """The event table of a block as Arrow columns, one row per event."""
        users = _id_range("u", block.lo, block.hi, self.user_width)
        columns = {
            "user_id": users.take(pa.array(block.user - block.lo)),
            "item_id": self.arrow_items.take(pa.array(block.item)),
            "timestamp": pa.array(block.time),
            "event_type": self.arrow_types.take(pa.array(block.kind)),
        }
        if block.query is not None and self.arrow_queries is not None:
            columns["query"] = self.arrow_queries.take(pa.array(block.query, mask=block.query < 0))
        return columns

    def session_columns(self, block: _Block) -> dict[str, pa.Array]:
        """The sessions table of a block as Arrow columns, one row per session."""
        users = _id_range("u", block.lo, block.hi, self.user_width)
        return {
            "user_id": users.take(pa.array(block.sess_user - block.lo)),
            "session": pa.array(block.sess_index.astype(np.int64)),
            "category": self.arrow_cats.take(pa.array(block.sess_cat)),
            "start_time": pa.array(block.sess_start),
        }

    def segment_columns(self, block: _Block) -> dict[str, pa.Array]:
        """The user-segment table of a block as Arrow columns, one row per user."""
        return {
            "user_id": _id_range("u", block.lo, block.hi, self.user_width),
            "segment": pa.array(block.segment),
        }
