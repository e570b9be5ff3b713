"""The SQLite user-state store (:class:`SQLiteStore`): an embedded file, no server.

See :mod:`recsft.serve.state` for the stores' shared design.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from recsft.errors import RecsftError, shorten
from recsft.serve.state_base import (
    CHUNK,
    FORMAT,
    FORMAT_VERSION,
    Event,
    StateError,
    UserState,
    check_max_length,
    check_user,
    decode_state,
    event_triples,
    one_line,
    state_triples,
    to_json,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SCHEMA = (
    "CREATE TABLE recsft_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE user_events (user_id TEXT PRIMARY KEY, events TEXT NOT NULL) WITHOUT ROWID;"
)


class SQLiteStore:
    """User state in an SQLite file (WAL, ``synchronous=FULL``); see :mod:`recsft.serve.state`.

    Args:
        path: The database file. A missing file is created (atomically, under a temporary
            name first); an existing one must be a recsft state database.
        max_length: Events kept per user.
        timeout: Seconds a writer waits for another one's transaction before giving up.

    Raises:
        RecsftError: the folder does not exist, or the file exists and is not a recsft state
            database (it is then left untouched).
    """

    durable: bool | None = True

    def __init__(self, path: str | os.PathLike, max_length: int, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.max_length = check_max_length(max_length)
        self._timeout = timeout
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if not self.path.exists() and not self.path.is_symlink():
            _create_sqlite(self.path)
        _check_sqlite(self.path)
        with self._connection():
            pass

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, max_length={self.max_length})"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool for one caller (opened when none is idle)."""
        if self._closed:
            raise StateError(f"{self.path}: the state store is closed")
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
        except sqlite3.Error as err:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StateError(f"{self.path}: {one_line(err)}") from None
        finally:
            if self._closed:
                conn.close()
            else:
                self._idle.put(conn)

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as err:
            raise StateError(f"{self.path}: cannot open the state database "
                             f"({one_line(err)})") from None
        if str(mode).lower() != "wal":
            conn.close()
            raise StateError(f"{self.path}: the file system does not support SQLite's WAL "
                             f"journal (got {mode!r}); put the state database on a local disk")
        with self._lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken at once (``BEGIN IMMEDIATE``), committed on success."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def append(self, user_id: str, events: Sequence[Event]) -> int:
        """See :meth:`StateStore.append`; committed (WAL fsynced) when it returns."""
        check_user(user_id)
        triples = event_triples(events)
        with self._write() as conn:
            row = conn.execute("SELECT events FROM user_events WHERE user_id = ?",
                               (user_id,)).fetchone()
            stored = [] if row is None else _loads(row[0], self.path, user_id)
            if not triples:
                return min(len(stored), self.max_length)
            kept = (stored + triples)[-self.max_length:]
            conn.execute("INSERT OR REPLACE INTO user_events (user_id, events) VALUES (?, ?)",
                         (user_id, to_json(kept)))
        return len(kept)

    def get(self, user_id: str) -> UserState | None:
        """See :meth:`StateStore.get`."""
        return self.get_many([user_id])[0]

    def get_many(self, user_ids: Sequence[str]) -> list[UserState | None]:
        """See :meth:`StateStore.get_many` (one ``SELECT ... IN`` per 500 distinct users)."""
        wanted = list(dict.fromkeys(check_user(u) for u in user_ids))
        found: dict[str, str] = {}
        with self._connection() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(conn.execute(
                    f"SELECT user_id, events FROM user_events WHERE user_id IN ({marks})",
                    chunk).fetchall())
        states = {user: decode_state(user, _loads(blob, self.path, user)[-self.max_length:],
                                str(self.path)) for user, blob in found.items()}
        return [states.get(user) for user in user_ids]

    def bulk_load(self, states: Iterable[UserState]) -> int:
        """See :meth:`StateStore.bulk_load`; one transaction (all or nothing)."""
        written = 0
        with self._write() as conn:
            for state in states:
                triples = state_triples(state, self.max_length)
                if triples:
                    conn.execute("INSERT OR REPLACE INTO user_events (user_id, events) "
                                 "VALUES (?, ?)", (state.user_id, to_json(triples)))
                else:
                    conn.execute("DELETE FROM user_events WHERE user_id = ?", (state.user_id,))
                written += 1
        return written

    def count_users(self) -> int:
        """See :meth:`StateStore.count_users`."""
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM user_events").fetchone()[0])

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL into the file)."""
        self._closed = True
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _loads(blob: str, path: Path, user_id: str) -> list[Any]:
    try:
        events = json.loads(blob)
    except ValueError:
        events = None
    if not isinstance(events, list):
        raise StateError(f"{path}: the stored events of user {shorten(user_id)} are not a JSON "
                         "array")
    return events


def _create_sqlite(path: Path) -> None:
    """Create an empty state database at ``path``: built under a temporary name, then linked
    into place (never replacing a file that appeared meanwhile)."""
    from recsft.fileio import TEMP_PREFIX, file_mode

    parent = path.parent
    if not parent.is_dir():
        raise RecsftError(f"{path}: the folder {parent} does not exist; create it first")
    try:
        handle, tmp = tempfile.mkstemp(dir=parent, prefix=TEMP_PREFIX, suffix="-" + path.name)
    except OSError as err:
        raise RecsftError(f"{path}: cannot create the state database ({err.strerror})") from None
    os.close(handle)
    try:
        os.chmod(tmp, file_mode())
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN")
            for statement in _SQLITE_SCHEMA.split(";")[:-1]:
                conn.execute(statement)
            conn.executemany("INSERT INTO recsft_meta (key, value) VALUES (?, ?)",
                             [("format", FORMAT), ("version", str(FORMAT_VERSION))])
            conn.execute("COMMIT")
        finally:
            conn.close()
        try:
            os.link(tmp, path)  # fails if ``path`` appeared meanwhile: never overwritten
        except FileExistsError:
            return  # created by another process at the same time; checked by the caller
        except OSError:  # a file system without hard links
            if path.exists() or path.is_symlink():
                return
            os.rename(tmp, path)
        _fsync_folder(parent)
    finally:
        for name in (tmp, tmp + "-wal", tmp + "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _check_sqlite(path: Path) -> None:
    """Refuse ``path`` unless it is a recsft state database (read-only check, nothing
    written)."""
    from recsft.fileio import require_regular_file

    require_regular_file(path, "state database")
    refuse = (f"{path}: not a recsft state database ({{why}}); recsft does not use or change "
              "files it did not create: give a new file name")
    with open(path, "rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise RecsftError(refuse.format(why="not an SQLite file" if head else "an empty file"))
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM recsft_meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        meta = {}
    if meta.get("format") != FORMAT:
        raise RecsftError(refuse.format(why=f"an SQLite file without the {FORMAT} marker"))
    version = meta.get("version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise RecsftError(f"{path}: a recsft state database of format version {version!r}; "
                          f"this recsft reads version {FORMAT_VERSION}; upgrade recsft")
