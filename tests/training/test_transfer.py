"""training.init_from: a language model's layers into the encoder, a run's weights into a model
of another catalogue (never the item-tied ones), freeze-then-unfreeze and zero-shot."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_config
from tests.text.checkpoint import WORDS, tiny_bert


def _bert4rec(hidden_act: str = "gelu", layers: int = 1):
    from recsft.modeling.bert4rec import Bert4RecModel
    from recsft.modeling.configuration_bert4rec import Bert4RecConfig

    torch.manual_seed(0)
    return Bert4RecModel(Bert4RecConfig(vocab_size=30, hidden_size=32, num_attention_heads=2,
                                        intermediate_size=64, num_hidden_layers=layers,
                                        hidden_act=hidden_act))


def test_language_model_layers_go_into_the_encoder(tmp_path):
    from safetensors.torch import load_file

    from recsft.training.transfer import init_from

    bert = tiny_bert(tmp_path / "bert", pooling="mean")
    model = _bert4rec(layers=1)
    items_before = model.embeddings.items.weight.detach().clone()
    transfer = init_from(model, bert)
    weights = load_file(bert / "model.safetensors")
    state = model.state_dict()
    assert transfer.kind == "language-model"
    assert "encoder.layer.0.attention.self.query.weight" in transfer.copied
    for name in transfer.copied:
        torch.testing.assert_close(state[name], weights[name])
    assert not any(name.startswith("encoder.layer.1.") for name in weights if name in state)
    torch.testing.assert_close(model.embeddings.items.weight, items_before)


def test_a_language_model_of_another_shape_is_refused(tmp_path):
    from recsft.training.transfer import TransferError, init_from

    bert = tiny_bert(tmp_path / "bert")
    with pytest.raises(TransferError, match="model.hidden_act is 'relu'"):
        init_from(_bert4rec(hidden_act="relu"), bert)
    with pytest.raises(TransferError, match="not a folder"):
        init_from(_bert4rec(), tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TransferError, match="nor a language model"):
        init_from(_bert4rec(), tmp_path / "empty")


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    """A text-reading source run and the config of a target reading the same item table."""
    import pandas as pd

    from recsft.config import RunConfig
    from recsft.runs.data import load_log
    from recsft.training.pipeline import run_training

    root = tmp_path_factory.mktemp("transfer")
    bert = tiny_bert(root / "bert", pooling="mean")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSFT_CACHE", str(root / "cache"))
    config = tiny_config(root / "runs", model_type="sasrec", epochs=2, eval_every=1)
    items = sorted(load_log(config).frame["item_id"].unique().tolist())
    words = [w for w in WORDS if w.isascii() and w.isalpha()]
    pd.DataFrame({"item_id": items, "title": [f"{words[i % len(words)]} {words[i // 7 % 9]}"
                                              for i in range(len(items))]}
                 ).to_csv(root / "items.csv", index=False)
    raw = config.to_dict()
    raw["data"].update(item_table=str(root / "items.csv"), item_text="title",
                       text_encoder=str(bert))
    raw["model"].update(item_representation="text", hidden_act="gelu")
    source = RunConfig.from_dict({**raw, "name": "source"})
    run_training(source)
    raw["data"]["synthetic"] = {**raw["data"]["synthetic"], "seed": 7}
    yield source, raw
    mp.undo()


def _state(run_dir):
    from safetensors.torch import load_file

    return load_file(f"{run_dir}/model.safetensors")


def test_zero_shot_transfer_scores_the_target_with_the_source_model(text_runs):
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    source, raw = text_runs
    target = RunConfig.from_dict({**raw, "name": "zero-shot",
                                  "training": {**raw["training"], "epochs": 0,
                                               "init_from": source.run_dir}})
    record = run_training(target)
    transfer = record["training"]["init_from"]
    assert transfer["kind"] == "run" and transfer["copied"] > 0
    assert transfer["skipped"]["embeddings.items.weight"] == "tied to item ids"
    assert record["training"]["epochs_run"] == 0
    theirs, ours = _state(source.run_dir), _state(target.run_dir)
    for name, tensor in ours.items():
        if name.startswith(("encoder.", "embeddings.text.adaptor.", "embeddings.positions.")):
            torch.testing.assert_close(tensor, theirs[name])
    assert 0 <= record["test"]["ndcg@10"] <= 1


def test_frozen_epochs_keep_the_transferred_weights(text_runs):
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    source, raw = text_runs
    target = RunConfig.from_dict({**raw, "name": "frozen",
                                  "training": {**raw["training"], "epochs": 1,
                                               "freeze_epochs": 1,
                                               "init_from": source.run_dir}})
    run_training(target)
    theirs, ours = _state(source.run_dir), _state(target.run_dir)
    for name in ("encoder.layer.0.attention.self.query.weight",
                 "embeddings.text.adaptor.experts.weight"):
        torch.testing.assert_close(ours[name], theirs[name])
    # What was not transferred trained: the LayerNorm of the embeddings is copied, the
    # special tokens' id rows are tied to ids (re-initialised, then trained).
    unfrozen = RunConfig.from_dict({**raw, "name": "unfrozen",
                                    "training": {**raw["training"], "epochs": 1,
                                                 "init_from": source.run_dir}})
    run_training(unfrozen)
    moved = _state(unfrozen.run_dir)["encoder.layer.0.attention.self.query.weight"]
    assert not torch.allclose(moved, theirs["encoder.layer.0.attention.self.query.weight"])


def test_epochs_zero_needs_init_from(tmp_path):
    from recsft.config import ConfigError

    with pytest.raises(ConfigError, match="training.epochs must be an integer of at least 1"):
        tiny_config(tmp_path, epochs=0)


def test_a_second_training_encodes_no_text(text_runs, capsys):
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    source, raw = text_runs
    capsys.readouterr()
    again = RunConfig.from_dict({**raw, "name": "again", "training": {**raw["training"],
                                                                       "epochs": 1}})
    run_training(again)
    err = capsys.readouterr().err
    assert "text vectors: 0 encoded, " in err and " encoded, 0 from cache" not in err
