"""Warm start within the same shop (training.init_items keep / auto) on a newer window of the
log (data.until, data.train_since, training.replay_fraction)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import tiny_config

NEW = 8  # items renamed in the newer window: they appear only after the first window ends


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """An event file where ``NEW`` items appear only after ``t1``, and an item table."""
    import pandas as pd

    from recsft.runs.data import load_log

    root = tmp_path_factory.mktemp("shop")
    frame = load_log(tiny_config(root)).frame.copy()
    t1 = int(np.quantile(frame["timestamp"], 0.6))
    renamed = {f"i{i:04d}": f"n{i:04d}" for i in range(NEW)}
    late = frame["timestamp"] >= t1
    frame.loc[late, "item_id"] = frame.loc[late, "item_id"].map(lambda i: renamed.get(i, i))
    frame[["user_id", "item_id", "timestamp", "event_type"]].to_csv(root / "events.csv",
                                                                    index=False)
    items = sorted(set(frame["item_id"]))
    pd.DataFrame({"item_id": items,
                  "title": [f"item {item[1:]} {'new' if item[0] == 'n' else 'old'}"
                            for item in items]}).to_csv(root / "items.csv", index=False)
    return root, t1


def _config(root, name, model_type="sasrec", data=None, model=None, **training):
    from recsft.config import RunConfig

    raw = tiny_config(root / "runs", model_type=model_type).to_dict()
    raw["name"] = name
    raw["data"] = {"source": str(root / "events.csv"), "max_length": 20, **(data or {})}
    raw["model"] = {k: v for k, v in raw["model"].items() if k in (
        "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size")}
    raw["model"].update(model or {})
    raw["training"].update({"epochs": 2, "eval_every": 1, "report_to": "none", **training})
    return RunConfig.from_dict(raw)


def _scores(run_dir, histories, items):
    """``(len(histories), len(items))`` scores of a run's recommender."""
    from recsft.retrieval.recommender import Recommender

    recommender = Recommender.from_pretrained(run_dir)
    users = recommender.encode(histories)
    matrix = np.stack([recommender.item_vector(item) for item in items])
    return users @ matrix.T, recommender.tokenizer


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_a_warm_start_keeps_old_ids_and_scores_and_adds_new_items(shop, model_type):
    from recsft.runs.data import load_log
    from recsft.runs.run import Run
    from recsft.training.pipeline import run_training

    root, t1 = shop
    source = _config(root, f"old-{model_type}", model_type, data={"until": t1})
    run_training(source)
    old = Run.open(source.run_dir)
    assert not any(item.startswith("n") for item in old.tokenizer.item_ids)
    target = _config(root, f"zero-{model_type}", model_type, epochs=0,
                     init_from=source.run_dir)
    record = run_training(target)["training"]["init_from"]
    assert record["mode"] == "keep" and record["mode_reason"] == "auto: same data source"
    assert record["old_items"] == old.tokenizer.num_items and record["new_items"] == NEW
    assert record["copied"] > 0 and "embeddings.items.weight" not in record["skipped"]

    histories = old.splits().test.histories[:40]
    old_items = old.tokenizer.item_ids
    theirs, old_tokens = _scores(source.run_dir, histories, old_items)
    ours, tokens = _scores(target.run_dir, histories, old_items)
    assert tokens.item_ids[:len(old_items)] == old_items
    assert tokens.convert_tokens_to_ids(old_items) == old_tokens.convert_tokens_to_ids(old_items)
    events = load_log(target).frame.sort_values("timestamp", kind="stable")
    firsts = [item for item in events["item_id"].unique() if item.startswith("n")]
    assert tokens.item_ids[len(old_items):] == firsts and len(firsts) == NEW
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    new, _ = _scores(target.run_dir, histories, tokens.item_ids[len(old_items):])
    assert np.isfinite(new).all()

    trained = _config(root, f"warm-{model_type}", model_type, epochs=1,
                      init_from=source.run_dir, init_items="keep",
                      data={"train_since": t1 - 86400})
    result = run_training(trained)
    assert result["training"]["epochs_run"] == 1
    assert result["training"]["init_from"]["mode"] == "keep"
    assert result["training"]["init_from"]["new_items"] == NEW
    assert Run.open(trained.run_dir).tokenizer.item_ids[:len(old_items)] == old_items


