"""The Redis user-state store (:class:`RedisStore`), for several workers or machines.

See :mod:`recsft.serve.state` for the stores' shared design. ``redis`` is imported when a store
opens.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence

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
    hide_password,
    one_line,
    state_triples,
    to_json,
)

#: Key prefix used when the URL names none.
DEFAULT_PREFIX = "recsft:"


class RedisStore:
    """User state in Redis lists (``RPUSH`` + ``LTRIM`` in ``MULTI``); see
    :mod:`recsft.serve.state`.

    Keys: ``<prefix>u:<user_id>`` (the user's events), ``<prefix>users`` (a set of the users),
    ``<prefix>format`` (the format marker). Thread-safe (the client's connection pool).

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS; the client's
            query options such as ``socket_timeout`` are accepted).
        max_length: Events kept per user.
        prefix: Key prefix; no other key is read or written.

    Attributes:
        durable: ``True`` when the server runs with ``appendonly yes`` and ``appendfsync
            always`` (an acknowledged append is on disk), ``False`` when not (a note says so
            at open), ``None`` when the server does not allow ``CONFIG GET``.

    Raises:
        RecsftError: the URL cannot be read, the server cannot be reached, or keys under the
            prefix exist without the recsft format marker.
    """

    def __init__(self, url: str, max_length: int, prefix: str = DEFAULT_PREFIX) -> None:
        import redis

        self.max_length = check_max_length(max_length)
        if not isinstance(prefix, str) or not prefix:
            raise RecsftError(f"redis key prefix: expected a non-empty string, got "
                              f"{shorten(prefix)}")
        self.url, self.prefix = hide_password(url), prefix
        self._errors = (redis.RedisError,)
        try:
            self._client = redis.Redis.from_url(url, decode_responses=True,
                                                socket_connect_timeout=5, socket_timeout=30)
        except (ValueError, TypeError) as err:
            raise RecsftError(f"{self.url}: not a Redis URL ({one_line(err)}); expected "
                              "redis://host:port/db") from None
        try:
            self._client.ping()
            self._claim_prefix()
            self.durable = self._check_durability()
        except redis.RedisError as err:
            self._client.close()
            raise StateError(f"{self.url}: cannot use the Redis server ({one_line(err)})"
                             ) from None
        except BaseException:
            self._client.close()
            raise

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, max_length={self.max_length}, prefix={self.prefix!r})"

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}u:{user_id}"

    def _claim_prefix(self) -> None:
        marker_key, marker = self.prefix + "format", f"{FORMAT} {FORMAT_VERSION}"
        found = self._client.get(marker_key)
        if found is None:
            pattern = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix) + "*"
            if next(iter(self._client.scan_iter(match=pattern, count=1000)), None) is not None:
                raise RecsftError(f"{self.url}: keys starting with {self.prefix!r} exist but "
                                  f"were not written by recsft (no {marker_key!r} marker); "
                                  "choose another prefix (?prefix=... in the URL)")
            self._client.set(marker_key, marker, nx=True)
            found = self._client.get(marker_key)
        if found != marker:
            raise RecsftError(f"{self.url}: key {marker_key!r} holds {shorten(found)}, not the "
                              f"recsft state marker {marker!r}; choose another prefix")

    def _check_durability(self) -> bool | None:
        import redis

        from recsft import progress

        try:
            config = self._client.config_get("append*")
        except redis.ResponseError:
            progress.note(f"note: {self.url} does not allow CONFIG GET; recsft cannot check "
                          "that events are durable (needs appendonly yes, appendfsync always)")
            return None
        only, sync = config.get("appendonly", "?"), config.get("appendfsync", "?")
        if only == "yes" and sync == "always":
            return True
        progress.note(f"note: {self.url} runs with appendonly {only}, appendfsync {sync}: "
                      "acknowledged events can be lost if the Redis server stops; set "
                      "appendonly yes and appendfsync always for durable events")
        return False

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        try:
            yield
        except self._errors as err:
            raise StateError(f"{self.url}: {one_line(err)}") from None

    def append(self, user_id: str, events: Sequence[Event]) -> int:
        """See :meth:`StateStore.append` (``MULTI`` ``RPUSH`` ``LTRIM`` ``SADD`` ``LLEN``)."""
        key = self._key(check_user(user_id))
        encoded = [to_json(t) for t in event_triples(events)]
        with self._calls():
            if not encoded:
                return min(int(self._client.llen(key)), self.max_length)
            pipe = self._client.pipeline(transaction=True)
            pipe.rpush(key, *encoded)
            pipe.ltrim(key, -self.max_length, -1)
            pipe.sadd(self.prefix + "users", user_id)
            pipe.llen(key)
            return int(pipe.execute()[-1])

    def get(self, user_id: str) -> UserState | None:
        """See :meth:`StateStore.get`."""
        return self.get_many([user_id])[0]

    def get_many(self, user_ids: Sequence[str]) -> list[UserState | None]:
        """See :meth:`StateStore.get_many` (one pipelined round trip of ``LRANGE``)."""
        users = [check_user(u) for u in user_ids]
        with self._calls():
            pipe = self._client.pipeline(transaction=False)
            for user in users:
                pipe.lrange(self._key(user), -self.max_length, -1)
            lists = pipe.execute() if users else []
        states: list[UserState | None] = []
        for user, raw in zip(users, lists):
            if not raw:
                states.append(None)
                continue
            try:
                events = [json.loads(e) for e in raw]
            except ValueError:
                raise StateError(f"{self.url}: key {self._key(user)!r} holds values that are "
                                 "not recsft events") from None
            states.append(decode_state(user, events, f"{self.url}: key {self._key(user)!r}"))
        return states

    def bulk_load(self, states: Iterable[UserState]) -> int:
        """See :meth:`StateStore.bulk_load`: one ``MULTI`` transaction per 500 users (a failure
        leaves the earlier ones loaded; loading again replaces them)."""
        written, batch = 0, []
        for state in states:
            triples = state_triples(state, self.max_length)
            batch.append((state.user_id, [to_json(t) for t in triples]))
            if len(batch) == CHUNK:
                written += self._load(batch)
                batch = []
        return written + (self._load(batch) if batch else 0)

    def _load(self, batch: list[tuple[str, list[str]]]) -> int:
        with self._calls():
            pipe = self._client.pipeline(transaction=True)
            for user, encoded in batch:
                key = self._key(user)
                pipe.delete(key)
                if encoded:
                    pipe.rpush(key, *encoded)
                    pipe.sadd(self.prefix + "users", user)
                else:
                    pipe.srem(self.prefix + "users", user)
            pipe.execute()
        return len(batch)

    def count_users(self) -> int:
        """See :meth:`StateStore.count_users` (``SCARD``)."""
        with self._calls():
            return int(self._client.scard(self.prefix + "users"))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()
