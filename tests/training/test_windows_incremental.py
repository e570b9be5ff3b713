"""Rolling incremental evaluation: ``recsft windows --mode incremental|frozen|compare``."""

import json
import os

import pytest
import yaml

from recsft.training.repeats import time_window_variants
from recsft.training.windows import run_name, window_plan
from tests.conftest import tiny_config

DAY = 86400


def _config_file(tmp_path, **training):
    config = tiny_config(tmp_path, epochs=1, eval_every=1, **training)
    config.model.model_type = "sasrec"
    # users active for a few days each, their starts spread over 40: every window has some
    config.data.synthetic.update(start_spread_days=40, session_gap_hours=12)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    return config, path


def test_plan_chains_incremental_runs_and_freezes_window_0(tmp_path):
    config = tiny_config(tmp_path)
    variants = time_window_variants(config, 3, 5 * DAY)
    bounds = list(variants.values())
    steps = window_plan(config, variants, ["incremental", "frozen", "retrain"])
    assert [s["name"] for s in steps] == [
        "incremental-window-0", "incremental-window-1", "frozen-window-1", "retrain-window-1",
        "incremental-window-2", "frozen-window-2", "retrain-window-2"]
    assert steps[0]["shared"] == ["incremental", "frozen", "retrain"]
    assert steps[0]["training"] == {} and "train_since" not in steps[0]["data"]
    for step in steps:
        w = step["window"]
        assert step["data"]["until"] == bounds[w]["test_end"]
        assert step["data"]["cutoff"] == bounds[w]["cutoff"]
    for step in steps[1:]:
        w, mode = step["window"], step["mode"]
        if mode == "incremental":
            assert step["training"] == {
                "init_from": os.path.join(config.run_dir, run_name("incremental", w - 1)),
                "init_items": "keep"}
            assert step["data"]["train_since"] == bounds[w - 1]["valid_cutoff"]
        elif mode == "frozen":
            assert step["training"] == {
                "init_from": os.path.join(config.run_dir, "incremental-window-0"),
                "init_items": "keep", "epochs": 0}
            assert "train_since" not in step["data"]
        else:
            assert step["training"] == {} and "train_since" not in step["data"]
    frozen_only = window_plan(config, variants, ["frozen"])
    assert [s["name"] for s in frozen_only] == [f"frozen-window-{w}" for w in range(3)]
    assert frozen_only[2]["training"]["init_from"].endswith("frozen-window-0")


