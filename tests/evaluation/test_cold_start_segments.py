"""Warm / cold target labels and their per-segment metrics."""

from __future__ import annotations

import numpy as np

from recsft.evaluation.segments import COLD_START_ORDER, cold_start_labels, segment_metrics


def test_cold_start_labels_split_all_users():
    labels = cold_start_labels(["a", "b", "c", "a", "d"], {"a", "x"})
    assert labels.tolist() == ["cold_targets", "warm_targets", "warm_targets", "cold_targets",
                               "warm_targets"]
    values = {"ndcg@10": np.array([0.0, 1.0, 0.5, 0.0, 0.25])}
    table = segment_metrics(values, labels, ["ndcg@10"], n_resamples=200,
                            order=COLD_START_ORDER)
    assert list(table) == ["warm_targets", "cold_targets"]
    assert table["warm_targets"]["users"] + table["cold_targets"]["users"] == 5
    assert table["warm_targets"]["ndcg@10"]["mean"] == np.mean([1.0, 0.5, 0.25])
    assert table["cold_targets"]["ndcg@10"]["mean"] == 0.0
    assert cold_start_labels(["a"], set()).tolist() == ["warm_targets"]
