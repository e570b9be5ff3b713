"""The optional events of the synthetic shop: searches and repeat purchases.

Steps 6 and 7 of the generative story (see :mod:`recsft.data.synthetic`). Both draw from a
random-number stream of their own (``SeedSequence(seed, spawn_key=(b, 1))`` for block ``b``),
so switching them on inserts events but leaves every other event's user, item and type
unchanged; only timestamps move.

Draw order within a block (part of the output): the repeat purchases (one geometric gap and
one uniform per pending purchase, round after round), then the searches (one uniform per
session, one query form and one click gap per search), then the time gaps of the repeats (one
view gap, then a cart and a buy gap, per repeat).

Example:
    >>> from recsft.data.synthetic import SyntheticConfig, generate_events
    >>> events = generate_events(SyntheticConfig(num_users=20, search_rate=0.5, seed=1)).events
    >>> bool((events["event_type"] == "search").any())
    True
"""

from __future__ import annotations

import numpy as np

from recsft.data.synthetic.catalogue import _Catalogue
from recsft.data.synthetic.config import _SEARCH_CODE, SyntheticConfig
from recsft.data.synthetic.draws import _cdf_pick, _exp_seconds

#: Probability of a repeat purchase happening in each further session (Geometric gap).
_REPEAT_GAP_P = 0.5

#: Probabilities of the query forms: noun, colour + noun, adjective + noun,
#: adjective + colour + noun, category name.
_QUERY_FORM_P: tuple[float, ...] = (0.35, 0.25, 0.15, 0.10, 0.15)

#: Cumulative probabilities of the query forms.
_FORM_CDF = np.cumsum(_QUERY_FORM_P) / sum(_QUERY_FORM_P)