def test_an_id_and_text_model_scores_new_items_from_their_text(shop, monkeypatch):
    from recsft.training.pipeline import run_training
    from tests.text.checkpoint import tiny_bert

    root, t1 = shop
    monkeypatch.setenv("RECSFT_CACHE", str(root / "cache"))
    bert = root / "bert"
    if not bert.exists():
        tiny_bert(bert, pooling="mean")
    text = {"item_table": str(root / "items.csv"), "item_text": "{title}",
            "text_encoder": str(bert)}
    model = {"item_representation": "id+text", "hidden_act": "gelu"}
    source = _config(root, "old-text", data={**text, "until": t1}, model=model)
    run_training(source)
    target = _config(root, "zero-text", data=text, model=model, epochs=0,
                     init_from=source.run_dir)
    record = run_training(target)["training"]["init_from"]
    assert record["mode"] == "keep" and record["new_items"] == NEW
    from recsft.runs.run import Run

    old = Run.open(source.run_dir)
    histories = old.splits().test.histories[:40]
    theirs, _ = _scores(source.run_dir, histories, old.tokenizer.item_ids)
    ours, tokens = _scores(target.run_dir, histories, old.tokenizer.item_ids)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    new, _ = _scores(target.run_dir, histories, tokens.item_ids[old.tokenizer.num_items:])
    assert np.isfinite(new).all() and np.ptp(new) > 0


def test_drop_transfers_between_catalogues_and_auto_drops_for_another_source(shop):
    from recsft.training.pipeline import run_training

    root, t1 = shop
    source = _config(root, "old-drop", data={"until": t1}, epochs=1)
    run_training(source)
    for name, init_items, data in (("drop", "drop", {}),
                                   ("other", "auto", {"format": "csv"})):
        target = _config(root, name, data=data, epochs=0, init_from=source.run_dir,
                         init_items=init_items)
        record = run_training(target)["training"]["init_from"]
        assert record["mode"] == "drop", name
        assert record["skipped"]["embeddings.items.weight"] == "tied to item ids"
        assert record["new_items"] == 0


def test_until_ends_the_log_and_the_catalogue(shop):
    from recsft.runs.data import catalogue, load_log

    root, t1 = shop
    full = load_log(_config(root, "full"))
    config = _config(root, "until", data={"until": t1})
    log = load_log(config)
    assert len(log.frame) == int((full.frame["timestamp"] < t1).sum()) < len(full.frame)
    assert log.frame["timestamp"].max() < t1
    assert not any(item.startswith("n") for item in catalogue(config, log))
    assert log.steps[-1]["name"] == "until"
    iso = _config(root, "iso", data={"until": "2020-09-20T00:00:00Z"})
    assert load_log(iso).frame["timestamp"].max() < 1600560000


@pytest.mark.parametrize("split", ["leave-one-out", "temporal"])
def test_train_since_keeps_the_active_users_and_a_seeded_replay(shop, split):
    from recsft.runs.data import load_log, split_log

    root, t1 = shop
    extra = {}
    if split == "temporal":
        extra = {"split": "temporal", "valid_cutoff": t1 + 3 * 86400,
                 "cutoff": t1 + 6 * 86400}
    base = _config(root, "all", data=extra)
    log = load_log(base)
    everyone = split_log(base, log)
    since = t1 - 86400
    active = [u for u, times in zip(everyone.train.user_ids, everyone.train.timestamps)
              if max(times) >= since]
    assert 0 < len(active) < len(everyone.train)
    window = split_log(_config(root, "w", data={**extra, "train_since": since}), log)
    assert window.train.user_ids == active
    kept = dict(zip(everyone.train.user_ids, everyone.train.items))
    assert all(items == kept[user] for user, items in zip(window.train.user_ids,
                                                         window.train.items))
    assert window.test.user_ids == everyone.test.user_ids
    assert window.valid.targets == everyone.valid.targets
    record = window.metadata["training_window"]
    assert (record["users"], record["of"], record["replayed"]) == (
        len(active), len(everyone.train), 0)

    replay = _config(root, "r", data={**extra, "train_since": since}, replay_fraction=0.25)
    first, again = split_log(replay, log), split_log(replay, log)
    others = len(everyone.train) - len(active)
    assert len(first.train) == len(active) + round(0.25 * others)
    assert first.train.user_ids == again.train.user_ids
    assert set(active) <= set(first.train.user_ids)
    reseeded = _config(root, "r2", data={**extra, "train_since": since}, replay_fraction=0.25,
                       seed=1)
    assert split_log(reseeded, log).train.user_ids != first.train.user_ids


def test_the_window_line_is_logged(shop, capsys):
    from recsft.training.pipeline import prepare_data

    root, t1 = shop
    prepare_data(_config(root, "line", data={"train_since": t1}, replay_fraction=0.1))
    err = capsys.readouterr().err
    assert "training window: " in err and " users since 20" in err and " replayed" in err
    # Without data.train_since the share replays nothing: said once, not silently ignored.
    prepare_data(_config(root, "unused", replay_fraction=0.1))
    err = capsys.readouterr().err
    assert "training.replay_fraction 0.1 is not used" in err and "training window" not in err


