"""Task labels: features strictly before the cutoff, labels from the window after it."""

from __future__ import annotations

import pandas as pd
import pytest

from recsft.data.events import EventLog
from recsft.tasks.labels import DAY, TaskConfig, make_examples, resolve_cutoff

T0 = 1_700_000_000


def log() -> EventLog:
    rows = [
        # u1: two views, then buys inside the window
        ("u1", "a", T0 - 300, "view"), ("u1", "b", T0 - 100, "view"), ("u1", "b", T0 + 50, "buy"),
        # u2: active before, silent after: churns, no purchase; bought before t0 (not a label)
        ("u2", "a", T0 - 900, "view"), ("u2", "c", T0 - 800, "buy"),
        # u3: one event before t0 only: too short with min_history 2
        ("u3", "a", T0 - 10, "view"), ("u3", "a", T0 + 10, "cart"),
        # u4: next event is a cart, the buy comes after the window
        ("u4", "c", T0 - 50, "view"), ("u4", "d", T0 - 40, "fav"), ("u4", "d", T0 + 20, "cart"),
        ("u4", "d", T0 + 3 * DAY, "buy"),
        # an event at exactly t0 belongs to the window
        ("u5", "a", T0 - 60, "view"), ("u5", "e", T0 - 30, "view"), ("u5", "e", T0, "buy"),
        # u9 only starts later (no history: never an example); the log runs to T0 + 10 days
        ("u9", "a", T0 + 10 * DAY, "view"),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event_type"])
    return EventLog(frame, source="toy.csv")


def by_user(examples) -> dict[str, str]:
    return {u: examples.classes[y] for u, y in zip(examples.user_ids, examples.labels)}


def test_purchase_labels_and_histories_stop_before_the_cutoff() -> None:
    examples = make_examples(log(), TaskConfig(task="purchase", cutoff=T0, horizon_days=2))
    assert by_user(examples) == {"u1": "purchase", "u2": "no_purchase", "u4": "no_purchase",
                                 "u5": "purchase"}
    for times in examples.timestamps:
        assert max(times) < T0
    assert examples.items[examples.user_ids.index("u2")] == ["a", "c"]
    assert examples.describe()["classes"] == {"no_purchase": 2, "purchase": 2}


def test_a_longer_horizon_sees_a_later_purchase() -> None:
    examples = make_examples(log(), TaskConfig(task="purchase", cutoff=T0, horizon_days=4))
    assert by_user(examples)["u4"] == "purchase"


def test_churn_and_next_event() -> None:
    churn = make_examples(log(), TaskConfig(task="churn", cutoff=T0, horizon_days=1))
    assert by_user(churn) == {"u1": "active", "u2": "churn", "u4": "active", "u5": "active"}
    following = make_examples(log(), TaskConfig(task="next_event", cutoff=T0))
    assert following.classes == ["buy", "cart", "fav", "view"]
    assert by_user(following) == {"u1": "buy", "u4": "cart", "u5": "buy"}  # u2 has none
    short = make_examples(log(), TaskConfig(task="churn", cutoff=T0, min_history=1))
    assert "u3" in short.user_ids


def test_cutoff_defaults_and_errors() -> None:
    events = log()
    last = int(events.frame["timestamp"].max())
    assert resolve_cutoff(events, TaskConfig(horizon_days=1)) == last - DAY
    iso = pd.Timestamp(T0, unit="s", tz="UTC").isoformat()
    assert resolve_cutoff(events, TaskConfig(cutoff=iso)) == T0
    with pytest.raises(ValueError, match="outside the log's events"):
        resolve_cutoff(events, TaskConfig(cutoff=T0 + 11 * DAY))
    with pytest.raises(ValueError, match="is not a date/time"):
        resolve_cutoff(events, TaskConfig(cutoff="yesterday-ish"))
    with pytest.raises(ValueError, match="unknown task 'ctr'"):
        TaskConfig(task="ctr")
    with pytest.raises(ValueError, match=r"unknown task option\(s\) \['horizon'\]"):
        TaskConfig.from_dict({"horizon": 3})
    with pytest.raises(ValueError, match="toy.csv: no 'order' events to predict"):
        make_examples(events, TaskConfig(task="purchase", cutoff=T0, purchase_event="order"))
    with pytest.raises(ValueError, match="toy.csv: the label window .* ends after the last event"):
        make_examples(events, TaskConfig(task="churn", cutoff=T0, horizon_days=20))
    assert len(make_examples(events, TaskConfig(task="next_event", cutoff=T0,
                                                horizon_days=20))) == 3
    with pytest.raises(ValueError, match="no user has 9 events before the cutoff"):
        make_examples(events, TaskConfig(task="churn", cutoff=T0, min_history=9))


def test_subset_keeps_rows_aligned() -> None:
    examples = make_examples(log(), TaskConfig(task="purchase", cutoff=T0, horizon_days=2))
    part = examples.subset([3, 0])
    assert part.user_ids == ["u5", "u1"] and part.labels.tolist() == [1, 1]
    assert part.items[0] == ["a", "e"] and len(part) == 2
