"""``recsft report``: an offline HTML page with its PNG figures, for one run or several."""

from __future__ import annotations

import json
import re

from recsft.cli import main


def _pngs_exist(folder, page: str) -> list[str]:
    images = re.findall(r"<img src='([^']+)'", page)
    for name in images:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return images


def test_report_of_one_run(trained_run, tmp_path, capsys) -> None:
    config, record = trained_run
    out = tmp_path / "report"
    assert main(["report", "--run", config.run_dir, "--output", str(out),
                 "--n-resamples", "50"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    for section in ("Test metrics", "Training", "By history length", "By target popularity",
                    "Popularity bias", "Beyond accuracy"):
        assert f"<h2>{section}</h2>" in page
    assert "Against the first run" not in page
    assert len(_pngs_exist(out, page)) == 5
    assert "http://" not in page and "https://" not in page  # readable offline
    assert f"{record['test']['ndcg@10']:.4f}" in page  # the trainer's own number
    saved = json.loads((out / "report.json").read_text())
    exposure = saved["records"]["tiny"]["popularity_exposure"]
    assert abs(sum(exposure["recommended_share"]) - 1.0) < 1e-6


def test_report_compares_runs_on_the_same_users(trained_run, tmp_path) -> None:
    from recsft.training.pipeline import run_training
    from tests.conftest import tiny_config

    config, _ = trained_run
    other = tiny_config(tmp_path / "other", model_type="gru4rec", epochs=2, eval_every=1)
    run_training(other)
    out = tmp_path / "both"
    assert main(["report", "--run", config.run_dir, "--run", other.run_dir, "--output",
                 str(out), "--n-resamples", "50"]) == 0
    page = (out / "report.html").read_text()
    assert "<h2>Against the first run (paired, same users)</h2>" in page
    assert page.count("<tr><td>") >= 2 + 3  # both runs in the table, three compared metrics
    _pngs_exist(out, page)


def test_report_of_a_missing_run(tmp_path, capsys) -> None:
    assert main(["report", "--run", str(tmp_path / "nope")]) == 2
    assert "nope: no such run folder" in capsys.readouterr().err
