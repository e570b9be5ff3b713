"""scripts/benchmark_continual.py end to end on a tiny synthetic shop: two seeds of
``recsft windows --mode compare`` and the record it writes."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import tiny_config
from tests.scripts.script_module import load_script


def _script():
    return load_script("benchmark_continual")


def test_benchmark_continual_writes_the_record(tmp_path, capsys) -> None:
    config = tiny_config(tmp_path, epochs=1, eval_every=1)
    config.model.model_type = "sasrec"
    config.data.synthetic.update(start_spread_days=40, session_gap_hours=12)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    output, runs = tmp_path / "continual_tiny.json", tmp_path / "runs"
    argv = ["--config", str(path), "--windows", "2", "--window-days", "4", "--seeds", "1", "2",
            "--resamples", "50", "--runs-dir", str(runs), "--output", str(output)]
    script = _script()
    assert script.main(argv) == 0
    record = json.loads(output.read_text())
    assert record["benchmark"] == "continual" and record["name"] == "tiny"
    assert {"torch", "python", "cpus"} <= set(record["environment"])
    assert [s["seed"] for s in record["seeds"]] == [1, 2]
    for seed in record["seeds"]:
        assert "--mode compare" in seed["command"] and f"training.seed={seed['seed']}" in \
            seed["command"]
        assert [w["window"] for w in seed["windows"]] == [0, 1]
        later = seed["windows"][1]
        assert set(later["modes"]) == {"incremental", "frozen", "retrain"}
        for figures in later["modes"].values():
            assert figures["ndcg@10"]["ci95_low"] <= figures["ndcg@10"]["mean"]
        assert later["modes"]["frozen"]["train_seconds"] == 0
        assert (later["modes"]["incremental"]["train_sequences"]
                < later["modes"]["retrain"]["train_sequences"])
        assert "difference" in later["incremental_vs_retrain"]["ndcg@10"]
        assert (runs / f"tiny-seed{seed['seed']}" / "incremental-window-1").is_dir()
        assert (runs / f"tiny-seed{seed['seed']}.png").is_file()
    summary = record["summary"]
    assert summary["seeds"] == 2 and summary["incremental_within_retrain_interval"]["windows"] == 2
    ratios = [s["summary"]["train_seconds_ratio"] for s in record["seeds"]]
    assert summary["train_seconds_ratio"] == pytest.approx(sum(ratios) / 2)
    assert "wrote" in capsys.readouterr().out
    # --reuse reads the seeds' results without training; a foreign --output is refused
    assert script.main([*argv, "--reuse"]) == 0
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": 1}')
    from recsft.errors import RefusedError

    with pytest.raises(RefusedError, match="did not write"):
        script.main([*argv[:-1], str(foreign), "--reuse"])
