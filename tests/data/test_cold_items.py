"""The cold-start split: a seeded share of items held out from the training sequences."""

from __future__ import annotations

import pytest

from recsft.data.events import UserSequences
from recsft.data.split import choose_cold_items, hold_out_items, leave_one_out


def _sequences() -> UserSequences:
    items = [[f"i{(u * 7 + t) % 30}" for t in range(6 + u % 4)] for u in range(40)]
    return UserSequences(user_ids=[f"u{u}" for u in range(40)], items=items,
                         event_types=[["view"] * len(s) for s in items],
                         timestamps=[list(range(len(s))) for s in items])


def test_cold_items_are_seeded_stable_and_order_free():
    items = [f"i{n}" for n in range(30)]
    first = choose_cold_items(items, 0.1, seed=7)
    assert len(first) == 3 and first == sorted(first) and set(first) <= set(items)
    assert choose_cold_items(list(reversed(items)) + items[:5], 0.1, seed=7) == first
    assert choose_cold_items(items, 0.1, seed=8) != first
    assert choose_cold_items(items, 0.0, seed=7) == []
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        choose_cold_items(items, 1.0, seed=7)


def test_hold_out_removes_cold_items_from_training_only():
    splits = leave_one_out(_sequences())
    cold = choose_cold_items([i for s in _sequences().items for i in s], 0.2, seed=1)
    held = hold_out_items(splits, cold, 0.2, 1)
    assert held.cold_items == cold
    assert not any(item in cold for seq in held.train.items for item in seq)
    # Every kept training event is still there, in order, with its type and time.
    for before, after, times in zip(splits.train.items, held.train.items, held.train.timestamps):
        assert after == [i for i in before if i not in cold] and len(times) == len(after)
    removed = sum(len(s) for s in splits.train.items) - sum(len(s) for s in held.train.items)
    assert removed > 0 and held.metadata["cold_items"]["train_events_removed"] == removed
    # Evaluation sets are untouched: cold items stay targets and in histories.
    assert held.test is splits.test and held.valid is splits.valid
    cold_targets = sum(t in cold for t in held.test.targets)
    assert cold_targets > 0 and held.metadata["cold_items"]["test_cold_targets"] == cold_targets
    assert any(i in cold for h in held.test.histories for i in h)
    assert held.protocol == "leave-one-out, cold items 0.2 (seed 1)"
