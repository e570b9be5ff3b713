"""Time windows and user folds: one config trained per variant of its data."""

import json
import math
import os

import numpy as np
import pytest

from recsft.training.repeats import (  # noqa: E402
    drift_labels,
    fold_variants,
    js_divergence,
    summarise,
    time_window_variants,
)
from tests.conftest import tiny_config  # noqa: E402


def test_window_cutoffs_tile_the_end_of_the_log(tmp_path):
    from recsft.data.sources import load_events

    config = tiny_config(tmp_path)
    times = load_events(config.data).frame["timestamp"]
    day = 86400
    variants = time_window_variants(config, 3, 7 * day)
    cutoffs = [v["cutoff"] for v in variants.values()]
    assert cutoffs[-1] + 7 * day == int(times.max()) + 1  # the last window ends after the log
    assert np.diff(cutoffs).tolist() == [7 * day, 7 * day]
    for v in variants.values():
        assert v["valid_cutoff"] == v["cutoff"] - 7 * day and v["test_end"] == v["cutoff"] + 7 * day
    with pytest.raises(ValueError, match="too short for 100 test windows"):
        time_window_variants(config, 100, 7 * day)
    assert fold_variants(3)["fold-2"] == {"split": "user-kfold", "folds": 3, "fold": 2,
                                          "split_seed": 0}


def test_summary_divergence_and_drift_buckets():
    stats = summarise([0.1, 0.2, 0.3], slope=True)
    assert stats["mean"] == pytest.approx(0.2) and stats["std"] == pytest.approx(0.1)
    assert stats["slope_per_window"] == pytest.approx(0.1) and stats["cv"] == pytest.approx(0.5)
    assert js_divergence({"a": 3}, {"a": 1}) == 0.0
    assert js_divergence({"a": 1}, {"b": 5}) == pytest.approx(1.0)
    assert js_divergence({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(
        0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
        + 0.5 * math.log2(1 / 0.75))
    labels = drift_labels(np.array([np.nan, 0.0, 0.3, 0.9, 1.0]))
    assert labels.tolist() == ["unknown", "low", "medium", "high", "high"]


def test_windows_and_cv_commands(tmp_path, capsys):
    import yaml

    from recsft.cli import main

    config = tiny_config(tmp_path, epochs=1, eval_every=1)
    config.model.model_type = "sasrec"
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "windows.json"
    assert main(["windows", "--config", str(path), "--windows", "2", "--window-days", "5",
                 "--output", str(out)]) == 0
    assert "slope" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert list(result["variants"]) == ["window-0", "window-1"]
    for name, row in result["variants"].items():
        assert row["users"] > 0 and "first event in [" in row["protocol"]["split"]
        assert os.path.isdir(os.path.join(config.run_dir, name))
        assert "by_bucket" in row["drift"]
    ndcg = [row["test"]["ndcg@10"] for row in result["variants"].values()]
    assert result["summary"]["ndcg@10"]["mean"] == pytest.approx(np.mean(ndcg))

    assert main(["cv", "--config", str(path), "--folds", "2", "--json"]) == 0
    folds = json.loads(capsys.readouterr().out)
    users = [row["users"] for row in folds["variants"].values()]
    assert len(users) == 2 and abs(users[0] - users[1]) <= 1  # users dealt evenly
