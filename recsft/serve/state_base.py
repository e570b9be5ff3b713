"""What the user-state stores share: the event records, the :class:`StateStore` interface,
the compact JSON form of an event and the checks on what callers hand in.

:mod:`recsft.serve.state` is the module to import; this one is its base (no I/O here).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from recsft.errors import RecsftError, shorten

#: The format marker both stores record (with :data:`FORMAT_VERSION`).
FORMAT = "recsft-state"
FORMAT_VERSION = 1
#: Users per SQL ``IN (...)`` query and per Redis seeding transaction.
CHUNK = 500


class StateError(RecsftError):
    """The state store cannot be used: a closed store, an unreachable Redis server, a locked
    or failing SQLite file. The service answers it with 503 rather than blaming the request."""


@dataclass(frozen=True)
class Event:
    """One behaviour event.

    Attributes:
        item_id: The item acted on.
        event_type: view / cart / buy / ..., ``None`` when unknown.
        timestamp: When, in seconds (unix time), ``None`` when unknown.
    """

    item_id: str
    event_type: str | None = None
    timestamp: float | None = None


@dataclass(frozen=True)
class UserState:
    """The newest ``<= max_length`` events of a user, oldest first (parallel lists).

    Attributes:
        user_id: The user.
        items: Item ids, ``(n,)``.
        event_types: Their event types, ``(n,)``, ``None`` where unknown.
        timestamps: Their times in seconds, ``(n,)``, ``None`` where unknown.
    """

    user_id: str
    items: list[str]
    event_types: list[str | None]
    timestamps: list[float | None]

    def __len__(self) -> int:
        return len(self.items)


class StateStore(Protocol):
    """What the service needs from a user-state store."""

    max_length: int
    #: Whether an acknowledged append survives a crash (``None``: the server would not say).
    durable: bool | None

    def append(self, user_id: str, events: Sequence[Event]) -> int:
        """Append events (oldest first), keep the newest ``max_length``; durable on return.

        Returns:
            The user's number of stored events after trimming (``0`` for an unknown user and
            no events: nothing is created).
        """

    def get(self, user_id: str) -> UserState | None:
        """The user's state, or ``None`` for an unknown user."""

    def get_many(self, user_ids: Sequence[str]) -> list[UserState | None]:
        """:meth:`get` for many users in one query, in the order asked."""

    def bulk_load(self, states: Iterable[UserState]) -> int:
        """Replace the states of the given users (the newest ``max_length`` events of each; an
        empty state removes the user); returns the number of states written."""

    def count_users(self) -> int:
        """Users with stored events."""

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""


# ---------------------------------------------------------------------- events <-> JSON


def check_user(user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise RecsftError(f"user_id: expected a non-empty string, got {shorten(user_id)}")
    return user_id


#: Compact JSON, ``NaN`` refused (one encoder: ``json.dumps`` with options builds one per call).
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _triple(item: Any, kind: Any, time: Any, where: str, index: int | str) -> list[Any]:
    """``[item, kind, float time]`` after the checks; ``where.format(index)`` names a bad one."""
    if time is not None and type(time) is not float:
        if isinstance(time, bool) or not isinstance(time, numbers.Real):
            time = math.nan  # refused below
        time = float(time)
    if (type(item) is not str or not item or (kind is not None and type(kind) is not str)
            or (time is not None and not math.isfinite(time))):
        name = where.format(index)
        if not isinstance(item, str) or not item:
            raise RecsftError(f"{name}.item_id: expected a non-empty string, got "
                              f"{shorten(item)}")
        if kind is not None and not isinstance(kind, str):
            raise RecsftError(f"{name}.event_type: expected a string or null, got "
                              f"{shorten(kind)}")
        raise RecsftError(f"{name}.timestamp: expected a finite number of seconds or null")
    return [item, kind, time]


def encode_event(event: Event, where: str = "event") -> str:
    """``'["i9","cart",1700000000.0]'``: one event as compact JSON (how both stores keep it).

    Raises:
        RecsftError: an empty or non-string item id, a non-string event type, or a timestamp
            that is not a finite number; the message names ``where``.
    """
    return to_json(_triple(event.item_id, event.event_type, event.timestamp, "{}", where))


def event_triples(events: Sequence[Event]) -> list[list[Any]]:
    """``[[item, type, time], ...]`` of events handed to ``append``, checked (a bad one is
    named ``events[i]``)."""
    return [_triple(e.item_id, e.event_type, e.timestamp, "events[{}]", i)
            for i, e in enumerate(events)]


def decode_state(user_id: str, events: list[Any], where: str) -> UserState:
    """A :class:`UserState` from decoded ``[item, type, time]`` triples."""
    try:
        items = [e[0] for e in events]
        kinds = [e[1] for e in events]
        times = [None if e[2] is None else float(e[2]) for e in events]
    except (TypeError, IndexError, ValueError):
        raise StateError(f"{where}: the stored events of user {shorten(user_id)} are not "
                         "recsft events") from None
    return UserState(user_id, items, kinds, times)


def state_triples(state: UserState, max_length: int) -> list[list[Any]]:
    """The newest ``max_length`` events of ``state`` as checked ``[item, type, time]``."""
    check_user(state.user_id)
    n = len(state.items)
    if len(state.event_types) != n or len(state.timestamps) != n:
        raise RecsftError(f"user {shorten(state.user_id)}: items, event_types and timestamps "
                          "must have the same length")
    start = max(n - max_length, 0)
    where = f"user {shorten(state.user_id)}, event {{}}"
    return [_triple(state.items[i], state.event_types[i], state.timestamps[i], where, i)
            for i in range(start, n)]


def check_max_length(max_length: Any) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise RecsftError(f"max_length: expected a positive integer, got {shorten(max_length)}")
    return max_length


def hide_password(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
    except ValueError:
        return "<redis url>"


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:300] + ("..." if len(text) > 300 else "")
