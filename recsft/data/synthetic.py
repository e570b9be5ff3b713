"""Seeded synthetic e-commerce behaviour data: the package's embedded default dataset.

The generator produces a click-stream that looks like a small online shop: users browse
items in sessions, some views turn into carts, favourites and purchases. It is built to
carry a *sequential* signal that a sequence model can learn but a most-popular baseline
cannot, so that models and evaluation code can be exercised without downloading anything.

Generative story:

1. **Catalogue.** ``num_items`` items are spread over ``num_categories`` categories. The
   items of each category form a ring (a "product line", e.g. an accessory chain), in a
   hidden random order that is unrelated to the item ids. Each item also has a Zipf
   popularity weight within its category (``popularity_exponent``), assigned independently
   of its ring position.
2. **Users.** Every user belongs to one of ``num_segments`` latent segments; each segment
   favours ``segment_categories`` categories with decreasing weights.
3. **Sessions.** A user has ``1 + Poisson(sessions_per_user - 1)`` sessions. Each session
   focuses on one category. The first session's category is drawn from the segment's
   favourites; between sessions the category drifts with probability ``drift_prob``,
   either to a neighbouring category (``c - 1`` or ``c + 1``, with probability
   ``neighbour_drift``) or to a fresh draw from the segment's favourites.
4. **Views.** A session has ``1 + Poisson(events_per_session - 1)`` views. The first view
   is a popularity-weighted draw from the session category. Each further view is, with
   probability ``transition_strength``, one of the next 1-3 items after the previous one
   on the category ring (offsets weighted by ``successor_weights``), and otherwise a fresh
   popularity-weighted draw from the category.
5. **Funnel.** After each view the user adds the item to the cart with probability
   ``cart_rate``, a cart is followed by a purchase with probability ``buy_rate``, and the
   item is favourited independently with probability ``fav_rate``. Items can be viewed
   and bought again, so repeated purchases happen, but rarely.
6. **Time.** Users start at ``start_time`` plus a uniform offset of up to
   ``start_spread_days``; sessions are separated by exponential gaps of hours to days,
   views within a session by tens of seconds to minutes, and cart/fav/buy events follow
   their view within seconds. Timestamps are strictly increasing within a user.

Generation is vectorised over users and sessions (Python loops run only over the session
index and the position within a session), so the default config takes well under a
second and a few hundred thousand users take tens of seconds.

Example:
    >>> from recsft.data.synthetic import SyntheticConfig, generate_events
    >>> data = generate_events(SyntheticConfig(num_users=50, num_items=100, seed=1))
    >>> list(data.events.columns)
    ['user_id', 'item_id', 'timestamp', 'event_type']
    >>> sorted(set(data.events["event_type"])) <= ["buy", "cart", "fav", "view"]
    True
    >>> data.items.shape[0]
    100
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "EVENT_TYPES",
    "SyntheticConfig",
    "SyntheticData",
    "generate_events",
]

#: Event types in funnel order; within one step they are emitted in this order.
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "fav", "buy")

_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apparel", ("shirt", "jacket", "hoodie", "dress", "scarf")),
    ("footwear", ("sneakers", "boots", "sandals", "loafers", "slippers")),
    ("electronics", ("headphones", "charger", "speaker", "cable", "power bank")),
    ("kitchen", ("pan", "knife set", "kettle", "mug", "cutting board")),
    ("beauty", ("lipstick", "face cream", "serum", "brush set", "perfume")),
    ("toys", ("puzzle", "building set", "plush bear", "toy car", "board game")),
    ("sports", ("yoga mat", "dumbbell", "water bottle", "jump rope", "tennis racket")),
    ("books", ("novel", "cookbook", "notebook", "comic", "travel guide")),
    ("garden", ("planter", "hose", "seed kit", "trowel", "watering can")),
    ("home decor", ("lamp", "cushion", "vase", "picture frame", "rug")),
    ("jewelry", ("necklace", "ring", "bracelet", "earrings", "watch")),
    ("pet supplies", ("dog leash", "cat toy", "pet bed", "food bowl", "collar")),
    ("grocery", ("coffee beans", "green tea", "olive oil", "granola", "honey")),
    ("office", ("desk organizer", "pen set", "stapler", "desk lamp", "planner")),
    ("automotive", ("car charger", "seat cover", "floor mat", "phone mount", "wax")),
    ("health", ("vitamins", "thermometer", "first aid kit", "massager", "scale")),
    ("music", ("guitar strings", "ukulele", "capo", "drumsticks", "tuner")),
    ("baby", ("bib", "pacifier", "baby blanket", "rattle", "sippy cup")),
    ("tools", ("screwdriver", "drill bits", "tape measure", "hammer", "wrench")),
    ("outdoor", ("tent", "backpack", "sleeping bag", "headlamp", "camp stove")),
)

_ADJECTIVES: tuple[str, ...] = (
    "soft",
    "classic",
    "compact",
    "deluxe",
    "eco",
    "premium",
    "slim",
    "sturdy",
    "vintage",
    "modern",
    "handmade",
    "lightweight",
    "smart",
    "cozy",
    "travel",
    "pro",
)

_COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "blue",
    "red",
    "green",
    "grey",
    "beige",
    "navy",
    "pink",
    "olive",
)


@dataclass
class SyntheticConfig:
    """Parameters of the synthetic e-commerce event generator.

    See the module docstring for the generative story these parameters control.

    Args:
        num_users: Number of users.
        num_items: Number of items in the catalogue (at least ``num_categories``).
        num_categories: Number of item categories; each category is one product ring.
        num_segments: Number of latent user segments.
        segment_categories: How many favourite categories each segment has.
        sessions_per_user: Mean number of sessions per user; each user draws
            ``1 + Poisson(sessions_per_user - 1)`` sessions, so every user has at least one.
        events_per_session: Mean number of views per session, drawn as
            ``1 + Poisson(events_per_session - 1)``.
        drift_prob: Probability that the session category changes between two consecutive
            sessions of a user.
        neighbour_drift: Given a drift, probability of moving to a neighbouring category
            (``c - 1`` or ``c + 1``) instead of re-drawing from the segment's favourites.
        popularity_exponent: Zipf exponent of item popularity within a category; 0 gives
            uniform popularity, larger values a more skewed one.
        transition_strength: Probability that the next view of a session follows the
            previous item along the category ring rather than being a popularity draw.
        successor_weights: Relative weights of stepping 1, 2, 3, ... items ahead on the
            ring when following the previous item.
        cart_rate: Probability that a view is followed by a cart event on the same item.
        fav_rate: Probability that a view is followed by a fav event (independent of carts).
        buy_rate: Probability that a cart is followed by a buy event.
        start_time: Earliest possible timestamp, in unix seconds.
        start_spread_days: Users' first events are spread uniformly over this many days.
        session_gap_hours: Mean of the exponential gap between sessions (plus 30 minutes).
        event_gap_seconds: Mean of the exponential gap between views in a session
            (plus 5 seconds).
        seed: Seed for ``numpy.random.default_rng``; the same seed gives identical data.

    Attributes:
        num_users: See Args.
        num_items: See Args.
        num_categories: See Args.
        num_segments: See Args.
        segment_categories: See Args.
        sessions_per_user: See Args.
        events_per_session: See Args.
        drift_prob: See Args.
        neighbour_drift: See Args.
        popularity_exponent: See Args.
        transition_strength: See Args.
        successor_weights: See Args.
        cart_rate: See Args.
        fav_rate: See Args.
        buy_rate: See Args.
        start_time: See Args.
        start_spread_days: See Args.
        session_gap_hours: See Args.
        event_gap_seconds: See Args.
        seed: See Args.
    """

    num_users: int = 3000
    num_items: int = 1000
    num_categories: int = 20
    num_segments: int = 6
    segment_categories: int = 3
    sessions_per_user: float = 6.0
    events_per_session: float = 4.0
    drift_prob: float = 0.3
    neighbour_drift: float = 0.3
    popularity_exponent: float = 1.0
    transition_strength: float = 0.75
    successor_weights: tuple[float, ...] = (0.7, 0.2, 0.1)
    cart_rate: float = 0.12
    fav_rate: float = 0.05
    buy_rate: float = 0.4
    start_time: int = 1_600_000_000
    start_spread_days: float = 30.0
    session_gap_hours: float = 36.0
    event_gap_seconds: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate the configuration.

        Raises:
            ValueError: If a count is non-positive, a probability lies outside [0, 1], or
                the catalogue has fewer items than categories.
        """
        for name in ("num_users", "num_items", "num_categories", "num_segments"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_items < self.num_categories:
            raise ValueError("num_items must be >= num_categories")
        if not 1 <= self.segment_categories <= self.num_categories:
            raise ValueError("segment_categories must be in [1, num_categories]")
        if self.sessions_per_user < 1 or self.events_per_session < 1:
            raise ValueError("sessions_per_user and events_per_session must be >= 1")
        for name in (
            "drift_prob",
            "neighbour_drift",
            "transition_strength",
            "cart_rate",
            "fav_rate",
            "buy_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.popularity_exponent < 0:
            raise ValueError("popularity_exponent must be >= 0")
        weights = np.asarray(self.successor_weights, dtype=float)
        if weights.ndim != 1 or weights.size == 0 or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("successor_weights must be a non-empty list of weights >= 0")
        if min(self.start_spread_days, self.session_gap_hours, self.event_gap_seconds) < 0:
            raise ValueError("time parameters must be >= 0")


@dataclass
class SyntheticData:
    """Output of :func:`generate_events`.

    Attributes:
        events: One row per event with columns ``user_id`` (str, e.g. ``"u00017"``),
            ``item_id`` (str, e.g. ``"i0042"``), ``timestamp`` (int64 unix seconds,
            strictly increasing within a user) and ``event_type`` (one of
            :data:`EVENT_TYPES`), sorted by user then time.
        items: The catalogue, with columns ``item_id``, ``category`` (str, e.g. ``"c03"``)
            and ``title`` (a short readable fake product title), sorted by ``item_id``.
        user_segments: Latent segment of every user, with columns ``user_id`` and
            ``segment`` (int).
    """

    events: pd.DataFrame
    items: pd.DataFrame
    user_segments: pd.DataFrame

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``events.csv``, ``items.csv`` and ``segments.csv`` into ``directory``.

        Each file is first written under a temporary name in the same directory and then
        moved into place with :func:`os.replace`, so no half-written file is left behind.

        Args:
            directory: Target directory; created if missing.

        Returns:
            The directory as a :class:`pathlib.Path`.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in (
            ("events.csv", self.events),
            ("items.csv", self.items),
            ("segments.csv", self.user_segments),
        ):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
            try:
                with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                    frame.to_csv(handle, index=False)
                os.replace(tmp, out / name)
            except BaseException:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SyntheticData:
        """Read data written by :meth:`save`.

        Args:
            directory: Directory containing ``events.csv``, ``items.csv`` and
                ``segments.csv``.

        Returns:
            The loaded data, with id columns as strings and timestamps as int64.
        """
        src = Path(directory)
        events = pd.read_csv(
            src / "events.csv",
            dtype={"user_id": str, "item_id": str, "event_type": str, "timestamp": np.int64},
        )
        items = pd.read_csv(
            src / "items.csv", dtype={"item_id": str, "category": str, "title": str}
        )
        segments = pd.read_csv(src / "segments.csv", dtype={"user_id": str, "segment": np.int64})
        return cls(events=events, items=items, user_segments=segments)


def _ids(prefix: str, count: int, min_width: int) -> np.ndarray:
    """Return zero-padded string ids ``prefix0000...`` as an object array."""
    width = max(min_width, len(str(count - 1)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(count)], dtype=object)


def _category_names(num_categories: int) -> list[str]:
    """Readable category names, suffixed with a number once the word list runs out."""
    names = []
    for c in range(num_categories):
        base, _ = _CATEGORY_WORDS[c % len(_CATEGORY_WORDS)]
        rnd = c // len(_CATEGORY_WORDS)
        names.append(base if rnd == 0 else f"{base} {rnd + 1}")
    return names


def _exp_seconds(rng: np.random.Generator, mean: float, size: int, floor: int) -> np.ndarray:
    """Integer gaps of ``floor + Exponential(mean)`` seconds (at least ``floor``)."""
    if mean <= 0:
        return np.full(size, floor, dtype=np.int64)
    return floor + np.floor(rng.exponential(mean, size=size)).astype(np.int64)


class _Catalogue:
    """Hidden catalogue structure used while sampling.

    Items are laid out in *slots* sorted by category; within a category, slot order is the
    ring order. ``item_of_slot`` maps slots to item indices (random, so item ids carry no
    information about the ring).
    """

    def __init__(self, config: SyntheticConfig, rng: np.random.Generator) -> None:
        n_items, n_cat = config.num_items, config.num_categories
        sizes = np.full(n_cat, n_items // n_cat, dtype=np.int64)
        sizes[: n_items % n_cat] += 1
        self.size = sizes
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.end = self.start + sizes
        self.cat_of_slot = np.repeat(np.arange(n_cat), sizes)
        self.item_of_slot = rng.permutation(n_items)

        # Zipf popularity within each category, independent of the ring position.
        cdf_parts = []
        for c in range(n_cat):
            ranks = rng.permutation(int(sizes[c])) + 1
            weights = ranks.astype(float) ** -config.popularity_exponent
            cdf = np.cumsum(weights) / weights.sum()
            cdf[-1] = 1.0
            cdf_parts.append(c + cdf)
        # Keys of category c lie in (c, c + 1], so a draw for category c is a single
        # searchsorted over the whole catalogue.
        self.pop_key = np.concatenate(cdf_parts)

    def popular(self, rng: np.random.Generator, cats: np.ndarray) -> np.ndarray:
        """Popularity-weighted slot draw inside each of ``cats``."""
        u = rng.random(cats.shape[0])
        slots = np.searchsorted(self.pop_key, cats + u, side="right")
        return np.clip(slots, self.start[cats], self.end[cats] - 1)

    def successor(self, slots: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Slot ``offsets`` steps further along the ring of each slot's category."""
        cats = self.cat_of_slot[slots]
        start, size = self.start[cats], self.size[cats]
        return start + (slots - start + offsets) % size


def _segment_preferences(
    config: SyntheticConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Favourite categories of every segment and their cumulative weights."""
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
    """Draw one favourite category per entry of ``segments``."""
    u = rng.random(segments.shape[0])
    pick = np.minimum(np.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1)
    return favourites[segments, pick]


def generate_events(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate a synthetic e-commerce event log.

    The generative story is described in the module docstring. All randomness comes from
    one ``numpy.random.default_rng(config.seed)``; the catalogue is drawn first, so it
    depends only on the catalogue parameters and the seed, not on the number of users.

    Args:
        config: Generator parameters; ``SyntheticConfig()`` when omitted.

    Returns:
        The events, the item catalogue and the users' latent segments.
    """
    cfg = config if config is not None else SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)

    # --- catalogue -------------------------------------------------------------------
    cat_ids = _ids("c", cfg.num_categories, 2)
    item_ids = _ids("i", cfg.num_items, 4)
    catalogue = _Catalogue(cfg, rng)
    item_cat = np.empty(cfg.num_items, dtype=np.int64)
    item_cat[catalogue.item_of_slot] = catalogue.cat_of_slot
    names = _category_names(cfg.num_categories)
    adjectives = rng.integers(len(_ADJECTIVES), size=cfg.num_items)
    colours = rng.integers(len(_COLOURS), size=cfg.num_items)
    nouns = rng.integers(len(_CATEGORY_WORDS[0][1]), size=cfg.num_items)
    titles = [
        f"{_ADJECTIVES[a]} {_COLOURS[b]} "
        f"{_CATEGORY_WORDS[c % len(_CATEGORY_WORDS)][1][n]} ({names[c]})"
        for a, b, n, c in zip(adjectives, colours, nouns, item_cat)
    ]
    items = pd.DataFrame(
        {"item_id": item_ids, "category": cat_ids[item_cat], "title": np.array(titles, object)}
    )

    # --- users and segments ----------------------------------------------------------
    favourites, fav_cdf = _segment_preferences(cfg, rng)
    n_users = cfg.num_users
    user_ids = _ids("u", n_users, 5)
    segment = rng.integers(cfg.num_segments, size=n_users)
    user_segments = pd.DataFrame({"user_id": user_ids, "segment": segment.astype(np.int64)})

    # --- sessions and their categories -----------------------------------------------
    n_sess = 1 + rng.poisson(cfg.sessions_per_user - 1.0, size=n_users)
    sess_off = np.cumsum(n_sess) - n_sess
    sess_user = np.repeat(np.arange(n_users), n_sess)
    sess_cat = np.empty(sess_user.shape[0], dtype=np.int64)
    sess_cat[sess_off] = _draw_favourite(rng, favourites, fav_cdf, segment)
    for k in range(1, int(n_sess.max())):
        users = np.flatnonzero(n_sess > k)
        idx = sess_off[users] + k
        prev = sess_cat[idx - 1]
        drift = rng.random(users.shape[0]) < cfg.drift_prob
        to_neighbour = rng.random(users.shape[0]) < cfg.neighbour_drift
        step = np.where(rng.random(users.shape[0]) < 0.5, -1, 1)
        neighbour = (prev + step) % cfg.num_categories
        redraw = _draw_favourite(rng, favourites, fav_cdf, segment[users])
        sess_cat[idx] = np.where(drift, np.where(to_neighbour, neighbour, redraw), prev)

    # --- views within sessions -------------------------------------------------------
    n_sessions = sess_cat.shape[0]
    n_views = 1 + rng.poisson(cfg.events_per_session - 1.0, size=n_sessions)
    view_off = np.cumsum(n_views) - n_views
    view_slot = np.empty(int(n_views.sum()), dtype=np.int64)
    view_slot[view_off] = catalogue.popular(rng, sess_cat)
    succ_w = np.asarray(cfg.successor_weights, dtype=float)
    succ_cdf = np.cumsum(succ_w) / succ_w.sum()
    for j in range(1, int(n_views.max())):
        sess = np.flatnonzero(n_views > j)
        idx = view_off[sess] + j
        prev = view_slot[idx - 1]
        follow = rng.random(sess.shape[0]) < cfg.transition_strength
        offsets = 1 + np.minimum(
            np.searchsorted(succ_cdf, rng.random(sess.shape[0]), side="right"),
            succ_cdf.shape[0] - 1,
        )
        fresh = catalogue.popular(rng, sess_cat[sess])
        view_slot[idx] = np.where(follow, catalogue.successor(prev, offsets), fresh)

    # --- funnel: expand each view into view [cart] [fav] [buy] -----------------------
    total_views = view_slot.shape[0]
    cart = rng.random(total_views) < cfg.cart_rate
    fav = rng.random(total_views) < cfg.fav_rate
    buy = cart & (rng.random(total_views) < cfg.buy_rate)
    flags = np.column_stack([np.ones(total_views, dtype=bool), cart, fav, buy])
    ev_view, ev_type = np.nonzero(flags)  # row-major: grouped by view, funnel order

    # --- timestamps ------------------------------------------------------------------
    view_sess = np.repeat(np.arange(n_sessions), n_views)
    first_in_sess = np.zeros(total_views, dtype=bool)
    first_in_sess[view_off] = True
    first_in_user = np.zeros(total_views, dtype=bool)
    first_in_user[view_off[sess_off]] = True
    view_gap = np.where(
        first_in_sess,
        _exp_seconds(rng, cfg.session_gap_hours * 3600.0, total_views, 1800),
        _exp_seconds(rng, cfg.event_gap_seconds, total_views, 5),
    )
    view_gap[first_in_user] = 0
    action_gap = _exp_seconds(rng, 5.0, ev_view.shape[0], 1)
    increments = np.where(ev_type == 0, view_gap[ev_view], action_gap)
    ev_user = sess_user[view_sess[ev_view]]
    user_start = cfg.start_time + rng.integers(
        0, int(cfg.start_spread_days * 86400) + 1, size=n_users
    )
    elapsed = np.cumsum(increments, dtype=np.int64)
    first_event = np.searchsorted(ev_user, np.arange(n_users), side="left")
    timestamp = elapsed - elapsed[first_event][ev_user] + user_start[ev_user]

    events = pd.DataFrame(
        {
            "user_id": user_ids[ev_user],
            "item_id": item_ids[catalogue.item_of_slot[view_slot[ev_view]]],
            "timestamp": timestamp.astype(np.int64),
            "event_type": np.array(EVENT_TYPES, dtype=object)[ev_type],
        }
    )
    return SyntheticData(events=events, items=items, user_segments=user_segments)
