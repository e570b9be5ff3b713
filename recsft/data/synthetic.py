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

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

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

#: Event types in funnel order; within one step they are emitted in this order.
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "fav", "buy")

#: Event type of a search (only emitted when ``SyntheticConfig.search_rate > 0``); it comes
#: right before the view of the item it led to.
SEARCH_EVENT: str = "search"

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


#: All event type names, indexed by the internal event type code.
_TYPE_NAMES: tuple[str, ...] = (*EVENT_TYPES, SEARCH_EVENT)
_SEARCH_CODE = len(EVENT_TYPES)

#: Users per random-number block; see "Randomness and scale" in the module docstring.
#: Changing it changes the output of every config with more users than this.
_RNG_BLOCK_USERS = 50_000

#: Category base names whose items are consumables (bought again, see ``repeat_buy_rate``).
_CONSUMABLES: frozenset[str] = frozenset({"beauty", "grocery", "pet supplies", "health", "baby"})

#: Probability of a repeat purchase happening in each further session (Geometric gap).
_REPEAT_GAP_P = 0.5

#: Probabilities of the query forms: noun, colour + noun, adjective + noun,
#: adjective + colour + noun, category name.
_QUERY_FORM_P: tuple[float, ...] = (0.35, 0.25, 0.15, 0.10, 0.15)


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
        search_rate: Probability that a session begins with a search event (0 disables
            searches and the ``query`` column).
        repeat_buy_rate: Probability that a purchase of a consumable is repeated in a later
            session of the same user (0 disables repeat purchases).

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
        search_rate: See Args.
        repeat_buy_rate: See Args.
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
    search_rate: float = 0.0
    repeat_buy_rate: float = 0.0

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
            "search_rate",
            "repeat_buy_rate",
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


def expected_events_per_user(config: SyntheticConfig) -> float:
    """Mean number of events per user implied by a config, without repeat purchases.

    Useful to pick ``num_users`` for a target log size: the default config gives about 29.2
    events per user. Repeat purchases (``repeat_buy_rate``) add a little on top.

    Args:
        config: Generator parameters.

    Returns:
        ``sessions_per_user * (search_rate + events_per_session * (1 + cart_rate + fav_rate
        + cart_rate * buy_rate))``.
    """
    per_view = 1.0 + config.cart_rate + config.fav_rate + config.cart_rate * config.buy_rate
    return config.sessions_per_user * (config.search_rate + config.events_per_session * per_view)


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
            and ``title`` (a short readable fake product title), sorted by ``item_id``.
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

        ``sessions.csv`` is written only when :attr:`sessions` is set. Each file is first
        written under a temporary name in the same directory and then moved into place with
        :func:`os.replace`, so no half-written file is left behind.

        Args:
            directory: Target directory; created if missing.

        Returns:
            The directory as a :class:`pathlib.Path`.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tables = [
            ("events.csv", self.events),
            ("items.csv", self.items),
            ("segments.csv", self.user_segments),
        ]
        if self.sessions is not None:
            tables.append(("sessions.csv", self.sessions))
        for name, frame in tables:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
            try:
                with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                    frame.to_csv(handle, index=False)
                os.chmod(tmp, 0o644)
                os.replace(tmp, out / name)
            except BaseException:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise
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

#: Generated values never contain a comma, quote or newline, so CSVs are written unquoted
#: (pyarrow raises rather than write an unquoted value that would need quotes).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def _ids(prefix: str, count: int, min_width: int) -> np.ndarray:
    """Return zero-padded string ids ``prefix0000...`` as an object array."""
    width = max(min_width, len(str(count - 1)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(count)], dtype=object)


def _id_range(prefix: str, lo: int, hi: int, width: int) -> pa.Array:
    """Ids ``prefix{lo}`` ... ``prefix{hi - 1}``, zero-padded to ``width``, as Arrow strings."""
    return pa.array([f"{prefix}{i:0{width}d}" for i in range(lo, hi)], type=pa.string())


