"""Probability metrics agree with scikit-learn's on random data (ties included)."""

import evaluate
import numpy as np
import pytest

from recsft.evaluation.metrics import load_metric, metric_script_path, probabilistic_metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1).round(2)  # rounding makes ties
    ours = probabilistic_metrics(p, y)
    assert ours["roc_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, p), abs=1e-12)
    assert ours["pr_auc"] == pytest.approx(sklearn_metrics.average_precision_score(y, p),
                                           abs=1e-12)
    assert ours["log_loss"] == pytest.approx(sklearn_metrics.log_loss(y, p), abs=1e-9)
    assert ours["brier"] == pytest.approx(sklearn_metrics.brier_score_loss(y, p), abs=1e-12)
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum((bins == b).sum() / 500 * abs(y[bins == b].mean() - p[bins == b].mean())
              for b in range(10) if (bins == b).any())
    assert ours["ece"] == pytest.approx(ece, abs=1e-12)


def test_evaluate_module_and_edge_cases():
    from_file = evaluate.load(metric_script_path("probabilistic"), keep_in_memory=True)
    args = {"predictions": [0.9, 0.2, 0.6, 0.4], "references": [1, 0, 0, 1]}
    assert from_file.compute(**args) == load_metric("probabilistic").compute(**args)
    assert from_file.compute(**args)["roc_auc"] == 0.75
    single = probabilistic_metrics([0.2, 0.7], [1, 1])
    assert np.isnan(single["roc_auc"]) and np.isnan(single["pr_auc"])
    with pytest.raises(ValueError, match="probabilities in"):
        probabilistic_metrics([1.2], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        probabilistic_metrics([0.5], [2])
