"""The shipped evaluate modules load by name without any network access: through
``load_metric(name)`` and through ``evaluate.load(metric_script_path(name))``."""

from __future__ import annotations

import numpy as np
import pytest

from recsft.evaluation.metrics import METRICS, load_metric, metric_script_path

_INPUTS = {
    "ranking": ({"predictions": [[3, 1, 2], [5, 4, 6], [7, 9, 8]],
                 "references": [[1], [6], [0]]}, {"k_values": [1, 2, 3]}),
    "classification": ({"predictions": [1, 0, 1, 1], "references": [1, 0, 0, 1]}, {}),
    "probabilistic": ({"predictions": [0.9, 0.2, 0.6, 0.4], "references": [1, 0, 0, 1]}, {}),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_evaluate_load_of_the_shipped_script_needs_no_network(name, offline_guard,
                                                              monkeypatch):
    import evaluate
    from evaluate import config

    # Online as far as evaluate knows: the local script must not need the Hub anyway.
    monkeypatch.setattr(config, "HF_EVALUATE_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    loaded = evaluate.load(metric_script_path(name), keep_in_memory=True)
    shipped = load_metric(name, keep_in_memory=True)
    assert type(loaded).__name__ == type(shipped).__name__ == METRICS[name].__name__
    inputs, options = _INPUTS[name]
    got, expected = loaded.compute(**inputs, **options), shipped.compute(**inputs, **options)
    assert got.keys() == expected.keys()
    for key in got:
        assert np.isclose(got[key], expected[key], equal_nan=True), key
    assert offline_guard == []


def test_a_bare_name_is_not_recsfts_module(offline_guard, tmp_path, monkeypatch):
    import evaluate

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="ranking"):
        evaluate.load("ranking")  # a Hub lookup of evaluate-metric/ranking, refused here
    with pytest.raises(ValueError, match="Unknown metric 'ndcg'; known metrics: "
                                         "classification, probabilistic, ranking"):
        metric_script_path("ndcg")
