"""Splits: leave-one-out (plain and on a target event type), temporal, user K-fold, windows."""

import numpy as np
import pandas as pd
import pytest

from recsft.data.events import EventLog, UserSequences
from recsft.data.preprocess import PreprocessConfig, collapse_repeats, preprocess
from recsft.data.split import (
    SequenceSplits,
    leave_one_out,
    sliding_windows,
    temporal_split,
    user_kfold,
)
from recsft.data.synthetic import SyntheticConfig, generate_events


def test_leave_one_out():
    sequences = UserSequences(
        user_ids=["u", "v"],
        items=[["a", "b", "c", "d"], ["x", "y"]],
        event_types=[["view"] * 4, ["view"] * 2],
        timestamps=[[1, 2, 3, 4], [1, 2]],
    )
    splits = leave_one_out(sequences)
    assert splits.train.items == [["a", "b"], ["x", "y"]]  # v is too short to evaluate
    assert splits.valid.histories == [["a", "b"]] and splits.valid.targets == ["c"]
    assert splits.test.histories == [["a", "b", "c"]] and splits.test.targets == ["d"]
    assert splits.test.user_ids == ["u"]


def test_collapse_repeats_keeps_last_type_and_first_time():
    frame = pd.DataFrame({
        "user_id": ["u"] * 5,
        "item_id": ["a", "a", "a", "b", "a"],
        "timestamp": [1, 2, 3, 4, 5],
        "event_type": ["view", "cart", "buy", "view", "view"],
    })
    out = collapse_repeats(EventLog(frame)).frame
    assert out["item_id"].tolist() == ["a", "b", "a"]
    assert out["event_type"].tolist() == ["buy", "view", "view"]
    assert out["timestamp"].tolist() == [1, 4, 5]


# --------------------------------------------------------------------------------------------
# Helpers for the split tests
# --------------------------------------------------------------------------------------------


def make_sequences(data: dict[str, list[tuple]]) -> UserSequences:
    """data: user -> [(item, event_type, timestamp), ...] in time order."""
    return UserSequences(
        user_ids=list(data),
        items=[[e[0] for e in events] for events in data.values()],
        event_types=[[e[1] for e in events] for events in data.values()],
        timestamps=[[e[2] for e in events] for events in data.values()],
    )


def random_sequences(seed: int = 0, users: int = 60) -> UserSequences:
    rng = np.random.default_rng(seed)
    data = {}
    for u in range(users):
        n = int(rng.integers(1, 25))
        times = np.sort(rng.integers(0, 1000, n)).tolist()
        data[f"u{u:03d}"] = [(f"i{rng.integers(0, 30)}", str(rng.choice(["view", "buy"])), t)
                             for t in times]
    return make_sequences(data)


def user_events(sequences: UserSequences, user: str) -> list[tuple]:
    index = sequences.user_ids.index(user)
    return list(zip(sequences.items[index], sequences.event_types[index],
                    sequences.timestamps[index]))


def as_tuple(splits: SequenceSplits) -> tuple:
    return (splits.train, splits.valid, splits.test, splits.protocol, splits.metadata)


# --------------------------------------------------------------------------------------------
# Leave-one-out
# --------------------------------------------------------------------------------------------


def test_leave_one_out_never_trains_on_held_out_events():
    sequences = random_sequences(1)
    splits = leave_one_out(sequences)
    assert splits.protocol == "leave-one-out"
    evaluated = set(splits.test.user_ids)
    assert splits.valid.user_ids == splits.test.user_ids
    for index, user in enumerate(splits.train.user_ids):
        full = user_events(sequences, user)
        train = list(zip(splits.train.items[index], splits.train.event_types[index],
                         splits.train.timestamps[index]))
        assert train == (full[:-2] if user in evaluated else full)
    for row, user in enumerate(splits.test.user_ids):
        full = user_events(sequences, user)
        assert splits.test.targets[row] == full[-1][0]
        assert splits.test.target_timestamps[row] == full[-1][2]
        assert splits.test.histories[row] == [e[0] for e in full[:-1]]
        assert splits.test.history_timestamps[row] == [e[2] for e in full[:-1]]
        assert splits.valid.targets[row] == full[-2][0]
        assert splits.valid.histories[row] == [e[0] for e in full[:-2]]
    assert all(len(user_events(sequences, u)) >= 3 for u in evaluated)
    assert splits.metadata["evaluated_users"] == len(evaluated)


