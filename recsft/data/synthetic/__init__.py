"""Seeded synthetic e-commerce behaviour data: the package's embedded default dataset.

The generator produces a click-stream that looks like a small online shop: users browse
items in sessions, some views turn into carts, favourites and purchases, some sessions start
with a search query, and consumables are bought again. It is built to carry a *sequential*
signal that a sequence model can learn but a most-popular baseline cannot, so that models and
evaluation code can be exercised without downloading anything.

Generative story:

1. **Catalogue.** ``num_items`` items are spread over ``num_categories`` categories. The
   items of each category form a ring (a "product line", e.g. an accessory chain), in a
   hidden random order that is unrelated to the item ids. Each item also has a Zipf
   popularity weight within its category (``popularity_exponent``), assigned independently
   of its ring position, and a title ``"<adjective> <colour> <noun> (<category name>)"``
   whose noun belongs to the category. Categories named beauty, pet supplies, grocery,
   health and baby (the 5th, 12th, 13th, 16th and 18th of every 20) are *consumables*.
2. **Users.** Every user belongs to one of ``num_segments`` latent segments; each segment
   favours ``segment_categories`` categories with weights ``1, 1/2, 1/3, ...``.
3. **Sessions.** A user has ``1 + Poisson(sessions_per_user - 1)`` sessions. Each session
   focuses on one category. The first session's category is drawn from the segment's
   favourites; between sessions the category drifts with probability ``drift_prob``,
   either to a neighbouring category (``c - 1`` or ``c + 1``, with probability
   ``neighbour_drift``) or to a fresh draw from the segment's favourites. The sequence of
   session categories is returned as :attr:`SyntheticData.sessions` (ground truth for
   interest-drift metrics).
4. **Views.** A session has ``1 + Poisson(events_per_session - 1)`` views. The first view
   is a popularity-weighted draw from the session category. Each further view is, with
   probability ``transition_strength``, one of the next 1-3 items after the previous one
   on the category ring (offsets weighted by ``successor_weights``), and otherwise a fresh
   popularity-weighted draw from the category.
5. **Funnel.** After each view the user adds the item to the cart with probability
   ``cart_rate``, a cart is followed by a purchase with probability ``buy_rate``, and the
   item is favourited independently with probability ``fav_rate``. Items can be viewed
   and bought again by chance, so repeated purchases happen even without step 7, but rarely.
6. **Searches** (optional, ``search_rate``, off by default). With probability
   ``search_rate`` a session begins with a ``"search"`` event. Its ``item_id`` is the item
   the search led to, i.e. the session's first view, and its ``query`` is written from that
   item's title: the noun (35 %), colour + noun (25 %), adjective + noun (15 %),
   adjective + colour + noun (10 %) or the category name (15 %), e.g. ``"navy hoodie"``.
   Events then carry a ``query`` column, empty (NaN) on every non-search event; without
   searches the column is absent.
7. **Repeat purchases** (optional, ``repeat_buy_rate``, off by default). Every purchase of a
   consumable is, with probability ``repeat_buy_rate``, repeated ``G`` sessions later, where
   ``G`` is ``Geometric(1/2)`` (1, 2, ... sessions, mean 2), if the user has that many
   sessions left. The repeat is a view → cart → buy of the same item appended to the end
   of that later session, and is itself repeated by the same rule, so a consumable can be
   re-ordered several times. Repeats do not change a session's category.
8. **Time.** Users start at ``start_time`` plus a uniform offset of up to
   ``start_spread_days``; sessions are separated by ``30 min + Exponential`` gaps of mean
   ``session_gap_hours``, views within a session by ``5 s + Exponential`` gaps of mean
   ``event_gap_seconds``, and cart/fav/buy events follow their view by ``1 s +
   Exponential(5 s)``. A search takes the session's start time and its click follows
   ``2 s + Exponential(15 s)`` later. Timestamps are strictly increasing within a user.
9. **A shop over time** (optional, off by default; :mod:`~recsft.data.synthetic.timeline`).
   With ``launch_spread_days > 0`` a share ``new_item_share`` of the items launch at uniform
   times over that many days from ``start_time`` (the items table gets a ``launch_time``
   column) and are never drawn before their launch; a new item's popularity is raised by
   ``novelty_boost`` times its category's best seller's, halving every
   ``novelty_half_life_days``, so new items are viewed and bought. With
   ``trend_period_days > 0`` every session's category moves along the category ring with
   its start time, once round per period, so the categories in demand change from week to
   week. Either one draws the times before the items (see
   :mod:`~recsft.data.synthetic.generator`), so it changes every event of the shop.

Randomness and scale: the catalogue and the segments' favourites are drawn first from
``numpy.random.default_rng(seed)``, so they depend only on the catalogue parameters and the
seed. Users are then generated in fixed blocks of 50,000 (user ``u`` is in block
``u // 50_000``): block 0 continues that same generator, block ``b >= 1`` uses
``default_rng(SeedSequence(seed, spawn_key=(b,)))``. The optional searches and repeat
purchases of block ``b`` draw from their own stream, ``SeedSequence(seed, spawn_key=(b, 1))``,
so switching them on inserts events but leaves every other event's user, item and type (not
its timestamp) unchanged. The output therefore does not depend on how it is consumed:
:func:`generate_events`, :func:`iter_event_chunks` with any ``users_per_chunk`` and
:func:`write_events_csv` give the same events. Configurations with at most 50,000 users
produce exactly what the single-stream generator of earlier versions produced.

Generation is vectorised over users and sessions (Python loops run only over the session
index and the position within a session). The default config takes well under a second;
:func:`write_events_csv` streams ten million events (about 342,000 users at the default
rates) to disk in under ten seconds on two cores, holding only one chunk of users in memory
(well under 1 GiB with the default ``users_per_chunk``).

Modules: :mod:`~recsft.data.synthetic.config` (the parameters and event types),
:mod:`~recsft.data.synthetic.catalogue` (step 1), :mod:`~recsft.data.synthetic.generator`
(steps 2-5 and 8, in random-number blocks), :mod:`~recsft.data.synthetic.extras` (steps 6
and 7), :mod:`~recsft.data.synthetic.timeline` (step 9),
:mod:`~recsft.data.synthetic.block` (a block of users as integer codes, re-cut into
chunks), :mod:`~recsft.data.synthetic.tables` (:class:`SyntheticData` and its CSV files) and
:mod:`~recsft.data.synthetic.stream` (:func:`write_events_csv`); :mod:`~recsft.data.synthetic.draws`
holds the shared random draws.

Example:
    >>> from recsft.data.synthetic import SyntheticConfig, generate_events
    >>> data = generate_events(SyntheticConfig(num_users=50, num_items=100, seed=1))
    >>> list(data.events.columns)
    ['user_id', 'item_id', 'timestamp', 'event_type']
    >>> sorted(set(data.events["event_type"])) <= ["buy", "cart", "fav", "view"]
    True
    >>> data.items.shape[0]
    100
    >>> list(data.sessions.columns)
    ['user_id', 'session', 'category', 'start_time']
    >>> searched = generate_events(SyntheticConfig(num_users=50, search_rate=0.5, seed=1))
    >>> list(searched.events.columns)
    ['user_id', 'item_id', 'timestamp', 'event_type', 'query']
"""

from recsft.data.synthetic.config import (
    EVENT_TYPES,
    SEARCH_EVENT,
    SyntheticConfig,
    expected_events_per_user,
)
from recsft.data.synthetic.generator import generate_events, iter_event_chunks
from recsft.data.synthetic.stream import write_events_csv
from recsft.data.synthetic.tables import SyntheticData

__all__ = [
    "EVENT_TYPES",
    "SEARCH_EVENT",
    "SyntheticConfig",
    "SyntheticData",
    "expected_events_per_user",
    "generate_events",
    "iter_event_chunks",
    "write_events_csv",
]
