"""The synthetic shop over time: item launches with a novelty boost, and a category trend.

Step 9 of the generative story (see :mod:`recsft.data.synthetic`), off by default. When
``launch_spread_days > 0`` a share ``new_item_share`` of the items (never the most popular item
of a category) launch at a uniform time between ``start_time`` and ``start_time +
launch_spread_days`` days; the others exist from ``start_time``. Popularity draws are made per
day ``d`` (``(t - start_time) // 86400``) from the items launched by the start of that day:
an item launched at ``L`` weighs its Zipf weight plus ``novelty_boost`` times the weight of its
category's most popular item times ``0.5 ** (age / novelty_half_life_days)``, the age taken
at the start of the day. A ring step to an item not launched by then is replaced by the
session's fresh popularity draw. When ``trend_period_days > 0`` every session's category
(drawn as before) is moved ``floor(num_categories * (s - start_time) / period)`` places along
the category ring, ``s`` being the session's start: the shop's interests turn once round the
ring per period, so each category's share rises and falls in turn.

Launch times are drawn from ``SeedSequence(seed, spawn_key=(0, 2))``, a stream of their own,
so they depend only on the seed and the catalogue parameters. Each block of users builds a
table of every item's key on every day its views fall on (:meth:`_Timeline.day_table`): a few
float arrays of ``days x num_items``, small for catalogues up to about 10^5 items.

Example:
    >>> import numpy as np
    >>> from recsft.data.synthetic.catalogue import _Catalogue
    >>> from recsft.data.synthetic.config import SyntheticConfig
    >>> config = SyntheticConfig(num_items=40, num_categories=4, launch_spread_days=10.0)
    >>> timeline = _Timeline(config, _Catalogue(config, np.random.default_rng(0)))
    >>> int(timeline.is_new.sum()), bool((timeline.launch >= config.start_time).all())
    (12, True)
"""

from __future__ import annotations

import numpy as np

from recsft.data.synthetic.catalogue import _Catalogue
from recsft.data.synthetic.config import SyntheticConfig

_DAY = 86_400


class _Timeline:
    """Launch times of the catalogue's slots and the time-dependent draws.

    Attributes:
        launch: Launch time (unix seconds) of each slot, shape ``(num_items,)``;
            ``start_time`` for items that exist from the start.
        is_new: Whether each slot is a launched (new) item, shape ``(num_items,)``.
        best_weight: Popularity weight of each category's most popular item, shape
            ``(num_categories,)``.
    """

    def __init__(self, config: SyntheticConfig, catalogue: _Catalogue) -> None:
        """Draw the launch times (when launches are on).

        Args:
            config: Generator parameters.
            catalogue: The drawn catalogue.
        """
        self.config, self.catalogue = config, catalogue
        n_items, n_cat = config.num_items, config.num_categories
        weight = catalogue.weight
        best = np.array(
            [catalogue.start[c] + int(np.argmax(weight[catalogue.start[c] : catalogue.end[c]]))
             for c in range(n_cat)],
            dtype=np.int64,
        )
        self.best_weight = weight[best]
        self.launch = np.full(n_items, config.start_time, dtype=np.int64)
        self.is_new = np.zeros(n_items, dtype=bool)
        n_new = min(int(round(config.new_item_share * n_items)), n_items - n_cat)
        if config.launch_spread_days > 0 and n_new > 0:
            rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0, 2)))
            key = rng.random(n_items)
            key[best] = np.inf  # every category keeps its best seller from the start
            new = np.sort(np.argsort(key, kind="stable")[:n_new])
            span = int(config.launch_spread_days * _DAY)
            self.launch[new] = config.start_time + rng.integers(0, span + 1, size=n_new)
            self.is_new[new] = True

    def day(self, times: np.ndarray) -> np.ndarray:
        """Day index ``(t - start_time) // 86400`` of each time, shape ``(n,)`` in and out."""
        return (times - self.config.start_time) // _DAY

    def shift_categories(self, categories: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Move each session's category along the ring by the trend at its start.

        Args:
            categories: Drawn session categories, shape ``(n_sessions,)``.
            starts: Start time of each session, shape ``(n_sessions,)``.

        Returns:
            The categories, shape ``(n_sessions,)``; unchanged without a trend.
        """
        cfg = self.config
        if cfg.trend_period_days <= 0:
            return categories
        turns = (starts - cfg.start_time) / (cfg.trend_period_days * _DAY)
        shift = np.floor(cfg.num_categories * turns).astype(np.int64)
        return (categories + shift) % cfg.num_categories

    def day_table(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Popularity keys and availability of every slot on each of ``days``.

        Args:
            days: Distinct day indices (>= 0), shape ``(n_days,)``.

        Returns:
            The keys, flattened from shape ``(n_days, num_items)``: those of category ``c`` on
            the ``j``-th day lie in ``(j * C + c, j * C + c + 1]`` (``C`` categories), so one
            ``searchsorted`` draws for every (day, category); and whether each slot is
            launched by the start of each day, shape ``(n_days, num_items)``.
        """
        cfg, cat = self.config, self.catalogue
        day_start = cfg.start_time + days.astype(np.int64) * _DAY
        avail = self.launch[None, :] <= day_start[:, None]
        weight = np.where(avail, cat.weight[None, :], 0.0)
        if cfg.novelty_boost > 0 and self.is_new.any():
            age = (day_start[:, None] - self.launch[None, :]) / _DAY
            if cfg.novelty_half_life_days > 0:
                decay = np.exp2(-np.maximum(age, 0.0) / cfg.novelty_half_life_days)
            else:
                decay = (age < 1).astype(float)
            boost = cfg.novelty_boost * self.best_weight[cat.cat_of_slot] * decay
            weight += np.where(avail & self.is_new[None, :], boost, 0.0)
        keys = np.empty_like(weight)
        base = (np.arange(days.shape[0]) * cfg.num_categories).astype(float)[:, None]
        for c in range(cfg.num_categories):
            lo, hi = int(cat.start[c]), int(cat.end[c])
            part = weight[:, lo:hi]
            cdf = np.cumsum(part, axis=1) / part.sum(axis=1, keepdims=True)
            # From the last item with weight on, the key is exactly c + 1: u < 1 never lands
            # on a later (not yet launched) item.
            last = (hi - lo - 1) - np.argmax(part[:, ::-1] > 0, axis=1)
            cdf[np.arange(hi - lo)[None, :] >= last[:, None]] = 1.0
            keys[:, lo:hi] = (base + c) + cdf
        return keys.ravel(), avail

    def popular(
        self, rng: np.random.Generator, cats: np.ndarray, day_pos: np.ndarray, keys: np.ndarray
    ) -> np.ndarray:
        """Popularity-weighted draw among the launched items of each category on each day.

        Args:
            rng: Generator; one uniform draw per entry of ``cats``.
            cats: Category indices, shape ``(n,)``.
            day_pos: Row of each draw's day in :meth:`day_table`, shape ``(n,)``.
            keys: The flattened keys of :meth:`day_table`.

        Returns:
            Slots, shape ``(n,)``.
        """
        cat, n_cat = self.catalogue, self.config.num_categories
        u = rng.random(cats.shape[0])
        value = (day_pos * n_cat + cats).astype(float) + u
        slots = np.searchsorted(keys, value, side="right") - day_pos * self.config.num_items
        return np.clip(slots, cat.start[cats], cat.end[cats] - 1)
