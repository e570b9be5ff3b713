"""User state for serving: the newest ``max_length`` behaviour events of every user.

Two stores share one interface (:class:`StateStore`):

- :class:`SQLiteStore` (default): an SQLite file, no server. WAL journal with
  ``synchronous=FULL``, so an :meth:`~StateStore.append` is on disk (committed, the WAL
  fsynced) when it returns: it survives a killed process and, on a disk that honours fsync,
  a power cut. One row per user holding the user's events (a compact JSON array),
  read, extended and trimmed in one ``BEGIN IMMEDIATE`` transaction, so writers in several
  threads or processes never lose each other's events. Thread-safe: a pool of connections,
  one per concurrent caller.
- :class:`RedisStore`: a Redis list per user (``<prefix>u:<user_id>``, one compact JSON event
  per element), appended with ``RPUSH`` + ``LTRIM`` in one ``MULTI`` transaction; for several
  workers or machines. Keys outside the prefix (default ``recsft:``) are never read or written.
  Durability is the server's: an acknowledged event survives a crash of the Redis server only
  with ``appendonly yes`` and ``appendfsync always`` (checked when the store opens; a note
  says so when they are not set). Not for Redis Cluster (the store's keys share transactions).

:func:`open_store` picks one from a URL, :func:`seed_from_run` loads every user of a run.

An event is stored as ``[item_id, event_type, timestamp]`` (``null`` where unknown, timestamps
as seconds, float). Both stores keep a format marker (SQLite: table ``recsft_meta``; Redis: key
``<prefix>format``) and refuse a database or prefix they did not create.

Errors: what a caller hands in (a bad URL, event or file) raises
:class:`~recsft.errors.RecsftError` with one line naming it; a store that cannot be used at
run time (closed, Redis unreachable, SQLite locked or failing) raises :class:`StateError`, a
subclass the service answers with 503.

This module is the one to import; the stores live in :mod:`recsft.serve.sqlite_state` and
:mod:`recsft.serve.redis_state`, their shared records and checks in
:mod:`recsft.serve.state_base`.

Example:
    >>> store = open_store("sqlite:///tmp/state.db", max_length=50)     # doctest: +SKIP
    >>> store.append("u1", [Event("i9", "cart", 1700000000)])          # doctest: +SKIP
    1
    >>> store.get("u1").items                                            # doctest: +SKIP
    ['i9']
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recsft.errors import RecsftError, shorten
from recsft.serve.redis_state import DEFAULT_PREFIX, RedisStore
from recsft.serve.sqlite_state import SQLiteStore
from recsft.serve.state_base import (
    FORMAT,
    FORMAT_VERSION,
    Event,
    StateError,
    StateStore,
    UserState,
    check_max_length,
    encode_event,
    hide_password,
    one_line,
)

if TYPE_CHECKING:
    from recsft.runs import Run

__all__ = ["DEFAULT_PREFIX", "FORMAT", "FORMAT_VERSION", "Event", "RedisStore", "SQLiteStore",
           "StateError", "StateStore", "UserState", "encode_event", "open_store",
           "seed_from_run"]


def open_store(url: str, max_length: int) -> StateStore:
    """Open the store a URL names.

    Args:
        url: ``sqlite:///abs/path.db`` (``sqlite:////abs/path.db`` too) or a plain file path,
            relative to the working folder (:class:`SQLiteStore`), or
            ``redis://host:port/db`` / ``rediss://...`` (:class:`RedisStore`), optionally with
            ``?prefix=myshop:`` for the key prefix (default ``recsft:``).
        max_length: Events kept per user.

    Raises:
        RecsftError: an unknown scheme, an empty path, a bad prefix, or the store's own
            refusals (see each class).
    """
    if not isinstance(url, str) or not url.strip():
        raise RecsftError(f"state url: expected sqlite:///path.db, a file path or "
                          f"redis://host:port/db, got {shorten(url)}")
    check_max_length(max_length)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("", "sqlite"):
        path = url[len("sqlite://"):] if scheme else url
        if path.startswith("//"):  # sqlite:////abs/path.db (SQLAlchemy's spelling) as well
            path = "/" + path.lstrip("/")
        if not path:
            raise RecsftError(f"state url {url!r}: no file path; expected sqlite:///abs/path.db")
        return SQLiteStore(os.path.expanduser(path), max_length)
    if scheme in ("redis", "rediss"):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError on a bad port)
        except ValueError as err:
            raise RecsftError(f"state url {hide_password(url)}: {one_line(err)}; expected "
                              "redis://host:port/db") from None
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [value for name, value in query if name == "prefix"]
        rest = urlunsplit(parts._replace(query=urlencode([q for q in query
                                                           if q[0] != "prefix"])))
        return RedisStore(rest, max_length, prefixes[-1] if prefixes else DEFAULT_PREFIX)
    raise RecsftError(f"state url {hide_password(url)}: unknown scheme '{scheme}'; expected "
                      "sqlite:///path.db, a file path or redis://host:port/db")


def seed_from_run(store: StateStore, run: Run | str | os.PathLike) -> int:
    """Load every user of a run's data into ``store`` (replacing what it holds for them).

    The sequences are the cleaned events the run was split from, whole and in time order: for
    the leave-one-out split, each evaluated user's test history followed by the test target
    (and the users too short to be evaluated as well). Each user's newest ``store.max_length``
    events are kept, with their event types and timestamps. Seeding twice gives the same
    state (users are replaced, never extended).

    Args:
        store: An open store.
        run: A :class:`~recsft.runs.Run` or its folder.

    Returns:
        The number of users loaded.
    """
    from recsft.runs import Run

    if not isinstance(run, Run):
        run = Run.open(run)
    sequences = run.events().sequences()
    keep = store.max_length
    has_times = len(sequences.timestamps) == len(sequences.items)

    def states() -> Iterator[UserState]:
        for index, user in enumerate(sequences.user_ids):
            items = sequences.items[index][-keep:]
            if not items:
                continue
            kinds = sequences.event_types[index][-keep:]
            times = ([float(t) for t in sequences.timestamps[index][-keep:]] if has_times
                     else [None] * len(items))
            yield UserState(str(user), [str(i) for i in items],
                            [None if k is None else str(k) for k in kinds], times)

    return store.bulk_load(states())
