"""Tests for the synthetic e-commerce event generator."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsft.data.synthetic import EVENT_TYPES, SyntheticConfig, SyntheticData, generate_events


def _small(seed: int = 0, **overrides: object) -> SyntheticConfig:
    params: dict[str, object] = {
        "num_users": 300,
        "num_items": 120,
        "num_categories": 6,
        "num_segments": 3,
        "seed": seed,
    }
    params.update(overrides)
    return SyntheticConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate_events(_small())


def test_same_seed_is_identical() -> None:
    a, b = generate_events(_small(seed=3)), generate_events(_small(seed=3))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.user_segments, b.user_segments)


def test_different_seeds_differ() -> None:
    a, b = generate_events(_small(seed=1)), generate_events(_small(seed=2))
    assert not a.events.equals(b.events)


def test_columns_and_dtypes(data: SyntheticData) -> None:
    events = data.events
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "event_type"]
    assert events["timestamp"].dtype == np.int64
    for col in ("user_id", "item_id", "event_type"):
        assert pd.api.types.is_string_dtype(events[col])
        assert all(isinstance(v, str) for v in events[col].head(50))
    assert events["user_id"].str.fullmatch(r"u\d{5}").all()
    assert events["item_id"].str.fullmatch(r"i\d{4}").all()

    assert list(data.items.columns) == ["item_id", "category", "title"]
    assert len(data.items) == 120
    assert data.items["item_id"].is_unique
    assert data.items["category"].str.fullmatch(r"c\d{2}").all()
    assert data.items["title"].str.len().gt(5).all()

    assert list(data.user_segments.columns) == ["user_id", "segment"]
    assert pd.api.types.is_integer_dtype(data.user_segments["segment"])
    assert len(data.user_segments) == 300
    assert data.user_segments["segment"].between(0, 2).all()
    assert events["user_id"].nunique() == 300  # every user has at least one session


def test_sorted_and_timestamps_increase(data: SyntheticData) -> None:
    events = data.events
    assert events["user_id"].is_monotonic_increasing
    gaps = events.groupby("user_id")["timestamp"].diff().dropna()
    assert (gaps > 0).all()
    assert events["timestamp"].min() >= SyntheticConfig().start_time


def test_event_types_and_funnel(data: SyntheticData) -> None:
    events = data.events
    assert set(events["event_type"]) <= set(EVENT_TYPES)
    counts = events["event_type"].value_counts()
    assert counts["view"] > counts["cart"] > counts["buy"] > 0
    assert counts["fav"] > 0
    # Every non-view event refers to the item of the view that precedes it.
    view_item = events["item_id"].where(events["event_type"] == "view").ffill()
    assert (events["item_id"] == view_item).all()


def test_items_in_events_exist(data: SyntheticData) -> None:
    assert set(data.events["item_id"]) <= set(data.items["item_id"])


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError):
        SyntheticConfig(num_items=3, num_categories=5)
    with pytest.raises(ValueError):
        SyntheticConfig(cart_rate=1.5)


def test_sequential_signal_beats_most_popular() -> None:
    events = generate_events(_small(seed=7, num_users=1000)).events
    views = events[events["event_type"] == "view"]
    sequences = views.groupby("user_id", sort=True)["item_id"].agg(list)
    n_train = int(0.8 * len(sequences))
    train, test = sequences.iloc[:n_train], sequences.iloc[n_train:]

    transitions: dict[str, Counter[str]] = defaultdict(Counter)
    popularity: Counter[str] = Counter()
    for seq in train:
        popularity.update(seq)
        for prev, nxt in zip(seq[:-1], seq[1:]):
            transitions[prev][nxt] += 1
    most_popular = popularity.most_common(1)[0][0]

    seq_hits = pop_hits = total = 0
    for seq in test:
        if len(seq) < 2:
            continue
        total += 1
        prev, target = seq[-2], seq[-1]
        guess = transitions[prev].most_common(1)[0][0] if transitions[prev] else most_popular
        seq_hits += guess == target
        pop_hits += most_popular == target
    assert total >= 150
    seq_rate, pop_rate = seq_hits / total, pop_hits / total
    assert seq_rate > 0.25
    assert seq_rate > 3 * max(pop_rate, 0.02)


def test_save_writes_files(tmp_path: Path) -> None:
    data = generate_events(_small(num_users=20))
    out = data.save(tmp_path / "synth")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["events.csv", "items.csv", "segments.csv"]
    loaded = SyntheticData.load(out)
    pd.testing.assert_frame_equal(loaded.events, data.events, check_dtype=False)
    assert loaded.events["timestamp"].dtype == np.int64
    assert len(loaded.items) == len(data.items)
    assert len(loaded.user_segments) == 20