def test_leave_one_out_on_a_target_event_type():
    sequences = make_sequences({
        "u": [("a", "view", 1), ("b", "buy", 2), ("c", "view", 3), ("d", "buy", 4),
              ("e", "view", 5)],
        "one_buy": [("a", "view", 1), ("b", "view", 2), ("c", "buy", 3)],
        "first_is_buy": [("a", "buy", 1), ("b", "view", 2), ("c", "buy", 3)],
        "w": [("x", "view", 1), ("y", "buy", 2), ("z", "buy", 2), ("q", "cart", 3)],
    })
    splits = leave_one_out(sequences, target_event_type="buy")
    assert splits.protocol == "leave-one-out, target event type 'buy'"
    assert splits.test.user_ids == ["u", "w"]
    assert splits.test.targets == ["d", "z"]
    assert splits.test.histories == [["a", "b", "c"], ["x", "y"]]
    assert splits.test.history_event_types == [["view", "buy", "view"], ["view", "buy"]]
    assert splits.test.target_event_types == ["buy", "buy"]
    assert splits.valid.targets == ["b", "y"]
    assert splits.valid.histories == [["a"], ["x"]]
    # Training: only events before the validation target; train-only users keep everything.
    train = dict(zip(splits.train.user_ids, splits.train.items))
    assert train == {"u": ["a"], "one_buy": ["a", "b", "c"], "first_is_buy": ["a", "b", "c"],
                     "w": ["x"]}
    # A larger min_length asks for more events before the validation target.
    assert leave_one_out(sequences, min_length=4, target_event_type="buy").test.user_ids == []


def test_leave_one_out_on_a_target_type_has_no_leakage():
    sequences = random_sequences(2)
    splits = leave_one_out(sequences, target_event_type="buy")
    assert len(splits.test) > 5
    train = dict(zip(splits.train.user_ids, splits.train.timestamps))
    for row, user in enumerate(splits.test.user_ids):
        full = user_events(sequences, user)
        buys = [i for i, e in enumerate(full) if e[1] == "buy"]
        assert splits.test.targets[row] == full[buys[-1]][0]
        assert splits.valid.targets[row] == full[buys[-2]][0]
        assert len(train[user]) == buys[-2]  # strictly the events before the valid target
        assert len(splits.test.histories[row]) == buys[-1]


def test_leave_one_out_rejects_short_min_length():
    with pytest.raises(ValueError, match="min_length"):
        leave_one_out(random_sequences(), min_length=2)


def test_leave_one_out_without_timestamps():
    sequences = UserSequences(user_ids=["u"], items=[["a", "b", "c"]],
                              event_types=[["view"] * 3])
    splits = leave_one_out(sequences)
    assert splits.train.timestamps == [[0]]  # as before: zeros when unknown
    assert splits.test.targets == ["c"] and splits.test.target_timestamps == []


# --------------------------------------------------------------------------------------------
# Temporal
# --------------------------------------------------------------------------------------------


def test_temporal_split_example():
    sequences = make_sequences({
        "u": [("a", "view", 10), ("b", "view", 20), ("c", "view", 30), ("d", "view", 40)],
        "v": [("x", "view", 25), ("y", "view", 35)],
        "late": [("z", "view", 30)],       # no history before either cut-off
        "early": [("e", "view", 5)],      # nothing after the cut-offs
    })
    splits = temporal_split(sequences, cutoff=30, valid_cutoff=20)
    assert splits.train.user_ids == ["u", "early"]
    assert splits.train.items == [["a"], ["e"]]
    assert splits.valid.user_ids == ["u"] and splits.valid.targets == ["b"]
    assert splits.valid.histories == [["a"]]
    # The test target is the first event at or after the cut-off (t=30 counts as after).
    assert splits.test.user_ids == ["u", "v"] and splits.test.targets == ["c", "y"]
    assert splits.test.histories == [["a", "b"], ["x"]]
    assert splits.metadata["cutoff"] == 30 and splits.metadata["valid_cutoff"] == 20
    assert "1970-01-01T00:00:30Z" in splits.protocol
    assert "1970-01-01T00:00:20Z" in splits.protocol
    # A test window [30, 35): "v"'s first event after the cut-off (t=35) falls outside it.
    window = temporal_split(sequences, cutoff=30, valid_cutoff=20, test_end=35)
    assert window.test.user_ids == ["u"] and window.metadata["test_end"] == 35
    assert "test = first event in [1970-01-01T00:00:30Z, 1970-01-01T00:00:35Z)" in window.protocol
    with pytest.raises(ValueError, match="test_end .* must be later than cutoff"):
        temporal_split(sequences, cutoff=30, test_end=30)


