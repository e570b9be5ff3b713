"""The cold-start protocol on a run: split, record, metrics and ``recsft evaluate``."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_config, tiny_data_config


def _split(config):
    from recsft.runs.data import load_log, split_log

    log = load_log(config)
    return log, split_log(config, log)


def test_cold_items_leave_training_and_stay_targets(tmp_path):
    _, plain = _split(tiny_data_config(tmp_path))
    log, cold = _split(tiny_data_config(tmp_path, cold_items=0.1))
    held = set(cold.cold_items)
    items = log.frame["item_id"].unique()
    assert len(held) == round(0.1 * len(items))
    assert not any(item in held for seq in cold.train.items for item in seq)
    assert any(target in held for target in cold.test.targets)
    assert cold.test.targets == plain.test.targets and cold.valid.targets == plain.valid.targets
    assert cold.test.histories == plain.test.histories
    # Seeded by training.seed unless data.cold_seed is given; stable across calls.
    assert _split(tiny_data_config(tmp_path, cold_items=0.1))[1].cold_items == cold.cold_items
    assert _split(tiny_data_config(tmp_path, cold_items=0.1, cold_seed=0))[1].cold_items == \
        cold.cold_items  # tiny_config's training.seed is 0
    assert _split(tiny_data_config(tmp_path, cold_items=0.1, cold_seed=5))[1].cold_items != \
        cold.cold_items
    # 0 is off: the splits are today's.
    _, off = _split(tiny_data_config(tmp_path, cold_items=0.0))
    assert off.train == plain.train and off.protocol == plain.protocol and not off.cold_items


def test_cold_items_out_of_range(tmp_path):
    from recsft.errors import RecsftError

    with pytest.raises(RecsftError, match=r"data.cold_items: expected a fraction in \[0, 1\)"):
        _split(tiny_data_config(tmp_path, cold_items=1.0))


@pytest.fixture(scope="module")
def cold_run(tmp_path_factory):
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    config = tiny_config(tmp_path_factory.mktemp("cold"), epochs=5)
    raw = config.to_dict()
    raw["data"]["cold_items"] = 0.1
    config = RunConfig.from_dict(raw)
    return config, run_training(config)


def test_run_records_cold_items_and_reports_warm_and_cold(cold_run, capsys):
    from recsft.cli import main
    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run

    config, record = cold_run
    run = Run.open(config.run_dir)
    saved = json.loads((run.path / "cold_items.json").read_text())
    assert saved["items"] == run.splits().cold_items and saved["items"]
    manifest = json.loads((run.path / "recsft_manifest.json").read_text())
    assert "cold_items.json" in manifest["files"]
    cold = record["cold_start"]
    assert cold["protocol"]["fraction"] == 0.1 and cold["protocol"]["seed"] == 0
    users = {name: row["users"] for name, row in cold["model"].items()}
    assert set(users) == {"warm_targets", "cold_targets"}
    assert sum(users.values()) == len(run.splits().test)
    assert users["cold_targets"] == cold["protocol"]["test_cold_targets"]
    assert set(cold["baselines"]) == {"most_popular"}
    # The most-popular baseline never ranks a cold item (no training interaction) first.
    assert cold["baselines"]["most_popular"]["cold_targets"]["recall@10"]["mean"] <= \
        cold["baselines"]["most_popular"]["warm_targets"]["recall@10"]["mean"]
    assert "cold items 0.1 (seed 0)" in record["protocol"]["split"]
    again = evaluate_run(run)
    assert again["metrics"] == record["test"]
    assert again["cold_start"] == json.loads(json.dumps(cold))
    capsys.readouterr()
    assert main(["evaluate", "--run", config.run_dir, "--n-resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "cold-start protocol" in out and "most-pop" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_cold_items_zero_is_todays_run(tmp_path):
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    plain = tiny_config(tmp_path / "plain", epochs=5)
    raw = plain.to_dict()
    raw["data"]["cold_items"] = 0
    raw["output_dir"] = str(tmp_path / "off")
    off = RunConfig.from_dict(raw)
    first, second = run_training(plain), run_training(off)
    assert first["test"] == second["test"] and first["valid"] == second["valid"]
    assert first["protocol"] == second["protocol"] and "cold_start" not in second
    assert not (tmp_path / "plain" / "tiny" / "cold_items.json").exists()


def test_the_new_item_prior_is_chosen_on_validation_and_lifts_items_without_interactions(
        cold_run, tmp_path, capsys):
    import dataclasses
    import shutil

    from recsft import Recommender
    from recsft.cli import main
    from recsft.modeling.transitions import ItemTransitions
    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run, fit_transitions
    from recsft.runs.files import TRANSITIONS
    from recsft.runs.update import updating

    config, _ = cold_run
    folder = tmp_path / "run"
    shutil.copytree(config.run_dir, folder)
    cold = set(Run.open(folder).splits().cold_items)
    result = fit_transitions(folder, weights=[0.0, 0.5], smoothings=[0.0], temperatures=[1.0],
                             new_item_priors=[2.0, 0.5])
    assert result["new_items"] >= len(cold) > 0  # held-out items and any never trained on
    tried = [row["new_item_prior"] for row in result["validation"] if "new_item_prior" in row]
    assert tried == [0.0, 0.5, 2.0] and result["new_item_prior"] in tried
    assert ItemTransitions.load(str(folder)).settings.new_item_prior == result["new_item_prior"]
    assert fit_transitions(folder, weights=[0.0], smoothings=[0.0], temperatures=[1.0],
                           new_item_priors=())["new_item_prior"] == 0.0  # no grid, no prior
    capsys.readouterr()
    assert main(["transitions", "--run", str(folder), "--weights", "0", "--smoothings", "0",
                 "--temperatures", "1", "--new-item-priors", "1"]) == 0
    out = capsys.readouterr().out
    assert "new-item prior 1 " in out and "items without training interactions" in out

    # A dominant prior, set by hand: evaluation and the recommender rank new items first.
    chain = ItemTransitions.load(str(folder))
    chain.settings = dataclasses.replace(chain.settings, weight=0.5, new_item_prior=1000.0)
    with updating(Run.open(folder), TRANSITIONS) as target:
        chain.save(str(target))
    run = Run.open(folder)
    lifted = evaluate_run(run, "test", n_resamples=0, transitions=True)
    assert lifted["transitions"]["new_item_prior"] == 1000.0
    plain = evaluate_run(run, "test", n_resamples=0)
    cold_recall = [record["cold_start"]["model"]["cold_targets"]["recall@10"]["mean"]
                   for record in (lifted, plain)]
    assert cold_recall[0] > cold_recall[1]
    recommender = Recommender.from_pretrained(folder, transitions=True)
    mask = recommender.new_item_mask()
    assert int(mask.sum()) == result["new_items"]
    history = [item for item in recommender.tokenizer.item_ids if item not in cold][:3]
    ranked = [item for item, _ in recommender.recommend(history, k=3)]
    assert ranked and all(mask[recommender._item_rows[item]] for item in ranked)
    with pytest.raises(ValueError, match="give popularity="):
        Recommender(recommender.model, recommender.tokenizer,
                    transitions=recommender.transitions)
