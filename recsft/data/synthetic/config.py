"""The synthetic shop's parameters: :class:`SyntheticConfig` and the event types it emits.

The generative story these parameters control is told in :mod:`recsft.data.synthetic`.

Example:
    >>> from recsft.data.synthetic.config import SyntheticConfig, expected_events_per_user
    >>> round(expected_events_per_user(SyntheticConfig()), 3)
    29.232
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Event types in funnel order; within one step they are emitted in this order.
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "fav", "buy")

#: Event type of a search (only emitted when ``SyntheticConfig.search_rate > 0``); it comes
#: right before the view of the item it led to.
SEARCH_EVENT: str = "search"

#: All event type names, indexed by the internal event type code.
_TYPE_NAMES: tuple[str, ...] = (*EVENT_TYPES, SEARCH_EVENT)
_SEARCH_CODE = len(EVENT_TYPES)


@dataclass
class SyntheticConfig:
    """Parameters of the synthetic e-commerce event generator.

    See :mod:`recsft.data.synthetic` for the generative story these parameters control.

    Attributes:
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
        launch_spread_days: When > 0, a share ``new_item_share`` of the items launch at
            uniform times between ``start_time`` and ``start_time + launch_spread_days`` days
            and are never drawn before they are launched (an item is drawable from the first
            day boundary, ``start_time`` plus whole days, at or after its launch); the rest,
            including every category's most popular item, exist from the start. 0 (the
            default) keeps a fixed catalogue.
        new_item_share: Share of the catalogue launched during the log when
            ``launch_spread_days > 0`` (ignored otherwise); in ``[0, 1]``, at most all items
            but one per category.
        novelty_boost: A launched item's popularity weight is raised by ``novelty_boost``
            times the weight of its category's most popular item, decaying with its age (so
            ``1`` makes a just-launched item as popular as the best seller); 0 disables it.
            Only read when items launch.
        novelty_half_life_days: Days in which the novelty boost halves (the age is taken at
            the start of each day); 0 keeps the boost for the launch day only.
        trend_period_days: When > 0, interests drift: the category of every session, drawn
            as without a trend, is moved ``floor(num_categories * days / trend_period_days)`` places
            along the category ring, ``days`` being the session's start in days since
            ``start_time``, so the popular categories turn once round the ring per period.
            0 (the default) keeps interests stationary. Turning launches or a trend on
            changes the order of the random draws (times are drawn before items), so such a
            shop differs from the default one in every event.
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
    launch_spread_days: float = 0.0
    new_item_share: float = 0.3
    novelty_boost: float = 1.0
    novelty_half_life_days: float = 7.0
    trend_period_days: float = 0.0

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
            "new_item_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.popularity_exponent < 0:
            raise ValueError("popularity_exponent must be >= 0")
        weights = np.asarray(self.successor_weights, dtype=float)
        if weights.ndim != 1 or weights.size == 0 or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("successor_weights must be a non-empty list of weights >= 0")
        time_fields = (
            "start_spread_days",
            "session_gap_hours",
            "event_gap_seconds",
            "launch_spread_days",
            "novelty_boost",
            "novelty_half_life_days",
            "trend_period_days",
        )
        for name in time_fields:
            if not float(getattr(self, name)) >= 0:  # also rejects NaN
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def timed(self) -> bool:
        """Whether items launch or interests drift (then times are drawn before items)."""
        return self.launch_spread_days > 0 or self.trend_period_days > 0


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
