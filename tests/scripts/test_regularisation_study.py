"""The regularisation study: a candidate is chosen on validation alone, a missing record is
reported as missing."""

import json

from tests.scripts.script_module import load_script


def _record(valid: list[float], test: list[float]) -> dict:
    seeds = [{"seed": 42 + i, "valid": {"ndcg@10": v}, "test": {"ndcg@10": t},
              "training": {"best_epoch": 5, "epochs_run": 10, "train_seconds": 1.0}}
             for i, (v, t) in enumerate(zip(valid, test))]
    mean = sum(test) / len(test)
    summary = {"ndcg@10": {"mean": mean, "seeds": {"n": len(test), "ci95_low": mean - 0.01,
                                                    "ci95_high": mean + 0.01}}}
    return {"seeds": seeds, "summary": summary}


def test_choice_reads_validation_never_test(tmp_path, monkeypatch):
    study = load_script("regularisation_study")
    monkeypatch.setitem(study._record.__globals__, "RESULTS", str(tmp_path))  # text_study's
    (tmp_path / "quality_a.json").write_text(json.dumps(_record([0.30, 0.32], [0.10, 0.10])))
    (tmp_path / "quality_b.json").write_text(json.dumps(_record([0.20, 0.22], [0.50, 0.50])))
    rows = [study.row("g", "c", "a", "a", True), study.row("g", "c", "b", "b", True),
            study.row("g", "c", "gone", "gone", True), study.row("g", "c", "a", "a", False)]
    assert rows[2]["missing"] is True
    assert study.choose(rows) is rows[0]  # best validation, although its test is lower
    table = study.markdown(rows, rows[0])
    assert "**a** (chosen on validation)" in table and "not run" in table
    assert "0.1000 [0.0900, 0.1100]" in table and "5/10, 5/10" in table