def test_compare_trains_three_modes_and_reports_them(tmp_path, capsys):
    from recsft.cli import main
    from recsft.report.windows import is_rolling_plot

    config, path = _config_file(tmp_path)
    out, plot = tmp_path / "rolling.json", tmp_path / "rolling.png"
    argv = ["windows", "--config", str(path), "--windows", "3", "--window-days", "4",
            "--mode", "compare", "--resamples", "200", "--output", str(out),
            "--plot", str(plot)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "incremental / retrain after window 0" in table and "frozen (=w0)" in table
    assert "retrain (=w0)" in table and "frozen window-0 model" in table
    result = json.loads(out.read_text())
    assert result["kind"] == "rolling_windows" and result["modes"] == ["incremental", "frozen",
                                                                       "retrain"]
    assert [b["window"] for b in result["time_windows"]] == [0, 1, 2]
    rows = result["rows"]
    base = os.path.join(config.run_dir, "incremental-window-0")
    for mode in result["modes"]:
        assert rows[0]["runs"][mode]["run"] == base and rows[0]["runs"][mode]["shared"]
    fields = {"run", "init_from", "train_seconds", "fit_seconds", "wall_seconds", "epochs_run",
              "train_sequences", "train_events", "users", "items", "test", "intervals",
              "most_popular", "shared"}
    for row in rows:
        for mode, run in row["runs"].items():
            assert set(run) == fields, (row["window"], mode)
            assert set(run["test"]) == set(result["metrics"]) >= {"ndcg@10", "recall@10"}
            for key in result["metrics"]:
                low, high = run["intervals"][key]["ci95_low"], run["intervals"][key]["ci95_high"]
                assert low <= run["test"][key] <= high
        for key in ("ndcg@10", "recall@10"):
            paired = row["paired"][key]
            assert {"difference", "permutation_p", "permutation_p_holm", "n_users"} <= set(paired)
            assert paired["n_users"] == row["runs"]["retrain"]["users"]
    for w in (1, 2):
        incremental, frozen, retrain = (rows[w]["runs"][m]
                                        for m in ("incremental", "frozen", "retrain"))
        assert incremental["run"] == os.path.join(config.run_dir, f"incremental-window-{w}")
        # the same test users and catalogue, so the comparison is paired
        assert incremental["users"] == retrain["users"] == frozen["users"]
        assert incremental["items"] == retrain["items"] == frozen["items"]
        # warm start from the previous incremental run, its items kept
        with open(os.path.join(incremental["run"], "metrics.json")) as handle:
            record = json.load(handle)
        source = record["training"]["init_from"]
        assert source["source"] == os.path.join(config.run_dir, f"incremental-window-{w - 1}")
        assert source["mode"] == "keep" and source == incremental["init_from"]
        assert record["config"]["training"]["init_items"] == "keep"
        assert record["config"]["data"]["train_since"] == \
            result["time_windows"][w - 1]["valid_cutoff"]
        assert 0 < incremental["train_sequences"] < retrain["train_sequences"]
        assert incremental["train_events"] < retrain["train_events"]
        # the frozen row: window 0's model, nothing trained
        assert frozen["train_seconds"] == 0 and frozen["epochs_run"] == 0
        assert frozen["train_sequences"] == 0
        assert frozen["init_from"]["source"] == base and frozen["init_from"]["mode"] == "keep"
        assert retrain["init_from"] is None and retrain["epochs_run"] == 1
    summary = result["summary"]
    assert summary["train_seconds"]["frozen"] == rows[0]["runs"]["frozen"]["train_seconds"]
    assert summary["frozen_decay"]["ndcg@10"][0] == 1.0
    assert len(summary["quality_ratio"]["ndcg@10"]["per_window"]) == 2
    ratio = summary["quality_ratio"]["ndcg@10"]["per_window"][0]
    assert ratio == pytest.approx(rows[1]["runs"]["incremental"]["test"]["ndcg@10"]
                                  / rows[1]["runs"]["retrain"]["test"]["ndcg@10"])
    assert summary["train_seconds_ratio"] == pytest.approx(
        summary["train_seconds_after_window_0"]["incremental"]
        / summary["train_seconds_after_window_0"]["retrain"])
    assert len(summary["incremental_ndcg@10_within_retrain_interval"]) == 3
    assert is_rolling_plot(plot)

    # The runs exist now: a second call is refused before training, in one line ...
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--overwrite" in err and len(err.splitlines()) == 1
    # ... as is the frozen mode alone (frozen-window-1 exists); --overwrite replaces it.
    frozen_argv = ["windows", "--config", str(path), "--windows", "2", "--window-days", "4",
                   "--mode", "frozen", "--json"]
    assert main(frozen_argv) == 2 and "frozen-window-1: exists" in capsys.readouterr().err
    assert main([*frozen_argv, "--overwrite"]) == 0
    frozen = json.loads(capsys.readouterr().out)
    assert list(frozen["rows"][1]["runs"]) == ["frozen"] and "paired" not in frozen["rows"][1]
    assert frozen["rows"][1]["runs"]["frozen"]["init_from"]["source"] == \
        os.path.join(config.run_dir, "frozen-window-0")


def test_refusals_are_one_line(tmp_path, capsys):
    from recsft.cli import main

    _, path = _config_file(tmp_path)
    common = ["windows", "--config", str(path), "--window-days", "4"]
    with pytest.raises(SystemExit) as exit_:
        main([*common, "--mode", "sideways"])
    assert exit_.value.code == 2
    capsys.readouterr()
    for argv, needle in (([*common, "--windows", "1", "--mode", "incremental"],
                          "at least 2 windows"),
                         ([*common, "--windows", "2", "--mode", "compare", "--plot",
                           str(tmp_path / "curves.svg")], "expected a .png"),
                         ([*common, "--windows", "2", "--plot", str(tmp_path / "c.png")],
                          "--plot")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    (tmp_path / "mine.png").write_bytes(b"\x89PNG not recsft's")
    assert main([*common, "--windows", "2", "--mode", "compare", "--plot",
                 str(tmp_path / "mine.png")]) == 2
    assert "did not write" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(tmp_path, "tiny", "incremental-window-0"))


def test_windows_tile_the_log_ended_at_data_until(tmp_path):
    from recsft.data.sources import load_events

    config = tiny_config(tmp_path)
    times = load_events(config.data).frame["timestamp"]
    until = int(times.min()) + 30 * DAY
    config.data.until = until
    last = list(time_window_variants(config, 2, 3 * DAY).values())[-1]
    assert last["test_end"] == int(times[times < until].max()) + 1 <= until