def _str_column(values: pa.Array) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A pandas string column from Arrow strings; Arrow nulls become missing values."""
    if isinstance(_STR_DTYPE, pd.StringDtype):
        return pd.array(values, dtype=_STR_DTYPE)
    return values.to_numpy(zero_copy_only=False)


def _category_names(num_categories: int) -> list[str]:
    """Readable category names, suffixed with a number once the word list runs out."""
    names = []
    for c in range(num_categories):
        base, _ = _CATEGORY_WORDS[c % len(_CATEGORY_WORDS)]
        rnd = c // len(_CATEGORY_WORDS)
        names.append(base if rnd == 0 else f"{base} {rnd + 1}")
    return names


def _query_vocabulary(category_names: list[str]) -> list[str]:
    """Every possible search query, in the order that :meth:`_Shop.query_codes` indexes."""
    nouns = [noun for _, words in _CATEGORY_WORDS for noun in words]
    vocab = list(nouns)
    vocab += [f"{colour} {noun}" for colour in _COLOURS for noun in nouns]
    vocab += [f"{adj} {noun}" for adj in _ADJECTIVES for noun in nouns]
    vocab += [
        f"{adj} {colour} {noun}" for adj in _ADJECTIVES for colour in _COLOURS for noun in nouns
    ]
    return vocab + category_names


def _exp_seconds(rng: np.random.Generator, mean: float, size: int, floor: int) -> np.ndarray:
    """Integer gaps of ``floor + Exponential(mean)`` seconds (at least ``floor``)."""
    if mean <= 0:
        return np.full(size, floor, dtype=np.int64)
    return floor + np.floor(rng.exponential(mean, size=size)).astype(np.int64)


def _cdf_pick(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from the distribution with cumulative probabilities ``cdf``."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), cdf.shape[0] - 1)


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
    return favourites[segments, _cdf_pick(rng, cdf, segments.shape[0])]


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
        kind: Per event, the index into ``_TYPE_NAMES``.
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


class _Shop:
    """The drawn catalogue and segment preferences, and the per-block user generator."""

    def __init__(self, config: SyntheticConfig) -> None:
        cfg = self.config = config
        rng = np.random.default_rng(cfg.seed)
        self.catalogue = _Catalogue(cfg, rng)
        self.item_cat = np.empty(cfg.num_items, dtype=np.int64)
        self.item_cat[self.catalogue.item_of_slot] = self.catalogue.cat_of_slot
        self.adjective = rng.integers(len(_ADJECTIVES), size=cfg.num_items)
        self.colour = rng.integers(len(_COLOURS), size=cfg.num_items)
        self.noun = rng.integers(len(_CATEGORY_WORDS[0][1]), size=cfg.num_items)
        self.favourites, self.fav_cdf = _segment_preferences(cfg, rng)
        # Block 0 continues this generator (see the module docstring).
        self._block0_state = rng.bit_generator.state

        self.names = _category_names(cfg.num_categories)
        self.cat_ids = _ids("c", cfg.num_categories, 2)
        self.item_ids = _ids("i", cfg.num_items, 4)
        self.user_width = max(5, len(str(cfg.num_users - 1)))
        self.consumable = np.array(
            [
                _CATEGORY_WORDS[c % len(_CATEGORY_WORDS)][0] in _CONSUMABLES
                for c in range(cfg.num_categories)
            ]
        )
        succ_w = np.asarray(cfg.successor_weights, dtype=float)
        self.succ_cdf = np.cumsum(succ_w) / succ_w.sum()
        self.form_cdf = np.cumsum(_QUERY_FORM_P) / sum(_QUERY_FORM_P)
        self.arrow_items = pa.array(list(self.item_ids), type=pa.string())
        self.arrow_cats = pa.array(list(self.cat_ids), type=pa.string())
        self.arrow_types = pa.array(list(_TYPE_NAMES), type=pa.string())
        self.arrow_queries = (
            pa.array(_query_vocabulary(self.names), type=pa.string())
            if cfg.search_rate > 0
            else None
        )

    # --- catalogue ---------------------------------------------------------------------

    def items_frame(self) -> pd.DataFrame:
        """The catalogue table: ``item_id``, ``category`` and ``title``."""
        names = self.names
        titles = [
            f"{_ADJECTIVES[a]} {_COLOURS[b]} "
            f"{_CATEGORY_WORDS[c % len(_CATEGORY_WORDS)][1][n]} ({names[c]})"
            for a, b, n, c in zip(self.adjective, self.colour, self.noun, self.item_cat)
        ]
        return pd.DataFrame(
            {
                "item_id": self.item_ids,
                "category": self.cat_ids[self.item_cat],
                "title": np.array(titles, object),
            }
        )

    def query_codes(self, items: np.ndarray, form: np.ndarray) -> np.ndarray:
        """Vocabulary index of the query of ``form`` written from each item's title."""
        per_cat = len(_CATEGORY_WORDS[0][1])
        n_noun, n_col, n_adj = len(_CATEGORY_WORDS) * per_cat, len(_COLOURS), len(_ADJECTIVES)
        cat = self.item_cat[items]
        noun = (cat % len(_CATEGORY_WORDS)) * per_cat + self.noun[items]
        adj, col = self.adjective[items], self.colour[items]
        base1 = n_noun
        base2 = base1 + n_col * n_noun
        base3 = base2 + n_adj * n_noun
        base4 = base3 + n_adj * n_col * n_noun
        return np.select(
            [form == 0, form == 1, form == 2, form == 3],
            [
                noun,
                base1 + col * n_noun + noun,
                base2 + adj * n_noun + noun,
                base3 + (adj * n_col + col) * n_noun + noun,
            ],
            default=base4 + cat,
        )

    # --- users -------------------------------------------------------------------------

    def blocks(self) -> Iterator[_Block]:
        """Generate all users, one random-number block at a time."""
        n = self.config.num_users
        for b, lo in enumerate(range(0, n, _RNG_BLOCK_USERS)):
            yield self._block(b, lo, min(n, lo + _RNG_BLOCK_USERS))

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
        cfg, catalogue = self.config, self.catalogue
        rng, extra_rng = self._rngs(b)
        n_users = hi - lo
        segment = rng.integers(cfg.num_segments, size=n_users)

        # --- sessions and their categories -------------------------------------------
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

        # --- views within sessions ---------------------------------------------------
        n_sessions = sess_cat.shape[0]
        n_views = 1 + rng.poisson(cfg.events_per_session - 1.0, size=n_sessions)
        view_off = np.cumsum(n_views) - n_views
        view_slot = np.empty(int(n_views.sum()), dtype=np.int64)
        view_slot[view_off] = catalogue.popular(rng, sess_cat)
        for j in range(1, int(n_views.max())):
            sess = np.flatnonzero(n_views > j)
            idx = view_off[sess] + j
            prev = view_slot[idx - 1]
            follow = rng.random(sess.shape[0]) < cfg.transition_strength
            offsets = 1 + _cdf_pick(rng, self.succ_cdf, sess.shape[0])
            fresh = catalogue.popular(rng, sess_cat[sess])
            view_slot[idx] = np.where(follow, catalogue.successor(prev, offsets), fresh)

        # --- funnel: expand each view into view [cart] [fav] [buy] -------------------
        total_views = view_slot.shape[0]
        cart = rng.random(total_views) < cfg.cart_rate
        fav = rng.random(total_views) < cfg.fav_rate
        buy = cart & (rng.random(total_views) < cfg.buy_rate)
        flags = np.column_stack([np.ones(total_views, dtype=bool), cart, fav, buy])
        ev_view, ev_kind = np.nonzero(flags)  # row-major: grouped by view, funnel order

        # --- time gaps ---------------------------------------------------------------
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
        increments = np.where(ev_kind == 0, view_gap[ev_view], action_gap)
        user_start = cfg.start_time + rng.integers(
            0, int(cfg.start_spread_days * 86400) + 1, size=n_users
        )

        ev_slot, ev_sess, ev_query = view_slot[ev_view], view_sess[ev_view], None
        if cfg.search_rate > 0 or cfg.repeat_buy_rate > 0:
            ev_slot, ev_sess, ev_kind, increments, ev_query = self._with_extras(
                extra_rng,
                view_slot=view_slot,
                view_off=view_off,
                view_gap=view_gap,
                buy=buy,
                sess_user=sess_user,
                sess_off=sess_off,
                n_sess=n_sess,
                ev_view=ev_view,
                ev_kind=ev_kind,
                increments=increments,
            )

        # --- timestamps --------------------------------------------------------------
        ev_user = sess_user[ev_sess]
        elapsed = np.cumsum(increments, dtype=np.int64)
        first_event = np.searchsorted(ev_user, np.arange(n_users), side="left")
        timestamp = elapsed - elapsed[first_event][ev_user] + user_start[ev_user]
        sess_first = np.searchsorted(ev_sess, np.arange(n_sessions), side="left")
        return _Block(
            lo=lo,
            hi=hi,
            segment=segment.astype(np.int64),
            user=ev_user + lo,
            item=catalogue.item_of_slot[ev_slot],
            time=timestamp.astype(np.int64),
            kind=ev_kind.astype(np.int8),
            query=None if ev_query is None else ev_query.astype(np.int32),
            sess_user=sess_user + lo,
            sess_index=np.arange(n_sessions) - sess_off[sess_user],
            sess_cat=sess_cat,
            sess_start=timestamp[sess_first].astype(np.int64),
        )

    def _repeat_purchases(
        self,
        rng: np.random.Generator,
        view_slot: np.ndarray,
        view_sess: np.ndarray,
        buy: np.ndarray,
        sess_user: np.ndarray,
        sess_off: np.ndarray,
        n_sess: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sessions and slots of the repeat purchases (unordered)."""
        rate = self.config.repeat_buy_rate
        if rate <= 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        bought = np.flatnonzero(buy & self.consumable[self.catalogue.cat_of_slot[view_slot]])
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

    def _with_extras(
        self,
        rng: np.random.Generator,
        *,
        view_slot: np.ndarray,
        view_off: np.ndarray,
        view_gap: np.ndarray,
        buy: np.ndarray,
        sess_user: np.ndarray,
        sess_off: np.ndarray,
        n_sess: np.ndarray,
        ev_view: np.ndarray,
        ev_kind: np.ndarray,
        increments: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Insert searches and repeat purchases into a block's regular events.

        Returns:
            Per event, in the final order: slot, session, type code, time increment and
            query code (``None`` when searches are disabled).
        """
        cfg = self.config
        n_sessions = view_off.shape[0]
        n_views = np.diff(np.append(view_off, view_slot.shape[0]))
        view_sess = np.repeat(np.arange(n_sessions), n_views)
        rep_sess, rep_slot = self._repeat_purchases(
            rng, view_slot, view_sess, buy, sess_user, sess_off, n_sess
        )
        if cfg.search_rate > 0:
            search_sess = np.flatnonzero(rng.random(n_sessions) < cfg.search_rate)
            search_slot = view_slot[view_off[search_sess]]
            form = _cdf_pick(rng, self.form_cdf, search_sess.shape[0])
            search_query = self.query_codes(self.catalogue.item_of_slot[search_slot], form)
            click_gap = _exp_seconds(rng, 15.0, search_sess.shape[0], 2)
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

    # --- output tables -----------------------------------------------------------------

    def chunks(self, users_per_chunk: int) -> Iterator[_Block]:
        """Re-cut the blocks into chunks of ``users_per_chunk`` consecutive users."""
        n = self.config.num_users
        pending: list[_Block] = []
        for block in self.blocks():
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

    def event_columns(self, block: _Block) -> dict[str, pa.Array]:
        """The event table of a block as Arrow columns."""
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
        """The sessions table of a block as Arrow columns."""
        users = _id_range("u", block.lo, block.hi, self.user_width)
        return {
            "user_id": users.take(pa.array(block.sess_user - block.lo)),
            "session": pa.array(block.sess_index.astype(np.int64)),
            "category": self.arrow_cats.take(pa.array(block.sess_cat)),
            "start_time": pa.array(block.sess_start),
        }

    def segment_columns(self, block: _Block) -> dict[str, pa.Array]:
        """The user-segment table of a block as Arrow columns."""
        return {
            "user_id": _id_range("u", block.lo, block.hi, self.user_width),
            "segment": pa.array(block.segment),
        }


def _frame(columns: dict[str, pa.Array]) -> pd.DataFrame:
    """A DataFrame from Arrow columns: strings as pandas strings, numbers as numpy."""
    return pd.DataFrame(
        {
            name: _str_column(values) if pa.types.is_string(values.type) else values.to_numpy()
            for name, values in columns.items()
        }
    )


def _check_chunk_size(users_per_chunk: int) -> int:
    if int(users_per_chunk) < 1:
        raise ValueError(f"users_per_chunk must be >= 1, got {users_per_chunk}")
    return int(users_per_chunk)


def generate_events(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate a synthetic e-commerce event log in memory.

    The generative story and the use of random numbers are described in the module
    docstring. The catalogue depends only on the catalogue parameters and the seed, not on
    the number of users. For logs too large for memory use :func:`iter_event_chunks` or
    :func:`write_events_csv`, which produce the same events.

    Args:
        config: Generator parameters; ``SyntheticConfig()`` when omitted.

    Returns:
        The events, the item catalogue, the users' latent segments and their sessions.
    """
    cfg = config if config is not None else SyntheticConfig()
    shop = _Shop(cfg)
    block = _Block.concat(list(shop.blocks()))
    return SyntheticData(
        events=_frame(shop.event_columns(block)),
        items=shop.items_frame(),
        user_segments=_frame(shop.segment_columns(block)),
        sessions=_frame(shop.session_columns(block)),
    )


def iter_event_chunks(
    config: SyntheticConfig | None = None, users_per_chunk: int = 100_000
) -> Iterator[pd.DataFrame]:
    """Generate the event log chunk by chunk, for logs too large for memory.

    Chunk ``k`` holds the events of users ``k * users_per_chunk`` up to (not including)
    ``(k + 1) * users_per_chunk``, in the same format and order as
    :attr:`SyntheticData.events`. The concatenated chunks equal
    ``generate_events(config).events`` for every ``users_per_chunk``: random numbers are
    drawn per fixed block of users (see the module docstring), not per chunk. At most one
    chunk plus one random-number block of users (50,000) is held in memory at a time.

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
        yield _frame(shop.event_columns(block))


class _CsvSink:
    """A CSV file written under a temporary name and moved into place by :meth:`commit`."""

    def __init__(self, path: Path, header: list[str] | None) -> None:
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.path = path
        self.handle: IO[bytes] = os.fdopen(fd, "wb")
        if header is not None:
            self.handle.write((",".join(header) + "\n").encode())

    def write(self, columns: dict[str, pa.Array]) -> None:
        """Append rows, unquoted (the values never need quotes)."""
        pa_csv.write_csv(pa.table(columns), self.handle, write_options=_CSV_OPTIONS)

    def commit(self) -> None:
        """Close the file and move it to its final name, readable by everyone."""
        self.handle.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the temporary file."""
        self.handle.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def write_events_csv(
    path: str | os.PathLike[str],
    config: SyntheticConfig | None = None,
    users_per_chunk: int = 100_000,
    *,
    tables: bool = True,
) -> dict[str, int]:
    """Stream a synthetic event log to a CSV file, one chunk of users at a time.

    Writes the same events as :func:`generate_events` (header
    ``user_id,item_id,timestamp,event_type[,query]``) without holding the log in memory,
    and ``items.csv`` in the same directory; with ``tables`` also ``segments.csv`` and
    ``sessions.csv`` there, so that :meth:`SyntheticData.load` reads the directory back.
    Every file is written under a temporary name and moved into place with
    :func:`os.replace` only once all of them are complete; on failure none is replaced.

    Args:
        path: The events CSV to write; its directory is created if missing.
        config: Generator parameters; ``SyntheticConfig()`` when omitted.
        users_per_chunk: Number of users generated and written per step; memory grows
            with it (about 30 events per user with the default rates).
        tables: Also write ``segments.csv`` and ``sessions.csv``.

    Returns:
        Counts: ``users``, ``items``, ``sessions``, ``events`` and one entry per event type
        (``view``, ``cart``, ``fav``, ``buy``, ``search``).

    Raises:
        ValueError: If ``users_per_chunk`` is below 1 or ``path`` is named like one of the
            side files.
    """
    size = _check_chunk_size(users_per_chunk)
    cfg = config if config is not None else SyntheticConfig()
    target = Path(path)
    side = ["items.csv", *(["segments.csv", "sessions.csv"] if tables else [])]
    if target.name in side:
        raise ValueError(f"the events file cannot be named {target.name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shop = _Shop(cfg)

    sinks: dict[str, _CsvSink] = {}
    try:
        sinks["items"] = _CsvSink(target.parent / "items.csv", None)
        sinks["items"].handle.write(shop.items_frame().to_csv(index=False).encode())
        header = ["user_id", "item_id", "timestamp", "event_type"]
        sinks["events"] = _CsvSink(target, header + (["query"] if cfg.search_rate > 0 else []))
        if tables:
            sinks["segments"] = _CsvSink(target.parent / "segments.csv", ["user_id", "segment"])
            sinks["sessions"] = _CsvSink(
                target.parent / "sessions.csv", ["user_id", "session", "category", "start_time"]
            )
        kinds = np.zeros(len(_TYPE_NAMES), dtype=np.int64)
        n_sessions = 0
        for block in shop.chunks(size):
            sinks["events"].write(shop.event_columns(block))
            if tables:
                sinks["segments"].write(shop.segment_columns(block))
                sinks["sessions"].write(shop.session_columns(block))
            kinds += np.bincount(block.kind, minlength=len(_TYPE_NAMES))
            n_sessions += block.sess_user.shape[0]
        for sink in sinks.values():
            sink.commit()
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    counts = {
        "users": cfg.num_users,
        "items": cfg.num_items,
        "sessions": n_sessions,
        "events": int(kinds.sum()),
    }
    counts.update({name: int(count) for name, count in zip(_TYPE_NAMES, kinds)})
    return counts
