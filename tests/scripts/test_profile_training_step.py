"""The training-step profile: phases timed and operators listed for a tiny run config."""

import json
import sys

import yaml

from tests.conftest import tiny_config
from tests.scripts.script_module import load_script


def test_profile_writes_phases_and_operators(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, model_type="sasrec", batch_size=16)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    out = tmp_path / "profile.json"
    monkeypatch.setattr(sys, "argv", ["profile_training_step.py", "--config", str(path),
                                      "--steps", "3", "--threads", "1", "--output", str(out)])
    load_script("profile_training_step").main()
    record = json.loads(out.read_text())
    assert record["steps"] == 3 and len(record["batch_shapes"]) == 3
    phases = record["phases"]
    assert set(phases) == {"forward and loss", "backward", "clip and optimizer"}
    assert abs(sum(p["share"] for p in phases.values()) - 1) < 1e-6
    assert record["seconds_per_step"] > 0 and record["labelled_positions_per_step"] > 0
    assert record["top_ops"] and all(op["calls"] > 0 for op in record["top_ops"])
