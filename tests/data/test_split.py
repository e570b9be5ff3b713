from recsft.data.events import UserSequences
from recsft.data.preprocess import collapse_repeats
from recsft.data.split import leave_one_out


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
    import pandas as pd

    from recsft.data.events import EventLog

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