def test_refusals_are_one_line(shop):
    from recsft.config import ConfigError
    from recsft.data.window import training_window
    from recsft.errors import RecsftError
    from recsft.runs.data import load_log, split_log

    root, t1 = shop
    with pytest.raises(ConfigError, match=r"training.replay_fraction: expected a share in "
                                          r"\[0, 1\], got 1.5"):
        _config(root, "bad", replay_fraction=1.5)
    with pytest.raises(ConfigError, match="training.init_items: expected one of auto, keep"):
        _config(root, "bad", init_items="sometimes")
    temporal = {"split": "temporal", "valid_cutoff": t1, "cutoff": t1 + 86400}
    late = _config(root, "late", data={**temporal, "train_since": t1 + 3600})
    log = load_log(late)
    with pytest.raises(RecsftError) as err:
        split_log(late, log)
    assert "data.train_since" in str(err.value) and "\n" not in str(err.value)
    assert "must be earlier than the split's training end" in str(err.value)
    splits = split_log(_config(root, "ok"), log)
    with pytest.raises(RecsftError, match="replay_fraction") as err:
        training_window(splits, t1, replay=-0.1)
    with pytest.raises(RecsftError, match="no training event is this late"):
        training_window(splits, "2100-01-01")
    with pytest.raises(RecsftError, match="data.until"):
        load_log(_config(root, "early", data={"until": "1990-01-01"}))
    with pytest.raises(RecsftError, match="init_items keep"):
        _keep_language_model(root)


def _keep_language_model(root):
    from recsft.training.transfer import warm_start

    (root / "lm").mkdir(exist_ok=True)
    warm_start(_config(root, "lm", epochs=0, init_from=str(root / "lm"), init_items="keep"))


def test_cli_init_from_run_with_init_items_and_one_line_refusals(shop, capsys):
    import json

    import yaml

    from recsft.cli import main
    from recsft.training.pipeline import run_training

    root, t1 = shop
    source = _config(root, "cli-old", data={"until": t1}, epochs=1)
    run_training(source)
    raw = _config(root, "cli-new", epochs=1).to_dict()
    path = root / "cli.yaml"
    path.write_text(yaml.safe_dump(raw))
    args = ["train", "--config", str(path), "--init-from-run", source.run_dir]
    assert main([*args, "--init-items", "drop", "--set", f"data.train_since={t1}"]) == 0
    record = json.loads((root / "runs" / "cli-new" / "metrics.json").read_text())
    assert record["training"]["init_from"]["mode"] == "drop"
    capsys.readouterr()
    for extra, message in (
            (["--set", "training.replay_fraction=2"], "training.replay_fraction"),
            (["--set", "data.split=temporal", "--set", f"data.valid_cutoff={t1}",
              "--set", f"data.cutoff={t1 + 86400}", "--set", f"data.train_since={t1 + 60}",
              "--overwrite"], "data.train_since")):
        assert main([*args, *extra]) == 2
        lines = [line for line in capsys.readouterr().err.strip().splitlines()
                 if not line.startswith("preparing data: ")]
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in lines[0], lines


def test_categories_are_kept_and_other_categories_refused(tmp_path):
    from recsft.config import RunConfig
    from recsft.runs.data import load_log
    from recsft.training.pipeline import run_training
    from recsft.training.transfer import TransferError, WarmStart, check_categories

    raw = tiny_config(tmp_path, model_type="sasrec", epochs=1, report_to="none").to_dict()
    raw["model"]["use_categories"] = True
    t1 = int(np.quantile(load_log(RunConfig.from_dict(raw)).frame["timestamp"], 0.3))
    source = RunConfig.from_dict({**raw, "name": "cat-old",
                                  "data": {**raw["data"], "until": t1}})
    run_training(source)
    target = RunConfig.from_dict({**raw, "name": "cat-new", "training": {
        **raw["training"], "epochs": 0, "init_from": source.run_dir}})
    record = run_training(target)["training"]["init_from"]
    assert record["mode"] == "keep" and "embeddings.categories.table" not in record["skipped"]
    from recsft.runs.run import Run

    old = Run.open(source.run_dir)
    histories = old.splits().test.histories[:30]
    theirs, _ = _scores(source.run_dir, histories, old.tokenizer.item_ids)
    ours, _ = _scores(target.run_dir, histories, old.tokenizer.item_ids)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    with pytest.raises(TransferError, match="categories differ"):
        check_categories(WarmStart(source.run_dir, "keep", "test"), ["elsewhere"])