@pytest.mark.parametrize("valid_cutoff", [None, 400])
def test_temporal_split_has_no_leakage(valid_cutoff):
    sequences = random_sequences(3)
    cutoff = 600
    splits = temporal_split(sequences, cutoff, valid_cutoff=valid_cutoff)
    train_end = cutoff if valid_cutoff is None else valid_cutoff
    assert all(t < train_end for times in splits.train.timestamps for t in times)
    assert min(splits.test.target_timestamps) >= cutoff
    assert all(t < cutoff for times in splits.test.history_timestamps for t in times)
    for row, user in enumerate(splits.test.user_ids):
        full = user_events(sequences, user)
        first_after = next(e for e in full if e[2] >= cutoff)
        assert splits.test.targets[row] == first_after[0]
        assert splits.test.histories[row] == [e[0] for e in full if e[2] < cutoff]
    if valid_cutoff is None:
        assert len(splits.valid) == 0
    else:
        assert len(splits.valid) > 0
        assert all(valid_cutoff <= t < cutoff for t in splits.valid.target_timestamps)
        assert all(t < valid_cutoff for h in splits.valid.history_timestamps for t in h)
    # Every training event before the cut-off is kept.
    expected = sum(t < train_end for times in sequences.timestamps for t in times)
    assert sum(len(s) for s in splits.train.items) == expected == splits.metadata["train_events"]


def test_temporal_split_accepts_iso_and_checks_its_input():
    base = 1704067200  # 2024-01-01T00:00:00Z
    sequences = make_sequences({"u": [("a", "view", base - 5), ("b", "view", base)]})
    splits = temporal_split(sequences, "2024-01-01")
    assert splits.test.targets == ["b"] and splits.metadata["cutoff"] == base
    assert "2024-01-01T00:00:00Z" in splits.protocol
    with pytest.raises(ValueError, match="earlier"):
        temporal_split(sequences, base, valid_cutoff=base)
    unsorted = make_sequences({"u": [("a", "view", 1), ("b", "view", 2)],
                               "v": [("a", "view", 5), ("b", "view", 3)]})
    with pytest.raises(ValueError, match="'v'.*time order"):
        temporal_split(unsorted, 4)
    no_times = UserSequences(user_ids=["u"], items=[["a"]], event_types=[["view"]])
    with pytest.raises(ValueError, match="timestamps"):
        temporal_split(no_times, 4)
    with pytest.raises(ValueError, match="min_history"):
        temporal_split(sequences, base, min_history=0)


# --------------------------------------------------------------------------------------------
# User K-fold
# --------------------------------------------------------------------------------------------


def test_user_kfold_holds_users_out_entirely():
    sequences = random_sequences(4)
    k = 4
    evaluable = {u for u, items in zip(sequences.user_ids, sequences.items) if len(items) >= 3}
    seen = []
    for fold in range(k):
        splits = user_kfold(sequences, k=k, fold=fold, seed=7)
        held = set(splits.test.user_ids)
        assert held.isdisjoint(splits.train.user_ids)
        assert set(splits.train.user_ids) | held == set(sequences.user_ids)
        assert splits.valid.user_ids == splits.test.user_ids
        for index, user in enumerate(splits.train.user_ids):
            assert splits.train.items[index] == sequences.items[sequences.user_ids.index(user)]
        for row, user in enumerate(splits.test.user_ids):
            full = user_events(sequences, user)
            assert splits.test.targets[row] == full[-1][0]
            assert splits.test.histories[row] == [e[0] for e in full[:-1]]
            assert splits.valid.targets[row] == full[-2][0]
        assert "fold" in splits.protocol and splits.metadata["seed"] == 7
        seen.extend(held)
    assert sorted(seen) == sorted(evaluable)  # every evaluable user held out exactly once
    sizes = [len(user_kfold(sequences, k, f, seed=7).test) for f in range(k)]
    assert max(sizes) - min(sizes) <= 1


