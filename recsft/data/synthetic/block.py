"""A block of generated users as integer codes, and its re-cutting into chunks of users.

The generator draws users in fixed random-number blocks (see "Randomness and scale" in
:mod:`recsft.data.synthetic`); consumers ask for chunks of any size. :class:`_Block` holds the
events, sessions and segments of a range of users as integer arrays, and :func:`_rechunk` cuts
and joins blocks into chunks without touching a random number.

Example:
    >>> import numpy as np
    >>> empty = np.zeros(0, dtype=np.int64)
    >>> block = _Block(0, 2, np.array([0, 1]), *[empty] * 4, None, *[empty] * 4)
    >>> [(part.lo, part.hi) for part in _rechunk([block], 2, users_per_chunk=1)]
    [(0, 1), (1, 2)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class _Block:
    """Events, segments and sessions of the users ``lo <= u < hi``, as integer codes.

    Per-event arrays are sorted by user, then time; per-session arrays by user, then session.

    Attributes:
        lo: First user index.
        hi: One past the last user index.
        segment: Segment of each user ``lo ... hi - 1``.
        user: Per event, the user index.
        item: Per event, the item index.
        time: Per event, the unix timestamp.
        kind: Per event, the index into ``config._TYPE_NAMES``.
        query: Per event, the index into the query vocabulary (-1 when not a search), or
            ``None`` when searches are disabled.
        sess_user: Per session, the user index.
        sess_index: Per session, its position among the user's sessions.
        sess_cat: Per session, its category index.
        sess_start: Per session, the timestamp of its first event.
    """

    lo: int
    hi: int
    segment: np.ndarray
    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    kind: np.ndarray
    query: np.ndarray | None
    sess_user: np.ndarray
    sess_index: np.ndarray
    sess_cat: np.ndarray
    sess_start: np.ndarray

    _EVENT_FIELDS = ("user", "item", "time", "kind", "query")
    _SESSION_FIELDS = ("sess_user", "sess_index", "sess_cat", "sess_start")

    def take_users(self, lo: int, hi: int) -> _Block:
        """The part of this block that belongs to users ``lo <= u < hi``."""
        e0, e1 = np.searchsorted(self.user, [lo, hi])
        s0, s1 = np.searchsorted(self.sess_user, [lo, hi])
        part = {"lo": lo, "hi": hi, "segment": self.segment[lo - self.lo : hi - self.lo]}
        for name in self._EVENT_FIELDS:
            values = getattr(self, name)
            part[name] = None if values is None else values[e0:e1]
        for name in self._SESSION_FIELDS:
            part[name] = getattr(self, name)[s0:s1]
        return _Block(**part)

    @staticmethod
    def concat(parts: list[_Block]) -> _Block:
        """Join blocks of consecutive user ranges into one."""
        if len(parts) == 1:
            return parts[0]
        joined: dict = {"lo": parts[0].lo, "hi": parts[-1].hi}
        for name in ("segment", *_Block._EVENT_FIELDS, *_Block._SESSION_FIELDS):
            values = [getattr(part, name) for part in parts]
            joined[name] = None if values[0] is None else np.concatenate(values)
        return _Block(**joined)



def _rechunk(blocks: Iterable[_Block], num_users: int, users_per_chunk: int) -> Iterator[_Block]:
    """Re-cut consecutive blocks into chunks of ``users_per_chunk`` consecutive users.

    Args:
        blocks: Blocks covering users ``0 ... num_users - 1`` in order.
        num_users: Number of users in all.
        users_per_chunk: Users per yielded chunk (the last may have fewer).

    Yields:
        Chunk ``k`` holds users ``k * users_per_chunk`` up to ``(k + 1) * users_per_chunk``.
    """
    n = num_users
    pending: list[_Block] = []
    for block in blocks:
        lo = block.lo
        while lo < block.hi:
            end = min(n, (lo // users_per_chunk + 1) * users_per_chunk)
            hi = min(block.hi, end)
            whole = lo == block.lo and hi == block.hi
            pending.append(block if whole else block.take_users(lo, hi))
            if hi == end:
                yield _Block.concat(pending)
                pending = []
            lo = hi
