"""The time-to-quality benchmark: recsft's side end to end on a tiny generated log, and the
target / time computation on hand-made curves."""

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "benchmark_time_to_quality.py"


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_time_to_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _curve(points):
    return [{"train_seconds": t, "ndcg@10": v} for t, v in points]


def test_target_is_the_best_of_the_slowest_and_times_are_first_reaches():
    result = _script().time_to_target({
        "recsft": _curve([(10, 0.05), (20, 0.12), (30, 0.15)]),
        "recbole": _curve([(100, 0.02), (200, 0.09), (400, 0.10), (600, 0.08)]),
        "rectools": _curve([(15, 0.10), (30, 0.13)]),
    })
    assert result["best"] == {"recsft": 0.15, "recbole": 0.10, "rectools": 0.13}
    assert result["target"] == 0.10  # RecBole's best: the lowest of the three
    assert result["seconds_to_target"] == {"recsft": 20, "recbole": 400, "rectools": 15}
    assert result["ratios"] == {"recbole/recsft": 20.0, "rectools/recsft": 0.75}
    # Each against recsft alone, at the lower of the two bests.
    assert result["pairwise"]["recbole"] == {"target": 0.10, "ratio": 20.0,
                                             "seconds": {"recbole": 400, "recsft": 20}}
    assert result["pairwise"]["rectools"] == {"target": 0.13, "ratio": 1.0,
                                              "seconds": {"rectools": 30, "recsft": 30}}


def test_a_library_without_points_never_reaches_and_has_no_ratio():
    result = _script().time_to_target({"recsft": _curve([(5, 0.2)]), "recbole": []})
    assert result["target"] == 0.2 and result["best"]["recbole"] is None
    assert result["seconds_to_target"] == {"recsft": 5, "recbole": None}
    assert result["ratios"] == {"recbole/recsft": None}
    assert result["pairwise"]["recbole"]["ratio"] is None


def test_own_ndcg_matches_recsfts_metric_code():
    sys.path.insert(0, str(SCRIPT.parent))
    from time_to_quality_child import own_ndcg10

    from recsft.evaluation.metrics.ranking import compute_ranking_metrics

    rng = np.random.default_rng(0)
    top = np.stack([rng.permutation(40)[:20] for _ in range(50)])
    targets = rng.integers(0, 40, size=50)
    assert own_ndcg10(top, targets) == pytest.approx(
        compute_ranking_metrics(top, targets, [10])["ndcg@10"])


def test_recsft_side_writes_a_curve_scored_by_recsfts_evaluator(tmp_path):
    script = _script()
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,timestamp"]
    for user in range(40):
        for n in range(int(rng.integers(5, 12))):
            lines.append(f"u{user},i{int(rng.integers(0, 30))},{n}")
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    counts = script.prepare_work({"source": str(log), "format": "csv"}, str(work), users=30)
    assert counts["users"] == 30 and counts["valid_users"] == 30
    valid = json.loads((work / "valid.json").read_text())
    test = json.loads((work / "test.json").read_text())
    assert valid["users"] == test["users"] and len(valid["targets"]) == 30
    assert (work / "recbole" / "ttq" / "ttq.inter").read_text().startswith("user_id:token")
    train_rows = (work / "train.tsv").read_text().splitlines()[1:]
    assert len(train_rows) == counts["events"] - 2 * 30  # validation and test events held out

    config = tmp_path / "tiny.yaml"
    config.write_text(
        "name: tiny\noutput_dir: runs\ndata:\n  source: unused\n  max_length: 8\n"
        "model:\n  model_type: sasrec\n  hidden_size: 16\n  num_hidden_layers: 1\n"
        "  num_attention_heads: 1\n  intermediate_size: 32\n  use_event_types: false\n"
        "training:\n  epochs: 3\n  batch_size: 8\n  seed: 1\n")
    args = argparse.Namespace(top_k=10, recsft_config=str(config), max_length=None,
                              budget_minutes=5, eval_every_seconds=0.01, patience=0,
                              threads=1, recbole_anomaly="off")
    case = script.run_case(args, "tiny", "sasrec", "recommended", ["recsft"], {}, str(work),
                           str(tmp_path / "runs"))
    record = case["libraries"]["recsft"]
    curve = record["curve"]
    assert curve and record["stopped"] == "epochs"
    assert [p["train_seconds"] for p in curve] == sorted(p["train_seconds"] for p in curve)
    assert {"train_seconds", "wall_seconds", "score_seconds", "epoch", "steps",
            "ndcg@10"} <= set(curve[0])
    assert all(p["wall_seconds"] >= p["train_seconds"] for p in curve)
    assert 0.0 <= record["best_valid_ndcg10"] <= 1.0
    assert 0.0 <= record["test_ndcg10_at_best_valid"] <= 1.0
    # The files score the last point exactly as recsft's own evaluator does.
    check = record["evaluator_check"]
    assert check["files_last_point"] == pytest.approx(check["recsft_evaluator_last_point"])
    assert record["versions"]["recsft"]
    assert case["target"] == record["best_valid_ndcg10"]
    assert case["seconds_to_target"]["recsft"] is not None
    top = np.load(os.path.join(tmp_path, "runs", "tiny-sasrec-recommended-recsft",
                               "valid_0.npy"))
    assert top.shape == (30, 10)
    png = tmp_path / "curves.png"
    script.plot({"cases": [case]}, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_merge_keeps_only_the_cases_this_run_does_not_redo(tmp_path):
    path = tmp_path / "time_to_quality_x.json"
    assert _script().kept_cases(str(path), ["sasrec"], ["matched"]) == []
    cases = [{"model": m, "settings": s} for m in ("sasrec", "bert4rec")
             for s in ("recommended", "matched")]
    path.write_text(json.dumps({"cases": cases}))
    kept = _script().kept_cases(str(path), ["sasrec"], ["matched", "recommended"])
    assert kept == [{"model": "bert4rec", "settings": "recommended"},
                    {"model": "bert4rec", "settings": "matched"}]
