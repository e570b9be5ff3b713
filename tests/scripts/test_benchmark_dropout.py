"""The dropout A/B benchmark: both variants timed on a tiny run config, the model left as
recsft builds it."""

import json
import sys

import yaml
from torch import nn

from tests.conftest import tiny_config
from tests.scripts.script_module import load_script


def test_dropout_benchmark_times_both_variants_and_restores_recsft(tmp_path, monkeypatch):
    import recsft.modeling.dropout as recsft_dropout

    attention = recsft_dropout.attention_forward
    config = tiny_config(tmp_path, model_type="sasrec", batch_size=16)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "dropout.json"
    monkeypatch.setattr(sys, "argv", ["benchmark_dropout.py", "--config", str(path),
                                      "--steps", "2", "--rounds", "2", "--threads", "1",
                                      "--output", str(out)])
    load_script("benchmark_dropout").main()
    record = json.loads(out.read_text())
    assert {k: len(v) for k, v in record["seconds_per_step"].items()} == {"torch": 2, "recsft": 2}
    assert record["ratio_recsft_to_torch"] > 0 and len(record["batch_shapes"]) == 2
    assert recsft_dropout.attention_forward is attention
    assert issubclass(recsft_dropout.Dropout, nn.Dropout)
