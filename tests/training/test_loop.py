"""The training loop's regularisers: weight decay on the embedding tables, early stopping on a
smoothed validation curve."""

import json
import math

import pytest
import torch
from torch import nn

from recsft.config import ConfigError, RunConfig
from recsft.training.loop import LoopState, build_optimizer, smoothed_improvement
from tests.conftest import tiny_config


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.items = nn.Embedding(10, 4, padding_idx=0)
        self.embeddings.adaptor = nn.Linear(4, 4)  # inside the embedding module, not a table
        self.embeddings.LayerNorm = nn.LayerNorm(4)
        self.dense = nn.Linear(4, 4)


def _groups(config: RunConfig, model: nn.Module) -> list[tuple[set[int], float]]:
    optimizer = build_optimizer(model, config.training)
    return [({id(p) for p in g["params"]}, g["weight_decay"]) for g in optimizer.param_groups]


def test_embedding_tables_get_their_own_decay(tmp_path):
    config = tiny_config(tmp_path, weight_decay=0.05, embedding_weight_decay=0.3)
    model = _Tiny()
    decay, tables, rest = _groups(config, model)
    assert decay == ({id(model.dense.weight)}, 0.05)
    assert tables == ({id(model.embeddings.items.weight)}, 0.3)
    assert rest[1] == 0.0 and id(model.embeddings.adaptor.weight) in rest[0]
    assert id(model.dense.bias) in rest[0] and id(model.embeddings.LayerNorm.weight) in rest[0]


def test_without_embedding_decay_the_groups_are_as_before(tmp_path):
    """Two groups, tables undecayed: checkpoints written before the setting still resume."""
    model = _Tiny()
    decay, rest = _groups(tiny_config(tmp_path, weight_decay=0.05), model)
    assert decay == ({id(model.dense.weight)}, 0.05)
    assert rest[1] == 0.0 and id(model.embeddings.items.weight) in rest[0]


def test_decayed_embedding_rows_shrink_without_gradient(tmp_path):
    torch.manual_seed(0)
    model = _Tiny()
    before = model.embeddings.items.weight.detach().clone()
    for decay, shrinks in ((0.0, False), (0.5, True)):
        model.embeddings.items.weight.data.copy_(before)
        config = tiny_config(tmp_path, learning_rate=0.1, embedding_weight_decay=decay)
        optimizer = build_optimizer(model, config.training)
        loss = model.dense(model.embeddings.items(torch.tensor([1]))).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        row = model.embeddings.items.weight[5].detach()  # not in the batch: no gradient
        assert torch.allclose(row, before[5] * (1 - 0.1 * decay)) is True
        assert bool((row.abs() < before[5].abs()).all()) is shrinks


def test_smoothed_curve_ignores_one_noisy_peak():
    state = LoopState()
    rising = [smoothed_improvement(state, v, 0.5) for v in (0.10, 0.20, 0.12, 0.13, 0.14, 0.15)]
    # s: 0.10, 0.15, 0.135, 0.1325, 0.13625, 0.143125: the single peak at 0.20 is damped
    assert rising == [True, True, False, False, False, False]
    assert state.smoothed == pytest.approx(0.143125)
    assert state.best_smoothed == pytest.approx(0.15)
    flat = LoopState()
    assert [smoothed_improvement(flat, v, 0.0) for v in (0.1, 0.2, 0.15)] == [True, True, False]


@pytest.mark.parametrize("field,value", [("stopping_smoothing", 1.0),
                                         ("stopping_smoothing", -0.1),
                                         ("embedding_weight_decay", -1.0)])
def test_out_of_range_settings_are_refused(tmp_path, field, value):
    raw = tiny_config(tmp_path).to_dict()
    raw["training"][field] = value
    with pytest.raises(ConfigError, match=f"training.{field}"):
        RunConfig.from_dict(raw)


def test_training_stops_on_the_smoothed_curve(tmp_path):
    from recsft.training.api import train

    smoothing, patience = 0.7, 2
    config = tiny_config(tmp_path, model_type="sasrec", epochs=40, eval_every=1,
                         patience=patience, stopping_smoothing=smoothing,
                         embedding_weight_decay=0.01)
    trained = train(config)
    lines = (trained.run_dir / "training_log.jsonl").read_text().splitlines()
    history = [json.loads(line) for line in lines]
    values = [h["valid"]["ndcg@10"] for h in history]
    smoothed, best, waited, stop = None, -math.inf, 0, None
    for epoch, (value, record) in enumerate(zip(values, history), start=1):
        smoothed = value if smoothed is None else smoothing * smoothed + (1 - smoothing) * value
        assert record["valid_smoothed"] == pytest.approx(smoothed)
        best, waited = (smoothed, 0) if smoothed > best else (best, waited + 1)
        if waited >= patience:
            stop = epoch
            break
    assert stop == len(history) or (stop is None and len(history) == 40)
    assert trained.valid["ndcg@10"] == pytest.approx(max(values))  # the raw best is kept
