"""The synthetic shop's user generator: segments, sessions, views, the funnel and time.

Steps 2 to 5 and 8 of the generative story (see :mod:`recsft.data.synthetic`; steps 6 and 7,
searches and repeat purchases, are in :mod:`recsft.data.synthetic.extras`). :class:`_Shop`
draws the catalogue and the segments' favourite categories once, then generates users in
fixed random-number blocks of :data:`_RNG_BLOCK_USERS`; :func:`generate_events` and
:func:`iter_event_chunks` turn the blocks into DataFrames.

The order of the random draws is part of the output (the same seed must give the same shop).
In each block, from its main generator: the users' segments, their numbers of sessions and the
session categories (:meth:`_Shop._draw_sessions`), the numbers of views and the viewed items
(:meth:`_Shop._draw_views`), the carts, favourites and purchases (:meth:`_Shop._draw_funnel`),
then the time gaps and the users' start times (:meth:`_Shop._draw_gaps`). When items launch or
interests drift (``SyntheticConfig.timed``, step 9 in :mod:`recsft.data.synthetic.timeline`),
the viewed items are drawn last instead, once the views' times are known: the segments, the
sessions, the numbers of views, the funnel, the time gaps, then the viewed items.

Example:
    >>> from recsft.data.synthetic import SyntheticConfig, generate_events
    >>> data = generate_events(SyntheticConfig(num_users=50, num_items=100, seed=1))
    >>> list(data.events.columns)
    ['user_id', 'item_id', 'timestamp', 'event_type']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsft.data.synthetic.block import _Block, _rechunk
from recsft.data.synthetic.catalogue import _Catalogue
from recsft.data.synthetic.config import SyntheticConfig
from recsft.data.synthetic.draws import _cdf_pick, _exp_seconds
from recsft.data.synthetic.extras import _with_extras
from recsft.data.synthetic.tables import SyntheticData, _BlockColumns, _frame
from recsft.data.synthetic.timeline import _Timeline

#: Users per random-number block; see "Randomness and scale" in :mod:`recsft.data.synthetic`.
#: Changing it changes the output of every config with more users than this.
_RNG_BLOCK_USERS = 50_000


def _segment_preferences(
    config: SyntheticConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Favourite categories of every segment and their cumulative weights.

    Returns:
        The favourites, shape ``(num_segments, segment_categories)``, and the cumulative
        weights of ``1, 1/2, 1/3, ...``, shape ``(segment_categories,)``.
    """
    k = config.segment_categories
    favourites = np.stack(
        [
            rng.choice(config.num_categories, size=k, replace=False)
            for _ in range(config.num_segments)
        ]
    )
    weights = 1.0 / np.arange(1, k + 1)
    cdf = np.cumsum(weights) / weights.sum()
    return favourites, cdf


def _draw_favourite(
    rng: np.random.Generator, favourites: np.ndarray, cdf: np.ndarray, segments: np.ndarray
) -> np.ndarray:
    """Draw one favourite category per entry of ``segments`` (shape ``(n,)`` in and out)."""
    return favourites[segments, _cdf_pick(rng, cdf, segments.shape[0])]


@dataclass
class _Sessions:
    """The sessions of a block's users (step 3).

    Attributes:
        count: Sessions of each user, shape ``(n_users,)``.
        offset: Index of each user's first session, shape ``(n_users,)``.
        user: User (within the block) of each session, shape ``(n_sessions,)``.
        category: Focus category of each session, shape ``(n_sessions,)``.
    """

    count: np.ndarray
    offset: np.ndarray
    user: np.ndarray
    category: np.ndarray


@dataclass
class _Views:
    """The views of a block's sessions (step 4).

    Attributes:
        count: Views of each session, shape ``(n_sessions,)``.
        offset: Index of each session's first view, shape ``(n_sessions,)``.
        slot: Catalogue slot of each view, shape ``(n_views,)``.
        session: Session of each view, shape ``(n_views,)``.
    """

    count: np.ndarray
    offset: np.ndarray
    slot: np.ndarray
    session: np.ndarray


@dataclass
class _Funnel:
    """The regular events of a block: each view expanded into view [cart] [fav] [buy] (step 5).

    Attributes:
        buy: Whether each view led to a purchase, shape ``(n_views,)``.
        view: View of each event, shape ``(n_events,)``, grouped by view.
        kind: Type code of each event (funnel order within a view), shape ``(n_events,)``.
    """

    buy: np.ndarray
    view: np.ndarray
    kind: np.ndarray