def _repeat_purchases(
    rng: np.random.Generator,
    config: SyntheticConfig,
    catalogue: _Catalogue,
    view_slot: np.ndarray,
    view_sess: np.ndarray,
    buy: np.ndarray,
    sess_user: np.ndarray,
    sess_off: np.ndarray,
    n_sess: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sessions and slots of the repeat purchases (unordered).

    Args:
        rng: The block's extras generator.
        config: Generator parameters.
        catalogue: The drawn catalogue.
        view_slot: Slot of each view, shape ``(n_views,)``.
        view_sess: Session of each view, shape ``(n_views,)``.
        buy: Whether each view led to a purchase, shape ``(n_views,)``.
        sess_user: User (within the block) of each session, shape ``(n_sessions,)``.
        sess_off: Index of each user's first session, shape ``(n_users,)``.
        n_sess: Sessions of each user, shape ``(n_users,)``.

    Returns:
        The session each repeat is appended to and its slot, both shape ``(n_repeats,)``.
    """
    rate = config.repeat_buy_rate
    if rate <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    bought = np.flatnonzero(buy & catalogue.consumable[catalogue.cat_of_slot[view_slot]])
    sess, slot = view_sess[bought], view_slot[bought]
    user = sess_user[sess]
    left = sess_off[user] + n_sess[user] - 1 - sess  # sessions after this one
    out_sess, out_slot = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    while sess.size:
        gap = rng.geometric(_REPEAT_GAP_P, size=sess.size)
        keep = (rng.random(sess.size) < rate) & (gap <= left)
        sess, slot, left = sess[keep] + gap[keep], slot[keep], left[keep] - gap[keep]
        out_sess.append(sess)
        out_slot.append(slot)
    return np.concatenate(out_sess), np.concatenate(out_slot)


def _draw_searches(
    rng: np.random.Generator,
    config: SyntheticConfig,
    catalogue: _Catalogue,
    view_slot: np.ndarray,
    view_off: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sessions that begin with a search, and each search's item, query and click gap.

    Args:
        rng: The block's extras generator.
        config: Generator parameters (``search_rate > 0``).
        catalogue: The drawn catalogue.
        view_slot: Slot of each view, shape ``(n_views,)``.
        view_off: Index of each session's first view, shape ``(n_sessions,)``.

    Returns:
        Per search, shape ``(n_searches,)`` each: its session, the slot of the item it led
        to (the session's first view), its query's vocabulary index and the seconds until
        the click.
    """
    n_sessions = view_off.shape[0]
    search_sess = np.flatnonzero(rng.random(n_sessions) < config.search_rate)
    search_slot = view_slot[view_off[search_sess]]
    form = _cdf_pick(rng, _FORM_CDF, search_sess.shape[0])
    search_query = catalogue.query_codes(catalogue.item_of_slot[search_slot], form)
    click_gap = _exp_seconds(rng, 15.0, search_sess.shape[0], 2)
    return search_sess, search_slot, search_query, click_gap


def _with_extras(
    rng: np.random.Generator,
    config: SyntheticConfig,
    catalogue: _Catalogue,
    *,
    view_slot: np.ndarray,
    view_off: np.ndarray,
    buy: np.ndarray,
    sess_user: np.ndarray,
    sess_off: np.ndarray,
    n_sess: np.ndarray,
    ev_view: np.ndarray,
    ev_kind: np.ndarray,
    increments: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Insert searches and repeat purchases into a block's regular events.

    Args:
        rng: The block's extras generator.
        config: Generator parameters.
        catalogue: The drawn catalogue.
        view_slot: Slot of each view, shape ``(n_views,)``.
        view_off: Index of each session's first view, shape ``(n_sessions,)``.
        buy: Whether each view led to a purchase, shape ``(n_views,)``.
        sess_user: User (within the block) of each session, shape ``(n_sessions,)``.
        sess_off: Index of each user's first session, shape ``(n_users,)``.
        n_sess: Sessions of each user, shape ``(n_users,)``.
        ev_view: View of each regular event, shape ``(n_events,)``.
        ev_kind: Type code of each regular event, shape ``(n_events,)``.
        increments: Seconds since the user's previous event, shape ``(n_events,)``.

    Returns:
        Per event, in the final order: slot, session, type code, time increment and
        query code (``None`` when searches are disabled).
    """
    cfg = config
    n_sessions = view_off.shape[0]
    n_views = np.diff(np.append(view_off, view_slot.shape[0]))
    view_sess = np.repeat(np.arange(n_sessions), n_views)
    rep_sess, rep_slot = _repeat_purchases(
        rng, cfg, catalogue, view_slot, view_sess, buy, sess_user, sess_off, n_sess
    )
    if cfg.search_rate > 0:
        search_sess, search_slot, search_query, click_gap = _draw_searches(
            rng, cfg, catalogue, view_slot, view_off
        )
    else:
        search_sess = search_slot = search_query = click_gap = np.empty(0, np.int64)
    n_rep = rep_sess.shape[0]
    rep_view_gap = _exp_seconds(rng, cfg.event_gap_seconds, n_rep, 5)
    rep_action_gap = _exp_seconds(rng, 5.0, 2 * n_rep, 1).reshape(n_rep, 2)

    # A search takes over its session's start gap; its click follows a few seconds later.
    increments = increments.copy()
    view_event = np.flatnonzero(ev_kind == 0)
    first_view_event = view_event[view_off[search_sess]]
    search_gap = increments[first_view_event]
    increments[first_view_event] = click_gap

    # Order key: session, then position in the session, then funnel rank (search first).
    order = np.argsort(rep_sess, kind="stable")
    rep_sess, rep_slot = rep_sess[order], rep_slot[order]
    rep_rank = np.arange(n_rep) - np.searchsorted(rep_sess, rep_sess, side="left")
    rep_pos = n_views[rep_sess] + rep_rank
    max_pos = int(n_views.max()) + (int(rep_rank.max()) + 1 if n_rep else 0)
    stride = 8 * (max_pos + 1)
    ev_sess = view_sess[ev_view]
    reg_key = ev_sess * stride + (ev_view - view_off[ev_sess]) * 8 + ev_kind + 1
    rep_kind = np.tile(np.array([0, 1, 3]), n_rep)
    rep_ev_sess = np.repeat(rep_sess, 3)
    rep_key = rep_ev_sess * stride + np.repeat(rep_pos, 3) * 8 + rep_kind + 1
    rep_incr = np.column_stack([rep_view_gap, rep_action_gap]).ravel()

    key = np.concatenate([reg_key, search_sess * stride, rep_key])
    final = np.argsort(key, kind="stable")
    slot = np.concatenate([view_slot[ev_view], search_slot, np.repeat(rep_slot, 3)])
    sess = np.concatenate([ev_sess, search_sess, rep_ev_sess])
    kind = np.concatenate([ev_kind, np.full(search_sess.shape[0], _SEARCH_CODE), rep_kind])
    incr = np.concatenate([increments, search_gap, rep_incr])
    query = None
    if cfg.search_rate > 0:
        query = np.concatenate(
            [
                np.full(ev_kind.shape[0], -1, np.int64),
                search_query,
                np.full(3 * n_rep, -1, np.int64),
            ]
        )[final]
    return slot[final], sess[final], kind[final], incr[final], query
