"""recsft tune: the space, pruned trials, no test split in trials, resume, the chosen config."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from recsft.config import ConfigError, RunConfig
from recsft.errors import RecsftError
from tests.conftest import tiny_config

optuna = pytest.importorskip("optuna")

SPACE = {
    "model.hidden_dropout_prob": {"float": [0.0, 0.4]},
    "training.learning_rate": {"float": ["1e-3", "1e-2"], "log": True},
    "model.hidden_size": {"choice": [16, 32]},
}


class OddTrialsPruned(optuna.pruners.BasePruner):
    """A deterministic pruner: odd-numbered trials are pruned at their first validation."""

    def prune(self, study, trial) -> bool:
        return trial.number % 2 == 1


def _config(tmp_path, space=None, **tune) -> RunConfig:
    raw = tiny_config(tmp_path, epochs=3, eval_every=1, report_to="none").to_dict()
    raw["tune"] = {"trials": 3, "min_epochs": 1, "pruner": "none", "space": space, **tune}
    return RunConfig.from_dict(raw)


def test_the_space_is_sampled_within_its_bounds_and_default_spaces_make_valid_configs(tmp_path):
    from recsft.training.tune import search_space
    from recsft.tuning.space import apply, default_space, suggest

    space = search_space(_config(tmp_path, {
        **SPACE, "data.max_length": {"int": [8, 20], "step": 4},
        "model.loss": {"choice": ["ce", "gbce"]}, "model.num_negatives": {"int": [4, 64]}}))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        values = suggest(study.ask(), space)
        assert 0.0 <= values["model.hidden_dropout_prob"] <= 0.4
        assert 1e-3 <= values["training.learning_rate"] <= 1e-2
        assert values["model.hidden_size"] in (16, 32)
        assert values["data.max_length"] in (8, 12, 16, 20)
        # negatives are drawn only for a loss that samples them
        assert ("model.num_negatives" in values) == (values["model.loss"] != "ce")
    for model_type in ("bert4rec", "sasrec", "gru4rec", "lstm_attention"):
        base = RunConfig.from_dict({"model": {"model_type": model_type},
                                    "data": {"max_length": 40}})
        space = default_space(base)
        assert {"model.hidden_dropout_prob", "model.hidden_size", "model.num_hidden_layers",
                "training.learning_rate", "training.weight_decay", "data.max_length",
                "model.loss", "training.embedding_weight_decay"} <= set(space)
        assert ("model.num_attention_heads" in space) == (model_type in ("bert4rec", "sasrec"))
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for n in range(30):  # every draw is a valid config (sizes divisible by heads)
            values = suggest(study.ask(), search_space(base))
            config = apply(base, values, output_dir=str(tmp_path), name=f"t{n}", source="t")
            assert config.model.hidden_size == values["model.hidden_size"]


@pytest.mark.parametrize("key, spec, expected", [
    ("model.no_such_field", {"float": [0, 1]}, "not a key a trial may set"),
    ("training.epochs", {"int": [1, 5]}, "not a key a trial may set"),
    ("model.hidden_size", {"float": [16, 64]}, "does not take fractional values"),
    ("training.learning_rate", {"float": [0.1, 0.01]}, "low 0.1 must be below high 0.01"),
    ("training.learning_rate", {"float": [0, 0.1], "log": True}, "positive low bound"),
    ("model.num_hidden_layers", {"int": [1, 3], "spread": 2}, "unknown key"),
    ("model.loss", {"choice": []}, "non-empty list"),
    ("model.use_categories", {"choice": [True, "maybe"]}, "not a valid value"),
    ("model.hidden_size", [16, 32], "expected a mapping"),
    ("model.hidden_size", {"int": [16, 64], "choice": [16]}, "exactly one of"),
])
def test_a_bad_space_is_one_line_naming_the_key(tmp_path, key, spec, expected):
    path = tmp_path / "run.yaml"
    raw = tiny_config(tmp_path).to_dict()
    raw["tune"] = {"space": {key: spec}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path)
    message = str(error.value)
    assert message.startswith(f"{path}: tune.space.{key}: ") and expected in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"--set: tune.pruner: expected one of"):
        RunConfig.from_yaml(path, ["tune.space=null", "tune.pruner=median"])
    with pytest.raises(ConfigError, match=r"tune.metric: expected a ranking metric"):
        RunConfig.from_yaml(path, ["tune.space=null", "tune.metric=ndcg"])


def test_a_config_without_a_tune_section_reads_as_before(tmp_path):
    config = tiny_config(tmp_path)
    assert config.tune.space is None and config.tune.pruner == "hyperband"
    assert RunConfig.from_dict(config.to_dict()) == config


def test_trials_prune_never_read_test_resume_and_the_chosen_config_trains(tmp_path):
    from recsft.training.pipeline import run_training
    from recsft.training.tune import open_study, run_study, run_trial, search_space

    config = _config(tmp_path, SPACE)
    folder = tmp_path / "tiny-tune"
    first = run_study(config, trials=3, pruner=OddTrialsPruned(), final=False)
    assert first["study"]["ran_this_call"] == 3 and "final" not in first
    rows = json.loads((folder / "trials.json").read_text())
    assert [row["state"] for row in rows] == ["complete", "pruned", "complete"]
    assert [row["epochs"] for row in rows] == [3, 1, 3]  # the pruned one stopped early
    assert [len(row["curve"]) for row in rows] == [3, 1, 3]  # reported at every validation
    for row in rows:
        for key, spec in SPACE.items():
            if "choice" in spec:
                assert row["params"][key] in spec["choice"]
        metrics = json.loads((folder / f"trial-{row['number']}" / "metrics.json").read_text())
        assert metrics["test"] == {} and metrics["test_evaluated"] is False
        assert metrics["baselines"]["most_popular"]["test"] == {}
        assert row["test_evaluated"] is False
    assert first["study"]["epochs_spent"] == 7
    assert (folder / "trials.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "study.db").is_file() and (folder / "trials.csv").is_file()

    # A second call continues the study to 4 trials, then trains and tests the chosen config.
    result = run_study(config, trials=4, pruner=OddTrialsPruned(), final_seeds=[0])
    assert result["study"]["ran_this_call"] == 1 and result["study"]["trials"] == 4
    assert (result["study"]["complete"], result["study"]["pruned"]) == (2, 2)
    rows = json.loads((folder / "trials.json").read_text())
    best = max((r for r in rows if r["state"] == "complete"), key=lambda r: r["value"])
    assert result["best"]["trial"] == best["number"]
    assert result["best"]["valid"] == pytest.approx(best["value"])
    test = result["final"]["test"]["ndcg@10"]
    assert test["users"]["ci95_low"] <= test["mean"] <= test["users"]["ci95_high"]
    saved = json.loads((folder / "tune_result.json").read_text())
    assert saved["final"]["runs"] == [str(folder / "final-seed-0")]
    # Called again, the finished final training is read back, not trained again; a final run
    # of another config (here, changed by hand) is trained again.
    weights = folder / "final-seed-0" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = run_study(config, trials=4, pruner=OddTrialsPruned(), final_seeds=[0])
    assert again["study"]["ran_this_call"] == 0 and weights.stat().st_mtime_ns == stamp
    assert again["final"]["test"] == result["final"]["test"]
    from recsft.training.tune import finished_run
    from recsft.tuning.space import apply

    values = {**best["params"], "training.seed": 0, "training.metric_for_best": "ndcg@10"}
    assert finished_run(apply(config, values, output_dir=str(folder), name="final-seed-0",
                              source="final training")) is not None
    assert finished_run(apply(config, {**values, "training.learning_rate": 0.5},
                              output_dir=str(folder), name="final-seed-0",
                              source="final training")) is None

    chosen = RunConfig.from_yaml(folder / "best_config.yaml", [f"output_dir={tmp_path}/again"])
    for key, value in best["params"].items():
        section, name = key.split(".")
        assert getattr(getattr(chosen, section), name) == pytest.approx(value)
    record = run_training(chosen)
    assert record["test"]["ndcg@10"] >= 0 and record["training"]["epochs_run"] == 3

    # A trial running when the budget ends stops at its next validation.
    late = run_trial(config, open_study(config, search_space(config), OddTrialsPruned()),
                     search_space(config), deadline=time.perf_counter())
    assert late.number == 4 and late.state == optuna.trial.TrialState.PRUNED
    assert late.user_attrs["stopped"] == "budget" and late.user_attrs["epochs"] == 1


def test_failed_trials_are_recorded_and_the_study_says_none_completed(tmp_path):
    from recsft.training.tune import open_study, run_study, search_space

    # 33 is not divisible by the tiny config's 2 attention heads: every trial fails.
    config = _config(tmp_path, {"model.hidden_size": {"choice": [33]}}, trials=3)
    open_study(config, search_space(config)).ask()  # a trial an interrupted call left running
    with pytest.raises(RecsftError, match="no trial of .* completed"):
        run_study(config)
    rows = json.loads((tmp_path / "tiny-tune" / "trials.json").read_text())
    assert [row["state"] for row in rows] == ["fail", "fail", "fail"]
    assert rows[0]["error"] == "interrupted"
    assert "hidden_size" in rows[1]["error"] and rows[1]["epochs"] == 0
    assert not (tmp_path / "tiny-tune" / "best_config.yaml").exists()


def test_the_command_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    from recsft.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path).to_dict()))
    assert main(["tune", "--config", str(path), "--trials", "0"]) == 2
    assert main(["tune", "--config", str(path), "--set",
                 "tune.space={model.nope: {int: [1, 2]}}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].endswith("--trials 0: expected at least 1")
    assert "tune.space.model.nope" in err[1] and len(err) == 2
    assert main(["tune", "--config", str(path), "--set", "tune.metric=ndcg@50"]) == 2
    assert "tune.metric 'ndcg@50': its cut-off is not in evaluation.ks [5, 10]" in (
        capsys.readouterr().err)


def test_a_new_study_starts_from_the_configs_own_values(tmp_path):
    """Trial 0 is the given settings (those inside the space); a value outside its
    distribution is left to the sampler; with start_from_config off, nothing is enqueued."""
    from recsft.training.tune import open_study, search_space
    from recsft.tuning.space import suggest

    config = _config(tmp_path, {**SPACE, "model.hidden_size": {"choice": [24, 48]}})
    space = search_space(config)
    study = open_study(config, space)
    values = suggest(study.ask(), space)
    model = config.model.resolved()
    assert values["model.hidden_dropout_prob"] == model["hidden_dropout_prob"]
    assert values["training.learning_rate"] == config.training.learning_rate
    assert values["model.hidden_size"] in (24, 48)  # the config's 32 is not a choice: drawn

    other = _config(tmp_path / "off", SPACE, start_from_config=False, seed=3)
    study = open_study(other, search_space(other))
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))


def test_a_budget_in_trainings_is_counted_in_seconds_of_trial_zero(tmp_path):
    from recsft.training.tune import budget_left, run_study

    def finished(number, seconds, state=optuna.trial.TrialState.COMPLETE):
        return optuna.trial.create_trial(
            state=state, value=0.1 if state == optuna.trial.TrialState.COMPLETE else None,
            params={}, distributions={}, user_attrs={"seconds": seconds})

    study = optuna.create_study(direction="maximize")
    study.set_user_attr("first_trial_is_config", True)
    started = time.perf_counter()
    # Trial 0 has not finished: no unit yet, only the minutes limit counts.
    assert budget_left(study, started, None, 3.0) is None
    study.add_trial(finished(0, 10.0))
    study.add_trial(finished(1, 5.0, optuna.trial.TrialState.PRUNED))
    assert budget_left(study, started, None, 3.0) == pytest.approx(15.0)
    assert budget_left(study, started, None, 1.5) == pytest.approx(0.0)
    # With both budgets the sooner one holds.
    assert budget_left(study, started, 0.1, 3.0) == pytest.approx(6.0, abs=0.5)

    failed = optuna.create_study(direction="maximize")
    failed.set_user_attr("first_trial_is_config", True)
    failed.add_trial(finished(0, 1.0, optuna.trial.TrialState.FAIL))
    with pytest.raises(RecsftError, match="trial 0, the config's own values, failed"):
        budget_left(failed, started, None, 2.0)
    other = optuna.create_study(direction="maximize")
    with pytest.raises(RecsftError, match="first trial is not the config's own values"):
        budget_left(other, started, None, 2.0)

    # One training's worth: trial 0 (the config's values) runs, then the budget is spent.
    config = _config(tmp_path, SPACE, trials=5, budget_trainings=1.0)
    result = run_study(config, final=False)
    assert result["study"]["trials"] == 1 and result["budget"]["trainings"] == 1.0
    assert result["budget"]["training_seconds"] > 0
    assert result["best"]["params"]["model.hidden_size"] == config.model.hidden_size

    with pytest.raises(ConfigError, match="tune.budget_trainings"):
        _config(tmp_path, SPACE, budget_trainings=2.0, start_from_config=False)
    with pytest.raises(ConfigError, match="tune.budget_trainings"):
        _config(tmp_path, SPACE, budget_trainings=0)
