"""Tests for the synthetic e-commerce event generator."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsft.data.synthetic import (
    EVENT_TYPES,
    SEARCH_EVENT,
    SyntheticConfig,
    SyntheticData,
    expected_events_per_user,
    generate_events,
    generator,
    iter_event_chunks,
    tables,
    write_events_csv,
)

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def extras() -> SyntheticData:
    """Searches and repeat purchases switched on (category c04, "beauty", is consumable)."""
    return generate_events(_small(seed=5, num_users=600, search_rate=0.4, repeat_buy_rate=0.9))


@pytest.mark.parametrize("extra", [{}, {"search_rate": 0.3, "repeat_buy_rate": 0.5}])
def test_same_seed_is_identical(extra: dict[str, float]) -> None:
    a, b = generate_events(_small(seed=3, **extra)), generate_events(_small(seed=3, **extra))
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.user_segments, b.user_segments)
    assert a.sessions is not None and b.sessions is not None
    pd.testing.assert_frame_equal(a.sessions, b.sessions)


def test_default_config_output_is_pinned() -> None:
    """The default dataset is what demo runs were trained on; it must not drift silently."""
    events = generate_events().events
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "event_type"]
    assert events["event_type"].value_counts().to_dict() == {
        "view": 72569,
        "cart": 8734,
        "fav": 3631,
        "buy": 3416,
    }
    digest = hashlib.sha256(events.to_csv(index=False).encode()).hexdigest()
    assert digest == "1705772f5168c4041cd70280f5bb79bccd3949530adaa7156602f64ea97e2424"


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
    assert "query" not in events.columns  # only when searches are enabled

    assert data.sessions is not None
    assert list(data.sessions.columns) == ["user_id", "session", "category", "start_time"]
    assert data.sessions["session"].dtype == np.int64
    assert data.sessions["start_time"].dtype == np.int64


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
    assert names == ["events.csv", "items.csv", "segments.csv", "sessions.csv"]
    loaded = SyntheticData.load(out)
    pd.testing.assert_frame_equal(loaded.events, data.events, check_dtype=False)
    assert loaded.events["timestamp"].dtype == np.int64
    assert len(loaded.items) == len(data.items)
    assert len(loaded.user_segments) == 20
    assert loaded.sessions is not None and data.sessions is not None
    pd.testing.assert_frame_equal(loaded.sessions, data.sessions, check_dtype=False)


# --- sessions -------------------------------------------------------------------------------


def _with_session(data: SyntheticData) -> pd.DataFrame:
    """Events annotated with the session they fall in (by user and session start time)."""
    assert data.sessions is not None
    events = data.events.assign(row=np.arange(len(data.events)))
    joined = pd.merge_asof(
        events.sort_values("timestamp"),
        data.sessions.sort_values("start_time"),
        left_on="timestamp",
        right_on="start_time",
        by="user_id",
    )
    return joined.sort_values("row").reset_index(drop=True)


def test_sessions_table_is_consistent(data: SyntheticData) -> None:
    sessions = data.sessions
    assert sessions is not None
    assert sessions["user_id"].is_monotonic_increasing
    per_user = sessions.groupby("user_id")
    # Sessions are numbered 0, 1, 2, ... per user and start later and later.
    assert (per_user.cumcount() == sessions["session"]).all()
    assert (per_user["start_time"].diff().dropna() >= 1800).all()
    assert set(sessions["user_id"]) == set(data.events["user_id"])
    assert set(sessions["category"]) <= set(data.items["category"])
    # Every session starts with an event at its start time.
    starts = data.events.set_index(["user_id", "timestamp"]).index
    assert sessions.set_index(["user_id", "start_time"]).index.isin(starts).all()
    # Without repeat purchases, every event is on an item of its session's category.
    annotated = _with_session(data)
    assert annotated["session"].notna().all()
    item_category = data.items.set_index("item_id")["category"]
    assert (annotated["item_id"].map(item_category) == annotated["category"]).all()
    # Categories drift between sessions, but not always.
    previous = per_user["category"].shift()
    has_previous = previous.notna()
    changed = previous[has_previous] != sessions["category"][has_previous]
    assert 0.05 < changed.mean() < 0.5


# --- chunked generation and streaming to CSV ------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"search_rate": 0.3, "repeat_buy_rate": 0.5}])
def test_chunks_equal_generate_events(monkeypatch: pytest.MonkeyPatch, extra: dict) -> None:
    monkeypatch.setattr(generator, "_RNG_BLOCK_USERS", 70)  # several random-number blocks
    config = _small(seed=4, num_users=250, **extra)
    whole = generate_events(config).events
    for users_per_chunk in (1, 33, 70, 100, 250, 10_000):
        chunks = list(iter_event_chunks(config, users_per_chunk=users_per_chunk))
        assert len(chunks) == -(-250 // users_per_chunk)
        first_users = [chunk["user_id"].iloc[0] for chunk in chunks]
        assert first_users == [f"u{k * users_per_chunk:05d}" for k in range(len(chunks))]
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    again = pd.concat(iter_event_chunks(config, users_per_chunk=33), ignore_index=True)
    pd.testing.assert_frame_equal(again, whole)


def test_random_blocks_are_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "_RNG_BLOCK_USERS", 100)
    config = _small(seed=4, num_users=300)
    blocked = generate_events(config)
    # Block 0 continues the single stream, so the first 100 users match a 100-user run.
    head = generate_events(_small(seed=4, num_users=100))
    first = blocked.events[blocked.events["user_id"] < "u00100"].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, head.events)
    # Later blocks have their own streams: their segments are not a copy of block 0's.
    segments = blocked.user_segments["segment"].to_numpy()
    assert not np.array_equal(segments[:100], segments[100:200])
    assert not np.array_equal(segments[100:200], segments[200:])


def test_invalid_chunk_size_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        next(iter_event_chunks(_small(), users_per_chunk=0))
    with pytest.raises(ValueError):
        write_events_csv(tmp_path / "items.csv", _small())


def test_write_events_csv_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "_RNG_BLOCK_USERS", 90)
    config = _small(seed=6, num_users=200, search_rate=0.3, repeat_buy_rate=0.5)
    target = tmp_path / "out" / "events.csv"
    counts = write_events_csv(target, config, users_per_chunk=64)

    names = sorted(p.name for p in target.parent.iterdir())
    assert names == ["events.csv", "items.csv", "segments.csv", "sessions.csv"]  # no temp left
    with open(target, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines[0] == "user_id,item_id,timestamp,event_type,query"
    assert sum(line.startswith("user_id") for line in lines) == 1

    chunks = pd.concat(iter_event_chunks(config, users_per_chunk=64), ignore_index=True)
    back = pd.read_csv(
        target, dtype={"user_id": str, "item_id": str, "event_type": str, "query": str}
    )
    pd.testing.assert_frame_equal(back, chunks)

    expected = generate_events(config)
    loaded = SyntheticData.load(target.parent)
    pd.testing.assert_frame_equal(loaded.events, expected.events)
    pd.testing.assert_frame_equal(loaded.items, expected.items)
    pd.testing.assert_frame_equal(loaded.user_segments, expected.user_segments)
    assert loaded.sessions is not None and expected.sessions is not None
    pd.testing.assert_frame_equal(loaded.sessions, expected.sessions)

    kinds = expected.events["event_type"].value_counts()
    assert counts["events"] == len(expected.events)
    assert counts["sessions"] == len(expected.sessions)
    assert (counts["users"], counts["items"]) == (200, 120)
    for name in (*EVENT_TYPES, SEARCH_EVENT):
        assert counts[name] == kinds.get(name, 0)


def test_write_events_csv_without_searches_or_tables(tmp_path: Path) -> None:
    config = _small(num_users=40)
    write_events_csv(tmp_path / "log.csv", config, users_per_chunk=16, tables=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv", "log.csv"]
    back = pd.read_csv(tmp_path / "log.csv", dtype={"user_id": str, "item_id": str})
    pd.testing.assert_frame_equal(back, generate_events(config).events, check_dtype=False)


def test_failed_write_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "_RNG_BLOCK_USERS", 20)
    original = tables._BlockColumns.event_columns
    calls = []

    def failing(self: object, block: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, block)  # type: ignore[arg-type]

    monkeypatch.setattr(tables._BlockColumns, "event_columns", failing)
    with pytest.raises(RuntimeError):
        write_events_csv(tmp_path / "events.csv", _small(num_users=60), users_per_chunk=20)
    assert list(tmp_path.iterdir()) == []


def test_no_file_is_moved_into_place_before_all_are_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tables._BlockColumns.event_columns
    seen = []

    def watching(self: object, block: object) -> object:
        seen.append(sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")))
        return original(self, block)  # type: ignore[arg-type]

    monkeypatch.setattr(tables._BlockColumns, "event_columns", watching)
    write_events_csv(tmp_path / "events.csv", _small(num_users=60), users_per_chunk=20)
    assert seen == [[], [], []]  # three chunks, and items.csv (written first) not yet there
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.csv", "items.csv", "segments.csv", "sessions.csv"
    ]


def test_failed_write_keeps_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events_csv(tmp_path / "events.csv", _small(num_users=30))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def failing(self: object, block: object) -> object:
        raise RuntimeError("disk full")

    monkeypatch.setattr(tables._BlockColumns, "event_columns", failing)
    with pytest.raises(RuntimeError):
        write_events_csv(tmp_path / "events.csv", _small(seed=1, num_users=30))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_files_get_the_umask_mode(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        write_events_csv(tmp_path / "stream" / "events.csv", _small(num_users=10))
        generate_events(_small(num_users=10)).save(tmp_path / "saved")
    finally:
        os.umask(mask)
    for folder in ("stream", "saved"):
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / folder).iterdir()}
        assert set(modes.values()) == {0o640}, modes


def test_expected_events_per_user() -> None:
    config = _small(seed=8, num_users=3000, search_rate=0.2)
    observed = len(generate_events(config).events) / config.num_users
    assert observed == pytest.approx(expected_events_per_user(config), rel=0.03)
    assert expected_events_per_user(SyntheticConfig()) == pytest.approx(29.232)


# --- searches -------------------------------------------------------------------------------


def test_search_events_and_queries(extras: SyntheticData) -> None:
    events = extras.events
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "event_type", "query"]
    assert pd.api.types.is_string_dtype(events["query"])
    is_search = events["event_type"] == SEARCH_EVENT
    assert events["query"].notna().eq(is_search).all()  # a query exactly on searches
    assert events["item_id"].notna().all()

    # About search_rate of the sessions start with a search, and only sessions' starts.
    assert extras.sessions is not None
    starts = extras.sessions.set_index(["user_id", "start_time"]).index
    searches = events[is_search]
    assert searches.set_index(["user_id", "timestamp"]).index.isin(starts).all()
    assert len(searches) / len(extras.sessions) == pytest.approx(0.4, abs=0.05)

    # The next event is the view of the item the search led to, a few seconds later.
    following = events.shift(-1)[is_search]
    assert (following["event_type"] == "view").all()
    assert (following["item_id"] == searches["item_id"]).all()
    assert (following["user_id"] == searches["user_id"]).all()
    assert ((following["timestamp"] - searches["timestamp"]).between(2, 600)).all()

    # The query is written from that item's title: its words, or its category's name.
    titles = extras.items.set_index("item_id")["title"]
    for item, query in zip(searches["item_id"], searches["query"]):
        title = titles[item]
        name = title[title.index("(") + 1 : -1]
        assert query == name or set(query.split()) <= set(title.split())
    assert searches["query"].nunique() > 50


def test_search_only_inserts_events() -> None:
    plain = generate_events(_small(seed=9)).events
    searched = generate_events(_small(seed=9, search_rate=0.5)).events
    kept = searched[searched["event_type"] != SEARCH_EVENT].reset_index(drop=True)
    cols = ["user_id", "item_id", "event_type"]
    pd.testing.assert_frame_equal(kept[cols], plain[cols])
    assert (searched.groupby("user_id")["timestamp"].diff().dropna() > 0).all()


# --- repeat purchases -----------------------------------------------------------------------


def _repeat_pairs(events: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    """Per category, how many buys repeat an earlier buy of the same item by the same user."""
    buys = events[events["event_type"] == "buy"]
    repeat = buys.duplicated(["user_id", "item_id"])
    category = buys["item_id"].map(items.set_index("item_id")["category"])
    return repeat.groupby(category).sum()


def test_repeat_purchases(extras: SyntheticData) -> None:
    config = _small(seed=5, num_users=600, search_rate=0.4)
    plain = generate_events(config)
    with_repeats = _repeat_pairs(extras.events, extras.items)
    without = _repeat_pairs(plain.events, plain.items)
    # c04 ("beauty") is the only consumable among six categories: its items are re-bought
    # a lot more, the others exactly as often as by chance.
    assert with_repeats["c04"] > 5 * max(without.get("c04", 0), 10)
    assert with_repeats.drop("c04").equals(without.drop("c04"))

    # A repeat is a view -> cart -> buy at the end of a later session.
    events, annotated = extras.events, _with_session(extras)
    item_category = extras.items.set_index("item_id")["category"]
    off_topic = annotated["item_id"].map(item_category) != annotated["category"]
    assert off_topic.any()
    assert set(events.loc[off_topic, "event_type"]) <= {"view", "cart", "buy"}
    assert (events.loc[off_topic, "item_id"].map(item_category) == "c04").all()
    # Funnel events still refer to the item of the view before them.
    funnel = events[events["event_type"] != SEARCH_EVENT]
    view_item = funnel["item_id"].where(funnel["event_type"] == "view").ffill()
    assert (funnel["item_id"] == view_item).all()


def test_repeat_rate_zero_keeps_default() -> None:
    a = generate_events(_small(seed=2)).events
    b = generate_events(_small(seed=2, repeat_buy_rate=0.0, search_rate=0.0)).events
    pd.testing.assert_frame_equal(a, b)


# --- the command-line script ----------------------------------------------------------------


def test_generate_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_synthetic", ROOT / "scripts" / "generate_synthetic.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(
        [
            "--out",
            str(tmp_path),
            "--num-events",
            "3000",
            "--num-items",
            "200",
            "--seed",
            "1",
            "--search-rate",
            "0.2",
        ]
    )
    printed = capsys.readouterr().out
    assert "events" in printed and "seconds" in printed
    data = SyntheticData.load(tmp_path)
    assert len(data.user_segments) == 99  # ceil(3000 / (29.232 + 6 * 0.2))
    assert len(data.items) == 200
    assert (data.events["event_type"] == SEARCH_EVENT).any()
