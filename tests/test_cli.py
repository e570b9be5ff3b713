import json
import os
import subprocess
import sys
import time

import pytest

from recsft.cli import main


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from recsft.cli import build_parser; "
            "build_parser(); import recsft; "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'faiss') "
            "if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsft.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 5  # generous for a loaded CI machine; ~0.2 s here


def test_missing_config_is_one_clear_error(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml: config file not found" in err


def test_recommend_and_evaluate_commands(trained_run, capsys):
    config, record = trained_run
    from recsft.tokenization import BehaviorTokenizer

    known = BehaviorTokenizer.from_pretrained(config.run_dir).item_ids[:2]
    items = ",".join([*known, "unknown-item"])
    assert main(["recommend", "--run", config.run_dir, "--history", items, "--k", "5",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 5 and all(r["item_id"] not in known for r in results)
    assert main(["evaluate", "--run", config.run_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == record["test"]
    out_file = os.path.join(config.run_dir, "..", "evaluation.json")
    assert main(["evaluate", "--run", config.run_dir, "--output", out_file]) == 0
    table = capsys.readouterr().out
    with open(out_file) as handle:
        written = json.load(handle)
    assert written["metrics"] == record["test"]
    beyond = written["beyond_accuracy"]
    assert 0 < beyond["coverage@10"] <= 1 and 0 <= beyond["gini@10"] < 1
    assert 0 <= beyond["ild@10"] <= 1  # the synthetic items have categories
    ndcg = written["intervals"]["ndcg@10"]
    assert ndcg["mean"] == pytest.approx(record["test"]["ndcg@10"])
    assert ndcg["ci95_low"] < ndcg["mean"] < ndcg["ci95_high"]
    row = f"{'ndcg@10':<14} {ndcg['mean']:>8.4f}  [{ndcg['ci95_low']:.4f}, {ndcg['ci95_high']:.4f}]"
    assert row in table

    assert main(["evaluate", "--run", config.run_dir, "--segments", "--n-resamples", "50",
                 "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert set(segments) == {"history_length", "target_popularity", "target_event_type"}
    users = record["protocol"]["num_users"]
    for table in segments.values():
        assert sum(row["users"] for row in table.values()) == users
    weighted = sum(row["users"] * row["ndcg@10"]["mean"] for row in segments["history_length"]
                   .values()) / users
    assert weighted == pytest.approx(record["test"]["ndcg@10"])


def test_compare_command(trained_run, tmp_path, capsys):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    config, record = trained_run
    # Run B: the same run with its item matrix scaled on a few items (a different model on the
    # same users).
    other = tmp_path / "other"
    shutil.copytree(config.run_dir, other)
    weights = load_file(str(other / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embeddings.items.weight"))
    generator = torch.Generator().manual_seed(0)
    weights[key] = weights[key] + 0.05 * torch.randn(weights[key].shape, generator=generator)
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    out_file = tmp_path / "compare.json"
    assert main(["compare", config.run_dir, str(other), "--output", str(out_file)]) == 0
    table = capsys.readouterr().out
    result = json.loads(out_file.read_text())
    assert set(result["metrics"]) == {"ndcg@10", "recall@10", "mrr@10"}
    ndcg = result["metrics"]["ndcg@10"]
    assert ndcg["mean_a"] == pytest.approx(record["test"]["ndcg@10"])
    assert ndcg["difference"]["mean"] == pytest.approx(ndcg["mean_b"] - ndcg["mean_a"])
    assert ndcg["t_test_p"] <= ndcg["t_test_p_holm"] <= 1.0
    assert "B - A [95% CI]" in table and "ndcg@10" in table

    assert main(["compare", config.run_dir, config.run_dir, "--json"]) == 0
    same = json.loads(capsys.readouterr().out)["metrics"]["ndcg@10"]
    assert same["difference"]["mean"] == 0.0 and same["t_test_p"] == 1.0
    assert main(["compare", config.run_dir, str(other), "--metric", "ndcg@11"]) == 2
    assert "unknown metric 'ndcg@11'" in capsys.readouterr().err


def test_recommend_with_missing_run_folder(tmp_path, capsys):
    assert main(["recommend", "--run", str(tmp_path / "none"), "--history", "a"]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_evaluate_transfers_to_other_data(trained_run, tmp_path, capsys):
    import yaml

    config, record = trained_run
    other = config.to_dict()
    # Another shop from the generator: other users, a larger catalogue sharing the item ids.
    other["data"]["synthetic"] = {**other["data"]["synthetic"], "seed": 11, "num_items": 200}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    assert main(["evaluate", "--run", config.run_dir, "--data-config", str(path),
                 "--n-resamples", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    transfer = result["transfer"]
    assert 0 < transfer["unknown_target_share"] < 1
    assert 0 < transfer["unknown_history_item_share"] < 1
    assert result["dataset"]["items"] > record["dataset"]["items"]
    assert result["metrics"]["ndcg@10"] != record["test"]["ndcg@10"]
