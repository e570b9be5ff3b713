"""Tests for the synthetic shop over time: item launches with a novelty boost, and a trend."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsft.data.synthetic import (
    SyntheticConfig,
    SyntheticData,
    generate_events,
    generator,
    iter_event_chunks,
    write_events_csv,
)

DAY = 86_400


def _shop(seed: int = 0, **overrides: object) -> SyntheticConfig:
    params: dict[str, object] = {
        "num_users": 1500,
        "num_items": 400,
        "num_categories": 20,
        "num_segments": 6,
        "seed": seed,
    }
    params.update(overrides)
    return SyntheticConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def launched() -> tuple[SyntheticConfig, SyntheticData]:
    config = _shop(seed=1, launch_spread_days=40.0)
    return config, generate_events(config)


def _day(config: SyntheticConfig, events: pd.DataFrame) -> pd.Series:
    return (events["timestamp"] - config.start_time) // DAY


def _category_mix(data: SyntheticData, config: SyntheticConfig, lo: int, hi: int) -> pd.Series:
    """Share of each category among the events of days ``lo <= d < hi``."""
    events = data.events
    day = _day(config, events)
    category = events["item_id"].map(data.items.set_index("item_id")["category"])
    return category[(day >= lo) & (day < hi)].value_counts(normalize=True)


def _tvd(a: pd.Series, b: pd.Series) -> float:
    return 0.5 * float(a.sub(b, fill_value=0.0).abs().sum())


def test_default_fields_keep_the_pinned_output() -> None:
    # The digest pinned by test_synthetic.py::test_default_config_output_is_pinned; the new
    # fields at their defaults (and the launch/boost knobs, inactive without launches) keep it.
    events = generate_events(
        SyntheticConfig(new_item_share=0.9, novelty_boost=5.0, novelty_half_life_days=1.0)
    )
    digest = hashlib.sha256(events.events.to_csv(index=False).encode()).hexdigest()
    assert digest == "1705772f5168c4041cd70280f5bb79bccd3949530adaa7156602f64ea97e2424"
    assert list(events.items.columns) == ["item_id", "category", "title"]
    assert not SyntheticConfig().timed


def test_no_event_before_its_items_launch(
    launched: tuple[SyntheticConfig, SyntheticData],
) -> None:
    config, data = launched
    items = data.items.set_index("item_id")
    assert "launch_time" in items.columns
    new = items.index[items["launch_time"] > config.start_time]
    assert len(new) == round(0.3 * config.num_items)
    span_end = config.start_time + config.launch_spread_days * DAY
    assert items.loc[new, "launch_time"].between(config.start_time, span_end).all()
    events = data.events
    launch = events["item_id"].map(items["launch_time"])
    assert (events["timestamp"] >= launch).all()
    # Every category keeps items from the start, and most new items are drawn at all.
    old = items[items["launch_time"] == config.start_time]
    assert old["category"].nunique() == config.num_categories
    assert pd.Index(events["item_id"]).isin(new).any()
    assert pd.Index(new).isin(events["item_id"]).mean() > 0.8


def test_catalogue_seen_grows_over_the_span(
    launched: tuple[SyntheticConfig, SyntheticData],
) -> None:
    config, data = launched
    events, day = data.events, _day(config, data.events)
    seen = [events["item_id"][day < d].nunique() for d in range(10, 45, 5)]
    assert all(b > a for a, b in zip(seen, seen[1:])), seen
    # The stationary shop of the same seed has drawn nearly its whole catalogue by day 20 and
    # grows much less from then on.
    still = generate_events(_shop(seed=1))
    still_day = _day(config, still.events)
    still_seen = [still.events["item_id"][still_day < d].nunique() for d in (20, 40)]
    assert seen[-2] - seen[2] > 3 * (still_seen[1] - still_seen[0])


def test_new_items_are_bought(launched: tuple[SyntheticConfig, SyntheticData]) -> None:
    config, data = launched
    items = data.items.set_index("item_id")
    is_new = data.events["item_id"].map(items["launch_time"]) > config.start_time
    buys = data.events["event_type"] == "buy"
    assert is_new[buys].mean() > 0.1
    # Without the boost, new items get a clearly smaller share of the views.
    plain = generate_events(_shop(seed=1, launch_spread_days=40.0, novelty_boost=0.0))
    plain_new = plain.events["item_id"].map(items["launch_time"]) > config.start_time
    views, plain_views = data.events["event_type"] == "view", plain.events["event_type"] == "view"
    assert is_new[views].mean() > 1.5 * plain_new[plain_views].mean()


def test_trend_moves_the_category_mix() -> None:
    trending = _shop(seed=2, trend_period_days=60.0)
    still = _shop(seed=2)
    moved = _tvd(
        _category_mix(generate_events(trending), trending, 0, 7),
        _category_mix(generate_events(trending), trending, 21, 28),
    )
    stationary_data = generate_events(still)
    stationary = _tvd(
        _category_mix(stationary_data, still, 0, 7), _category_mix(stationary_data, still, 21, 28)
    )
    # Measured: about 0.12 for the stationary shop, 0.46 with the trend.
    assert stationary < 0.25 < moved, (stationary, moved)


def test_trend_sessions_stay_consistent() -> None:
    config = _shop(seed=3, num_users=300, trend_period_days=30.0, launch_spread_days=20.0)
    data = generate_events(config)
    sessions = data.sessions
    assert sessions is not None
    # Every view is on an item of its session's (shifted) category.
    events = data.events.reset_index(drop=True)
    position = np.searchsorted(
        (sessions["user_id"] + "|" + sessions["start_time"].astype(str).str.zfill(12)).to_numpy(),
        (events["user_id"] + "|" + events["timestamp"].astype(str).str.zfill(12)).to_numpy(),
        side="right",
    ) - 1
    session_category = sessions["category"].to_numpy()[position]
    assert (sessions["user_id"].to_numpy()[position] == events["user_id"].to_numpy()).all()
    item_category = events["item_id"].map(data.items.set_index("item_id")["category"])
    assert (item_category.to_numpy() == session_category).all()


@pytest.mark.parametrize("extra", [{}, {"search_rate": 0.3, "repeat_buy_rate": 0.5}])
def test_timed_shop_is_seeded_and_chunk_independent(
    monkeypatch: pytest.MonkeyPatch, extra: dict
) -> None:
    monkeypatch.setattr(generator, "_RNG_BLOCK_USERS", 70)  # several random-number blocks
    config = _shop(seed=4, num_users=250, launch_spread_days=30.0, trend_period_days=40.0,
                   **extra)
    whole = generate_events(config)
    pd.testing.assert_frame_equal(generate_events(config).events, whole.events)
    for users_per_chunk in (33, 250):
        chunks = pd.concat(iter_event_chunks(config, users_per_chunk), ignore_index=True)
        pd.testing.assert_frame_equal(chunks, whole.events)
    # Searches and repeats only delay events: still none before its item's launch.
    launch = whole.events["item_id"].map(whole.items.set_index("item_id")["launch_time"])
    assert (whole.events["timestamp"] >= launch).all()
    assert not whole.events.equals(generate_events(_shop(seed=5, num_users=250,
                                                          launch_spread_days=30.0)).events)


def test_csv_round_trip_keeps_launch_times(tmp_path: Path) -> None:
    config = _shop(seed=6, num_users=100, launch_spread_days=10.0)
    write_events_csv(tmp_path / "events.csv", config)
    loaded = SyntheticData.load(tmp_path)
    data = generate_events(config)
    pd.testing.assert_series_equal(loaded.items["launch_time"], data.items["launch_time"])
    assert len(loaded.events) == len(data.events)


@pytest.mark.parametrize(
    "bad",
    [
        {"new_item_share": 1.5},
        {"launch_spread_days": -1.0},
        {"trend_period_days": -2.0},
        {"novelty_boost": float("nan")},
        {"novelty_half_life_days": -1.0},
    ],
)
def test_invalid_time_fields_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        _shop(**bad)
