import numpy as np
import pytest

from recsft.evaluation.segments import (
    HISTORY_LABELS,
    history_length_segments,
    popularity_groups,
    segment_metrics,
)


def test_history_length_buckets():
    lengths = np.array([1, 2, 4, 5, 9, 10, 19, 20, 49, 50, 500])
    assert history_length_segments(lengths).tolist() == [
        "1", "2-4", "2-4", "5-9", "5-9", "10-19", "10-19", "20-49", "20-49", "50+", "50+"]
    assert HISTORY_LABELS == ("1", "2-4", "5-9", "10-19", "20-49", "50+")


def test_popularity_groups_split_interactions_20_60_20():
    counts = np.array([100, 50, 30, 10, 5, 3, 1, 1, 0])  # 200 interactions
    # item 0 holds the first 50% (head); item 1 spans 50-75% (torso); the rest lie in the last
    # 25%: item 2 starts at 75% with 10% after it (tail), and so on; item 8 has none (cold).
    assert popularity_groups(counts).tolist() == [
        "head", "torso", "tail", "tail", "tail", "tail", "tail", "tail", "cold"]
    flat = popularity_groups(np.ones(10))
    assert flat.tolist() == ["head"] * 2 + ["torso"] * 6 + ["tail"] * 2
    assert popularity_groups(np.zeros(3)).tolist() == ["cold"] * 3


def test_segment_metrics_average_within_segments():
    per_user = {"ndcg@10": np.array([1.0, 0.0, 0.5, 0.5, 0.25]),
                "recall@10": np.array([1.0, 0.0, 1.0, 1.0, 1.0])}
    labels = ["a", "a", "b", "b", "c"]
    table = segment_metrics(per_user, labels, order=["b", "z"], n_resamples=200)
    assert list(table) == ["b", "a", "c"]  # the given order first, absent segments skipped
    assert table["a"]["users"] == 2 and table["a"]["share"] == pytest.approx(0.4)
    assert table["a"]["ndcg@10"]["mean"] == 0.5 and table["b"]["recall@10"]["mean"] == 1.0
    assert table["c"]["ndcg@10"] == {"mean": 0.25, "ci95_low": 0.25, "ci95_high": 0.25}
    low, high = table["a"]["ndcg@10"]["ci95_low"], table["a"]["ndcg@10"]["ci95_high"]
    assert 0.0 <= low <= 0.5 <= high <= 1.0