class _Shop:
    """The drawn catalogue and segment preferences, and the per-block user generator."""

    def __init__(self, config: SyntheticConfig) -> None:
        """Draw the catalogue, then the segments' favourites, from ``default_rng(seed)``.

        Args:
            config: Generator parameters.
        """
        cfg = self.config = config
        rng = np.random.default_rng(cfg.seed)
        self.catalogue = _Catalogue(cfg, rng)
        self.favourites, self.fav_cdf = _segment_preferences(cfg, rng)
        # Block 0 continues this generator (see the package docstring).
        self._block0_state = rng.bit_generator.state
        succ_w = np.asarray(cfg.successor_weights, dtype=float)
        self.succ_cdf = np.cumsum(succ_w) / succ_w.sum()
        self.columns = _BlockColumns(cfg, self.catalogue)
        self.timeline = _Timeline(cfg, self.catalogue) if cfg.timed else None

    def items_frame(self) -> pd.DataFrame:
        """The catalogue table; with launches it has a ``launch_time`` column (unix seconds)."""
        items = self.catalogue.items_frame()
        if self.config.launch_spread_days > 0 and self.timeline is not None:
            launch = np.empty(self.config.num_items, dtype=np.int64)
            launch[self.catalogue.item_of_slot] = self.timeline.launch
            items["launch_time"] = launch
        return items

    def blocks(self) -> Iterator[_Block]:
        """Generate all users, one random-number block at a time."""
        n = self.config.num_users
        for b, lo in enumerate(range(0, n, _RNG_BLOCK_USERS)):
            yield self._block(b, lo, min(n, lo + _RNG_BLOCK_USERS))

    def chunks(self, users_per_chunk: int) -> Iterator[_Block]:
        """Re-cut the blocks into chunks of ``users_per_chunk`` consecutive users."""
        return _rechunk(self.blocks(), self.config.num_users, users_per_chunk)

    def _rngs(self, b: int) -> tuple[np.random.Generator, np.random.Generator]:
        """The main and the extras generator of block ``b``."""
        if b == 0:
            main = np.random.Generator(np.random.PCG64(0))
            main.bit_generator.state = self._block0_state
        else:
            main = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(b,)))
        extras = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(b, 1)))
        return main, extras

    def _block(self, b: int, lo: int, hi: int) -> _Block:
        """Generate users ``lo <= u < hi``, which form random-number block ``b``."""
        cfg = self.config
        rng, extra_rng = self._rngs(b)
        n_users = hi - lo
        segment = rng.integers(cfg.num_segments, size=n_users)
        sessions = self._draw_sessions(rng, segment)
        views = self._draw_view_counts(rng, sessions.category.shape[0])
        if self.timeline is None:
            self._draw_view_items(rng, views, sessions.category)
            funnel = self._draw_funnel(rng, views.slot.shape[0])
            increments, user_start = self._draw_gaps(rng, sessions, views, funnel, n_users)
        else:
            funnel = self._draw_funnel(rng, views.slot.shape[0])
            increments, user_start = self._draw_gaps(rng, sessions, views, funnel, n_users)
            view_time = _event_times(increments, sessions.user[views.session[funnel.view]],
                                     user_start)[funnel.kind == 0]
            sessions.category = self.timeline.shift_categories(
                sessions.category, view_time[views.offset]
            )
            self._draw_view_items(rng, views, sessions.category, view_time)

        ev_slot, ev_sess, ev_kind = views.slot[funnel.view], views.session[funnel.view], funnel.kind
        ev_query = None
        if cfg.search_rate > 0 or cfg.repeat_buy_rate > 0:
            ev_slot, ev_sess, ev_kind, increments, ev_query = _with_extras(
                extra_rng,
                cfg,
                self.catalogue,
                view_slot=views.slot,
                view_off=views.offset,
                buy=funnel.buy,
                sess_user=sessions.user,
                sess_off=sessions.offset,
                n_sess=sessions.count,
                ev_view=funnel.view,
                ev_kind=funnel.kind,
                increments=increments,
            )

        # --- timestamps --------------------------------------------------------------
        n_sessions = sessions.category.shape[0]
        ev_user = sessions.user[ev_sess]
        timestamp = _event_times(increments, ev_user, user_start)
        sess_first = np.searchsorted(ev_sess, np.arange(n_sessions), side="left")
        return _Block(
            lo=lo,
            hi=hi,
            segment=segment.astype(np.int64),
            user=ev_user + lo,
            item=self.catalogue.item_of_slot[ev_slot],
            time=timestamp.astype(np.int64),
            kind=ev_kind.astype(np.int8),
            query=None if ev_query is None else ev_query.astype(np.int32),
            sess_user=sessions.user + lo,
            sess_index=np.arange(n_sessions) - sessions.offset[sessions.user],
            sess_cat=sessions.category,
            sess_start=timestamp[sess_first].astype(np.int64),
        )

    def _draw_sessions(self, rng: np.random.Generator, segment: np.ndarray) -> _Sessions:
        """Draw each user's number of sessions and the sessions' categories (step 3).

        Args:
            rng: The block's main generator.
            segment: Segment of each user, shape ``(n_users,)``.
        """
        cfg = self.config
        n_users = segment.shape[0]
        n_sess = 1 + rng.poisson(cfg.sessions_per_user - 1.0, size=n_users)
        sess_off = np.cumsum(n_sess) - n_sess
        sess_user = np.repeat(np.arange(n_users), n_sess)
        sess_cat = np.empty(sess_user.shape[0], dtype=np.int64)
        sess_cat[sess_off] = _draw_favourite(rng, self.favourites, self.fav_cdf, segment)
        for k in range(1, int(n_sess.max())):
            users = np.flatnonzero(n_sess > k)
            idx = sess_off[users] + k
            prev = sess_cat[idx - 1]
            drift = rng.random(users.shape[0]) < cfg.drift_prob
            to_neighbour = rng.random(users.shape[0]) < cfg.neighbour_drift
            step = np.where(rng.random(users.shape[0]) < 0.5, -1, 1)
            neighbour = (prev + step) % cfg.num_categories
            redraw = _draw_favourite(rng, self.favourites, self.fav_cdf, segment[users])
            sess_cat[idx] = np.where(drift, np.where(to_neighbour, neighbour, redraw), prev)
        return _Sessions(count=n_sess, offset=sess_off, user=sess_user, category=sess_cat)

    def _draw_view_counts(self, rng: np.random.Generator, n_sessions: int) -> _Views:
        """Draw each session's number of views (step 4); the slots are left to fill."""
        n_views = 1 + rng.poisson(self.config.events_per_session - 1.0, size=n_sessions)
        view_off = np.cumsum(n_views) - n_views
        view_slot = np.empty(int(n_views.sum()), dtype=np.int64)
        view_sess = np.repeat(np.arange(n_sessions), n_views)
        return _Views(count=n_views, offset=view_off, slot=view_slot, session=view_sess)

    def _draw_view_items(
        self,
        rng: np.random.Generator,
        views: _Views,
        sess_cat: np.ndarray,
        view_time: np.ndarray | None = None,
    ) -> None:
        """Draw the viewed items into ``views.slot`` (step 4).

        Args:
            rng: The block's main generator.
            views: The views, whose ``slot`` is filled.
            sess_cat: Category of each session, shape ``(n_sessions,)``.
            view_time: Time of each view before searches and repeats are inserted (they only
                delay it), shape ``(n_views,)``, when the shop is timed (step 9): items are
                then drawn among those launched by the start of the view's day.
        """
        cfg, catalogue, timeline = self.config, self.catalogue, self.timeline
        n_views, view_off, view_slot = views.count, views.offset, views.slot
        if timeline is None or view_time is None:
            def popular(cats: np.ndarray, idx: np.ndarray) -> np.ndarray:
                return catalogue.popular(rng, cats)

            def launched(slots: np.ndarray, idx: np.ndarray) -> np.ndarray | bool:
                return True
        else:
            days, day_pos = np.unique(timeline.day(view_time), return_inverse=True)
            keys, avail = timeline.day_table(days)

            def popular(cats: np.ndarray, idx: np.ndarray) -> np.ndarray:
                return timeline.popular(rng, cats, day_pos[idx], keys)

            def launched(slots: np.ndarray, idx: np.ndarray) -> np.ndarray | bool:
                return avail[day_pos[idx], slots]

        view_slot[view_off] = popular(sess_cat, view_off)
        for j in range(1, int(n_views.max())):
            sess = np.flatnonzero(n_views > j)
            idx = view_off[sess] + j
            prev = view_slot[idx - 1]
            follow = rng.random(sess.shape[0]) < cfg.transition_strength
            offsets = 1 + _cdf_pick(rng, self.succ_cdf, sess.shape[0])
            fresh = popular(sess_cat[sess], idx)
            step = catalogue.successor(prev, offsets)
            view_slot[idx] = np.where(follow & launched(step, idx), step, fresh)

    def _draw_funnel(self, rng: np.random.Generator, total_views: int) -> _Funnel:
        """Draw carts, favourites and purchases; expand each view into its events (step 5)."""
        cfg = self.config
        cart = rng.random(total_views) < cfg.cart_rate
        fav = rng.random(total_views) < cfg.fav_rate
        buy = cart & (rng.random(total_views) < cfg.buy_rate)
        flags = np.column_stack([np.ones(total_views, dtype=bool), cart, fav, buy])
        ev_view, ev_kind = np.nonzero(flags)  # row-major: grouped by view, funnel order
        return _Funnel(buy=buy, view=ev_view, kind=ev_kind)

    def _draw_gaps(
        self,
        rng: np.random.Generator,
        sessions: _Sessions,
        views: _Views,
        funnel: _Funnel,
        n_users: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw the time between events and each user's start time (step 8).

        Returns:
            Seconds since the user's previous event (0 for the first), shape
            ``(n_events,)``, and each user's first timestamp, shape ``(n_users,)``.
        """
        cfg = self.config
        total_views = views.slot.shape[0]
        first_in_sess = np.zeros(total_views, dtype=bool)
        first_in_sess[views.offset] = True
        first_in_user = np.zeros(total_views, dtype=bool)
        first_in_user[views.offset[sessions.offset]] = True
        view_gap = np.where(
            first_in_sess,
            _exp_seconds(rng, cfg.session_gap_hours * 3600.0, total_views, 1800),
            _exp_seconds(rng, cfg.event_gap_seconds, total_views, 5),
        )
        view_gap[first_in_user] = 0
        action_gap = _exp_seconds(rng, 5.0, funnel.view.shape[0], 1)
        increments = np.where(funnel.kind == 0, view_gap[funnel.view], action_gap)
        user_start = cfg.start_time + rng.integers(
            0, int(cfg.start_spread_days * 86400) + 1, size=n_users
        )
        return increments, user_start


def _event_times(
    increments: np.ndarray, ev_user: np.ndarray, user_start: np.ndarray
) -> np.ndarray:
    """Timestamps from the gaps since each user's previous event.

    Args:
        increments: Seconds since the user's previous event, shape ``(n_events,)``.
        ev_user: User (within the block) of each event, sorted, shape ``(n_events,)``.
        user_start: Each user's first timestamp, shape ``(n_users,)``.

    Returns:
        int64 timestamps, shape ``(n_events,)``.
    """
    elapsed = np.cumsum(increments, dtype=np.int64)
    first_event = np.searchsorted(ev_user, np.arange(user_start.shape[0]), side="left")
    return elapsed - elapsed[first_event][ev_user] + user_start[ev_user]


def _check_chunk_size(users_per_chunk: int) -> int:
    if int(users_per_chunk) < 1:
        raise ValueError(f"users_per_chunk must be >= 1, got {users_per_chunk}")
    return int(users_per_chunk)


def generate_events(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate a synthetic e-commerce event log in memory.

    The generative story and the use of random numbers are described in
    :mod:`recsft.data.synthetic`. The catalogue depends only on the catalogue parameters and
    the seed, not on the number of users. For logs too large for memory use
    :func:`iter_event_chunks` or :func:`~recsft.data.synthetic.write_events_csv`, which
    produce the same events.

    Args:
        config: Generator parameters; ``SyntheticConfig()`` when omitted.

    Returns:
        The events, the item catalogue, the users' latent segments and their sessions.
    """
    cfg = config if config is not None else SyntheticConfig()
    shop = _Shop(cfg)
    block = _Block.concat(list(shop.blocks()))
    return SyntheticData(
        events=_frame(shop.columns.event_columns(block)),
        items=shop.items_frame(),
        user_segments=_frame(shop.columns.segment_columns(block)),
        sessions=_frame(shop.columns.session_columns(block)),
    )


def iter_event_chunks(
    config: SyntheticConfig | None = None, users_per_chunk: int = 100_000
) -> Iterator[pd.DataFrame]:
    """Generate the event log chunk by chunk, for logs too large for memory.

    Chunk ``k`` holds the events of users ``k * users_per_chunk`` up to (not including)
    ``(k + 1) * users_per_chunk``, in the same format and order as
    :attr:`SyntheticData.events`. The concatenated chunks equal
    ``generate_events(config).events`` for every ``users_per_chunk``: random numbers are
    drawn per fixed block of users (see :mod:`recsft.data.synthetic`), not per chunk. At most
    one chunk plus one random-number block of users (50,000) is held in memory at a time.

    Args:
        config: Generator parameters; ``SyntheticConfig()`` when omitted.
        users_per_chunk: Number of users per yielded chunk (the last may have fewer).

    Yields:
        One events DataFrame per chunk of users.

    Raises:
        ValueError: If ``users_per_chunk`` is below 1.
    """
    size = _check_chunk_size(users_per_chunk)
    shop = _Shop(config if config is not None else SyntheticConfig())
    for block in shop.chunks(size):
        yield _frame(shop.columns.event_columns(block))