def test_user_kfold_is_deterministic_and_order_independent():
    sequences = random_sequences(5)
    first = user_kfold(sequences, k=3, fold=1, seed=11)
    assert as_tuple(first) == as_tuple(user_kfold(sequences, k=3, fold=1, seed=11))
    assert first.test.user_ids != user_kfold(sequences, k=3, fold=1, seed=12).test.user_ids
    order = list(reversed(range(len(sequences))))
    reversed_sequences = UserSequences(
        user_ids=[sequences.user_ids[i] for i in order],
        items=[sequences.items[i] for i in order],
        event_types=[sequences.event_types[i] for i in order],
        timestamps=[sequences.timestamps[i] for i in order],
    )
    again = user_kfold(reversed_sequences, k=3, fold=1, seed=11)
    assert set(again.test.user_ids) == set(first.test.user_ids)


def test_user_kfold_checks_arguments():
    sequences = random_sequences(6)
    for kwargs in ({"k": 1, "fold": 0}, {"k": 3, "fold": 3}, {"k": 3, "fold": -1},
                   {"k": 3, "fold": 0, "min_length": 2}):
        with pytest.raises(ValueError):
            user_kfold(sequences, **kwargs)
    twice = make_sequences({"u": [("a", "view", 1)] * 3})
    twice.user_ids.append("u")
    twice.items.append(["a"])
    twice.event_types.append(["view"])
    twice.timestamps.append([1])
    with pytest.raises(ValueError, match="repeat"):
        user_kfold(twice, k=2, fold=0)


# --------------------------------------------------------------------------------------------
# Sliding windows
# --------------------------------------------------------------------------------------------


def test_sliding_windows_example_and_coverage():
    items = [f"i{k}" for k in range(10)]
    sequences = make_sequences({
        "long": [(item, "view", k) for k, item in enumerate(items)],
        "short": [("a", "view", 1), ("b", "view", 2)],
        "empty": [],
    })
    windows = sliding_windows(sequences, window=4, stride=3)
    assert windows.user_ids == ["long"] * 3 + ["short"]
    assert windows.items == [items[0:4], items[3:7], items[6:10], ["a", "b"]]
    assert windows.timestamps[1] == [3, 4, 5, 6]
    assert windows.event_types[0] == ["view"] * 4


@pytest.mark.parametrize(("length", "window", "stride"),
                         [(10, 4, 1), (10, 4, 4), (11, 4, 2), (50, 7, 3), (5, 5, 2), (9, 3, 5)])
def test_sliding_windows_properties(length, window, stride):
    items = list(range(length))
    sequences = UserSequences(user_ids=["u"], items=[items], event_types=[["view"] * length])
    windows = sliding_windows(sequences, window, stride)
    assert windows.timestamps == []
    assert windows.items[-1] == items[-window:]  # the newest window is always there
    assert windows.items[0] == items[:window]    # and the oldest
    assert all(len(w) == min(window, length) for w in windows.items)
    for w in windows.items:  # contiguous slices
        assert w == items[w[0]:w[0] + len(w)]
    if stride <= window:
        assert set().union(*map(set, windows.items)) == set(items)
    assert windows.items == sliding_windows(sequences, window, stride).items


def test_sliding_windows_checks_arguments():
    with pytest.raises(ValueError, match="window"):
        sliding_windows(random_sequences(), window=0, stride=1)
    with pytest.raises(ValueError, match="stride"):
        sliding_windows(random_sequences(), window=3, stride=0)


# --------------------------------------------------------------------------------------------
# Determinism and the whole chain on synthetic data
# --------------------------------------------------------------------------------------------


def test_splits_are_deterministic_on_preprocessed_synthetic_data():
    data = generate_events(SyntheticConfig(num_users=300, num_items=80, num_categories=4,
                                           seed=2))
    log = preprocess(EventLog(data.events, source="synthetic"),
                     PreprocessConfig(drop_duplicates=True, collapse_repeats=True, user_k=3,
                                      item_k=3))
    sequences = log.sequences()
    times = sorted(t for ts in sequences.timestamps for t in ts)
    cutoff, valid_cutoff = times[int(len(times) * 0.9)], times[int(len(times) * 0.8)]
    for make in (lambda: leave_one_out(sequences),
                 lambda: leave_one_out(sequences, target_event_type="buy"),
                 lambda: temporal_split(sequences, cutoff, valid_cutoff),
                 lambda: user_kfold(sequences, k=5, fold=2, seed=0)):
        first, second = make(), make()
        assert as_tuple(first) == as_tuple(second)
        assert len(first.test) > 0
