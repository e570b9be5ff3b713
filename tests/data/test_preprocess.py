"""Cleaning steps: semantics, step records, no mutation, ties in file order, the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsft.data.events import EventLog
from recsft.data.preprocess import (
    STEP_ORDER,
    PreprocessConfig,
    collapse_repeats,
    drop_duplicates,
    filter_event_types,
    filter_sequence_length,
    k_core,
    preprocess,
    remove_abnormal_users,
    session_table,
    split_sessions,
    time_window,
    to_unix_seconds,
    weight_event_types,
)

RECORD_KEYS = {"name", "params", "events_before", "events_after", "users_after", "items_after"}


def make_log(rows: list[tuple], **kwargs) -> EventLog:
    """rows: (user, item, timestamp[, event_type])."""
    rows = [r if len(r) == 4 else (*r, "view") for r in rows]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event_type"])
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    return EventLog(frame, **kwargs)


def random_log(seed: int = 0, n: int = 3000, users: int = 120, items: int = 60) -> EventLog:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "user_id": [f"u{u}" for u in rng.integers(0, users, n)],
        "item_id": [f"i{i}" for i in np.minimum(rng.zipf(1.5, n), items)],
        "timestamp": rng.integers(0, 5000, n).astype(np.int64),
        "event_type": rng.choice(["view", "cart", "buy"], n, p=[0.8, 0.15, 0.05]),
    })
    return EventLog(frame, source="random")


def rows_of(log: EventLog) -> list[tuple]:
    frame = log.frame
    return list(zip(frame["user_id"], frame["item_id"], frame["timestamp"].tolist(),
                    frame["event_type"]))


def check_record(log: EventLog, before: EventLog, name: str) -> dict:
    assert len(log.steps) == len(before.steps) + 1
    record = log.steps[-1]
    assert set(record) >= RECORD_KEYS
    assert record["name"] == name
    assert record["events_before"] == len(before)
    assert record["events_after"] == len(log)
    assert record["users_after"] == log.num_users
    assert record["items_after"] == log.num_items
    return record


# --------------------------------------------------------------------------------------------
# Individual steps
# --------------------------------------------------------------------------------------------


def test_drop_duplicates_keeps_the_first_exact_copy():
    log = make_log([
        ("u", "a", 1, "view"), ("u", "a", 1, "view"), ("u", "a", 1, "cart"),
        ("v", "a", 1, "view"), ("u", "a", 2, "view"), ("u", "a", 1, "view"),
    ])
    out = drop_duplicates(log)
    assert rows_of(out) == [("u", "a", 1, "view"), ("u", "a", 1, "cart"), ("v", "a", 1, "view"),
                            ("u", "a", 2, "view")]
    record = check_record(out, log, "drop_duplicates")
    assert record["duplicates_removed"] == 2 and record["params"] == {}


def test_drop_duplicates_matches_pandas_on_random_data():
    log = random_log(1)
    doubled = EventLog(pd.concat([log.frame, log.frame.iloc[::7]], ignore_index=True))
    out = drop_duplicates(doubled)
    expected = doubled.frame.drop_duplicates().reset_index(drop=True)
    pd.testing.assert_frame_equal(out.frame, expected)


def test_steps_never_mutate_the_input():
    log = random_log(2)
    log.steps.append({"name": "read", "params": {}})
    frame = log.frame.copy()
    for step in (drop_duplicates, collapse_repeats, lambda x: k_core(x, 3, 3),
                 lambda x: filter_sequence_length(x, 2, 5),
                 lambda x: split_sessions(x, 100), lambda x: time_window(x, 10, 4000),
                 lambda x: filter_event_types(x, ["view"]),
                 lambda x: weight_event_types(x, {"view": 1, "cart": 2, "buy": 3}),
                 lambda x: remove_abnormal_users(x, 2)):
        out = step(log)
        assert out is not log and out.steps[:-1] == log.steps
        assert out.steps[0] == {"name": "read", "params": {}}
    pd.testing.assert_frame_equal(log.frame, frame)
    assert len(log.steps) == 1


def reference_k_core(rows: list[tuple], user_k: int, item_k: int) -> list[tuple]:
    while True:
        users = pd.Series([r[0] for r in rows]).value_counts()
        items = pd.Series([r[1] for r in rows]).value_counts()
        kept = [r for r in rows if users.get(r[0], 0) >= user_k and items.get(r[1], 0) >= item_k]
        if kept == rows:
            return kept
        rows = kept


@pytest.mark.parametrize(("user_k", "item_k"), [(5, 5), (3, 10), (10, 2), (1, 1), (0, 30)])
def test_k_core_reaches_the_fixed_point(user_k, item_k):
    log = random_log(3)
    out = k_core(log, user_k, item_k)
    assert rows_of(out) == reference_k_core(rows_of(log), user_k, item_k)
    if len(out):
        assert out.frame["user_id"].value_counts().min() >= user_k
        assert out.frame["item_id"].value_counts().min() >= item_k
    record = check_record(out, log, "k_core")
    assert record["params"] == {"user_k": user_k, "item_k": item_k}
    assert record["users_removed"] == log.num_users - out.num_users
    assert record["items_removed"] == log.num_items - out.num_items


def test_k_core_cascades():
    # Dropping user w (1 event) leaves item c with 1 event, which then drops u's event on c,
    # leaving u with 1 event, so u goes too.
    log = make_log([("u", "a", 1), ("u", "c", 2), ("v", "a", 1), ("v", "b", 2), ("w", "c", 3),
                    ("x", "a", 1), ("x", "b", 2)])
    out = k_core(log, 2, 2)
    assert rows_of(out) == [("v", "a", 1, "view"), ("v", "b", 2, "view"),
                            ("x", "a", 1, "view"), ("x", "b", 2, "view")]
    assert out.steps[-1]["iterations"] >= 3


def test_k_core_can_empty_the_log_and_rejects_negative_k():
    log = make_log([("u", "a", 1), ("v", "b", 2)])
    out = k_core(log, 2, 2)
    assert len(out) == 0 and out.steps[-1]["users_after"] == 0
    with pytest.raises(ValueError, match="user_k"):
        k_core(log, -1, 2)


def test_filter_sequence_length_truncates_to_the_newest_with_ties_in_file_order():
    # Timestamps tie at 5: file order c, a, d is the time order; the newest three are a, d, e.
    log = make_log([("u", "c", 5), ("u", "a", 5), ("u", "b", 1), ("u", "d", 5), ("u", "e", 9),
                    ("v", "x", 1), ("w", "y", 1), ("w", "z", 2)])
    out = filter_sequence_length(log, min_length=2, max_length=3)
    assert rows_of(out) == [("u", "a", 5, "view"), ("u", "d", 5, "view"),
                            ("u", "e", 9, "view"), ("w", "y", 1, "view"), ("w", "z", 2, "view")]
    assert out.sequences().items == [["a", "d", "e"], ["y", "z"]]
    record = check_record(out, log, "filter_sequence_length")
    assert record["params"] == {"min_length": 2, "max_length": 3, "truncate": True}
    assert (record["users_truncated"], record["users_dropped_short"]) == (1, 1)


def test_filter_sequence_length_drop_mode_and_bounds():
    log = make_log([("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("v", "x", 1), ("v", "y", 2)])
    out = filter_sequence_length(log, max_length=2, truncate=False)
    assert out.frame["user_id"].tolist() == ["v", "v"]
    assert out.steps[-1]["users_dropped_long"] == 1
    assert len(filter_sequence_length(log, min_length=3)) == 3
    with pytest.raises(ValueError, match="min_length"):
        filter_sequence_length(log, min_length=4, max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        filter_sequence_length(log, max_length=0)


def test_split_sessions_cuts_at_gaps_longer_than_the_limit():
    log = make_log([("u", "a", 0), ("u", "b", 100), ("v", "x", 5), ("u", "c", 201),
                    ("u", "d", 301), ("u", "e", 1000)])
    out = split_sessions(log, gap_seconds=100)
    # 100 -> 201 is longer than 100 s; 201 -> 301 is exactly 100 s (same session).
    assert out.frame["user_id"].tolist() == ["u#0", "u#0", "v#0", "u#1", "u#1", "u#2"]
    assert out.frame["item_id"].tolist() == log.frame["item_id"].tolist()
    record = check_record(out, log, "split_sessions")
    assert record["params"] == {"gap_seconds": 100, "separator": "#"}
    assert (record["users_before"], record["sessions_after"]) == (2, 4)
    table = session_table(out)
    assert table["session_id"].tolist() == ["u#0", "v#0", "u#1", "u#2"]
    assert table["user_id"].tolist() == ["u", "v", "u", "u"]
    assert table["session"].tolist() == [0, 0, 1, 2]
    assert table["events"].tolist() == [2, 1, 2, 1]
    assert table["start"].tolist() == [0, 5, 201, 1000]
    with pytest.raises(ValueError, match="session"):
        session_table(log)


def test_split_sessions_numbers_sessions_in_time_order_not_file_order():
    log = make_log([("u#x", "late", 5000), ("u#x", "early", 0)])
    out = split_sessions(log, gap_seconds=60)
    assert out.frame["user_id"].tolist() == ["u#x#1", "u#x#0"]
    assert session_table(out)["user_id"].tolist() == ["u#x", "u#x"]


def test_time_window_inclusive_start_exclusive_end_and_iso():
    day = 86400
    base = to_unix_seconds("2024-01-01")
    assert base == 1704067200
    log = make_log([("u", "a", base - 1), ("u", "b", base), ("u", "c", base + day - 1),
                    ("u", "d", base + day)])
    out = time_window(log, start="2024-01-01", end="2024-01-02T00:00:00Z")
    assert out.frame["item_id"].tolist() == ["b", "c"]
    record = check_record(out, log, "time_window")
    assert record["params"] == {"start": base, "end": base + day}
    assert time_window(log, start=base + 1).frame["item_id"].tolist() == ["c", "d"]
    assert time_window(log, end=str(base)).frame["item_id"].tolist() == ["a"]
    assert to_unix_seconds("2024-01-01T02:00:00+02:00") == base
    with pytest.raises(ValueError, match="after start"):
        time_window(log, start=base, end=base)
    with pytest.raises(ValueError, match="cannot read"):
        time_window(log, start="yesterday")


def test_filter_event_types_and_weights():
    log = make_log([("u", "a", 1, "view"), ("u", "a", 2, "buy"), ("u", "b", 3, "fav")])
    out = filter_event_types(log, ["buy", "view"])
    assert out.frame["event_type"].tolist() == ["view", "buy"]
    assert check_record(out, log, "filter_event_types")["removed_by_type"] == {"fav": 1}
    with pytest.raises(ValueError, match="at least one"):
        filter_event_types(log, [])

    weighted = weight_event_types(log, {"view": 1, "buy": 5}, default=0.5)
    assert weighted.frame["weight"].tolist() == [1.0, 5.0, 0.5]
    assert check_record(weighted, log, "weight_event_types")["params"]["default"] == 0.5
    with pytest.raises(ValueError, match="fav"):
        weight_event_types(log, {"view": 1, "buy": 5})


def test_weight_column_survives_the_other_steps():
    log = make_log([("u", "a", 1, "view"), ("u", "a", 2, "buy"), ("u", "b", 3, "view"),
                    ("v", "b", 1, "view"), ("v", "a", 2, "view")])
    weighted = weight_event_types(log, {"view": 1.0, "buy": 4.0})
    collapsed = collapse_repeats(weighted)
    assert collapsed.frame["event_type"].tolist() == ["buy", "view", "view", "view"]
    assert collapsed.frame["weight"].tolist() == [4.0, 1.0, 1.0, 1.0]  # follows the last type
    cored = k_core(collapsed, 2, 1)
    assert list(cored.frame.columns)[-1] == "weight" and len(cored) == 4


def test_remove_abnormal_users_uses_a_sliding_minute():
    bot = [("bot", f"i{k}", 1000 + 10 * k) for k in range(4)]  # 4 events within 30 s
    spread = [("ok", f"i{k}", 1000 + 20 * k) for k in range(4)]  # 4 events span exactly 60 s
    burst_later = [("late", f"i{k}", t) for k, t in enumerate([0, 500, 530, 550, 559])]
    log = make_log([*bot, *spread, *burst_later])
    out = remove_abnormal_users(log, max_events_per_minute=3)
    assert sorted(set(out.frame["user_id"])) == ["ok"]
    record = check_record(out, log, "remove_abnormal_users")
    assert record["users_removed"] == 2
    assert record["params"] == {"max_events_per_minute": 3, "window_seconds": 60}
    assert len(remove_abnormal_users(log, max_events_per_minute=4)) == len(log)
    assert len(remove_abnormal_users(log, max_events_per_minute=2)) == 0
    with pytest.raises(ValueError, match=">= 1"):
        remove_abnormal_users(log, 0)


def reference_abnormal(log: EventLog, n: int) -> set[str]:
    bad = set()
    for user, times in log.frame.groupby("user_id")["timestamp"]:
        values = sorted(times.tolist())
        if any(sum(t <= v < t + 60 for v in values) > n for t in values):
            bad.add(user)
    return bad


@pytest.mark.parametrize("n", [1, 2, 3])
def test_remove_abnormal_users_matches_a_direct_count(n):
    log = random_log(4, n=800, users=40)
    kept = set(remove_abnormal_users(log, n).frame["user_id"])
    assert kept == set(log.frame["user_id"]) - reference_abnormal(log, n)


def test_collapse_repeats_record_and_ties_in_file_order():
    # Ties at t=5: file order b, a, a -> the two a's are consecutive and collapse.
    log = make_log([("u", "b", 5, "view"), ("u", "a", 5, "view"), ("u", "a", 5, "cart"),
                    ("u", "b", 1, "view")])
    out = collapse_repeats(log)
    assert rows_of(out) == [("u", "b", 1, "view"), ("u", "a", 5, "cart")]
    check_record(out, log, "collapse_repeats")


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def test_every_step_in_the_order_is_exported_by_the_package():
    import recsft.data.preprocess as package

    for name in package.__all__:
        assert getattr(package, name) is not None, name
    for name in STEP_ORDER:
        assert callable(getattr(package, name)) and name in package.__all__, name


def test_preprocess_applies_steps_in_the_documented_order():
    log = random_log(5)
    config = PreprocessConfig(
        start=100, end=4900, keep_event_types=["view", "cart"], drop_duplicates=True,
        max_events_per_minute=2, session_gap_seconds=400, collapse_repeats=True,
        user_k=2, item_k=2, min_length=2, max_length=10, truncate=True,
        event_weights={"view": 1.0, "cart": 2.0, "buy": 3.0},
    )
    out = preprocess(log, config)
    assert [s["name"] for s in out.steps] == list(STEP_ORDER)
    # Every step but the weights removes or rewrites something on this data.
    changed = [s["events_after"] < s["events_before"] or s["users_after"] != previous
               for s, previous in zip(out.steps, [log.num_users] + [
                   p["users_after"] for p in out.steps])]
    assert all(changed[:-1]), out.steps
    # The same as calling the steps one by one.
    manual = time_window(log, 100, 4900)
    manual = filter_event_types(manual, ["view", "cart"])
    manual = drop_duplicates(manual)
    manual = remove_abnormal_users(manual, 2)
    manual = split_sessions(manual, 400)
    manual = collapse_repeats(manual)
    manual = k_core(manual, 2, 2)
    manual = filter_sequence_length(manual, 2, 10, truncate=True)
    manual = weight_event_types(manual, {"view": 1.0, "cart": 2.0, "buy": 3.0})
    pd.testing.assert_frame_equal(out.frame, manual.frame)
    assert out.steps == manual.steps
    for previous, step in zip(out.steps, out.steps[1:]):
        assert step["events_before"] == previous["events_after"]
    assert out.steps[-1]["users_after"] == out.num_users
    assert out.steps[-1]["items_after"] == out.num_items


def test_preprocess_defaults_do_nothing_and_config_checks():
    log = random_log(6)
    out = preprocess(log, PreprocessConfig())
    assert out is not log and out.steps == []
    pd.testing.assert_frame_equal(out.frame, log.frame)
    config = PreprocessConfig.from_dict({"drop_duplicates": True, "user_k": 5})
    assert config.to_dict()["user_k"] == 5
    with pytest.raises(ValueError, match="unknown preprocessing option"):
        PreprocessConfig.from_dict({"k": 5})
    with pytest.raises(ValueError, match="min_length"):
        preprocess(log, PreprocessConfig(drop_duplicates=True, min_length=5, max_length=2))


def test_preprocess_k_core_only_when_above_one():
    log = random_log(7)
    assert preprocess(log, PreprocessConfig(user_k=1, item_k=1)).steps == []
    assert [s["name"] for s in preprocess(log, PreprocessConfig(item_k=3)).steps] == ["k_core"]


def test_dedup_and_k_core_are_vectorised_at_scale():
    """A smoke test of the vectorised path: 200k events go through in well under a second or
    two (the 10-million-event figure is in the docs)."""
    rng = np.random.default_rng(0)
    n = 200_000
    frame = pd.DataFrame({
        "user_id": pd.Series(rng.integers(0, 20_000, n)).astype(str),
        "item_id": pd.Series(np.minimum(rng.zipf(1.3, n), 50_000)).astype(str),
        "timestamp": rng.integers(0, 10**6, n).astype(np.int64),
        "event_type": rng.choice(["view", "buy"], n),
    })
    out = preprocess(EventLog(frame), PreprocessConfig(drop_duplicates=True, user_k=5, item_k=5))
    assert out.frame["user_id"].value_counts().min() >= 5
    assert out.frame["item_id"].value_counts().min() >= 5


FULL_CONFIG = PreprocessConfig(
    start=0, end=10**9, keep_event_types=["view"], drop_duplicates=True,
    max_events_per_minute=3, session_gap_seconds=60, collapse_repeats=True, user_k=2, item_k=2,
    min_length=2, max_length=4, event_weights={"view": 1.0},
)


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_every_step_handles_empty_logs_and_object_columns(dtype):
    log = random_log(8, n=300, users=20, items=15)
    frame = log.frame.astype({"user_id": dtype, "item_id": dtype, "event_type": dtype})
    for source in (frame, frame.iloc[:0]):
        out = preprocess(EventLog(source), FULL_CONFIG)
        assert [s["name"] for s in out.steps] == list(STEP_ORDER)
        assert list(out.frame.columns) == ["user_id", "item_id", "timestamp", "event_type",
                                           "weight"]
        assert out.frame["timestamp"].dtype == np.int64
        if len(source) == 0:
            assert len(out) == 0 and out.steps[-1]["users_after"] == 0
        else:
            assert len(out) > 0
