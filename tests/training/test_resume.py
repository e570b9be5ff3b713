"""An interrupted training resumed from its checkpoint ends exactly where an uninterrupted one
does (same batches, masks, dropout and updates)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from conftest import tiny_config  # noqa: E402

from recsft.training import masking  # noqa: E402
from recsft.training.pipeline import run_training  # noqa: E402


def _config(tmp_path):
    return tiny_config(tmp_path, epochs=6, eval_every=2, save_every_steps=7,
                       save_total_limit=1)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    reference = run_training(_config(tmp_path / "reference"))

    calls = {"n": 0}
    original = masking.PadCollator.__call__

    def crashing(self, features):
        calls["n"] += 1
        # Batch 30 is prepared (one batch ahead) while step 29 runs: mid-epoch, after the
        # checkpoint written at step 28.
        if calls["n"] == 30:
            raise KeyboardInterrupt("simulated crash")
        return original(self, features)

    monkeypatch.setattr(masking.PadCollator, "__call__", crashing)
    config = _config(tmp_path / "interrupted")
    with pytest.raises(KeyboardInterrupt):
        run_training(config)
    assert not os.path.exists(os.path.join(config.run_dir, "metrics.json"))
    monkeypatch.setattr(masking.PadCollator, "__call__", original)

    resumed = run_training(config, resume=True)
    assert resumed["training"]["resumed_from"].endswith("step-28")
    assert resumed["test"] == reference["test"]
    assert resumed["valid"] == reference["valid"]
    assert resumed["training"]["best_epoch"] == reference["training"]["best_epoch"]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        run_training(_config(tmp_path), resume=True)
