"""An interrupted training resumed from its checkpoint ends exactly where an uninterrupted one
does (same batches, masks, dropout and updates), and loading a checkpoint never runs code."""

import hashlib
import json
import os
import pickle
import random

import numpy as np
import pytest
import torch

from recsft.errors import RecsftError, RunFolderError  # noqa: E402
from recsft.training import masking  # noqa: E402
from recsft.training.checkpoint import (  # noqa: E402
    MANIFEST,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from recsft.training.pipeline import run_training  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402


class _Planted:
    """Unpickling it creates ``marker`` (what a planted pickle could do, harmlessly)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _plant(folder, marker, names=("custom_checkpoint_0.pkl", "random_states_0.pkl",
                                  "optimizer.bin", "scheduler.bin")):
    for name in names:
        with open(os.path.join(folder, name), "wb") as handle:
            pickle.dump(_Planted(marker), handle)


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

    # Pickles planted where Accelerate's checkpoints kept theirs, even listed in the manifest
    # with their true digests: never opened.
    checkpoint = latest_checkpoint(_checkpoint_dir(config))
    marker = tmp_path / "planted-code-ran"
    _plant(checkpoint, marker)
    _list_in_manifest(checkpoint)

    resumed = run_training(config, resume=True)
    assert not marker.exists()
    assert resumed["training"]["resumed_from"].endswith("step-28")
    assert resumed["test"] == reference["test"]
    assert resumed["valid"] == reference["valid"]
    assert resumed["training"]["best_epoch"] == reference["training"]["best_epoch"]


def _checkpoint_dir(config):
    """The interrupted run's checkpoint folder (inside its work folder while it is partial)."""
    for parent, folders, _ in os.walk(config.output_dir):
        if "checkpoints" in folders:
            return os.path.join(parent, "checkpoints")
    raise AssertionError(f"no checkpoints under {config.output_dir}")


def _list_in_manifest(checkpoint):
    path = os.path.join(checkpoint, MANIFEST)
    with open(path) as handle:
        manifest = json.load(handle)
    for name in os.listdir(checkpoint):
        if name.endswith((".pkl", ".bin")):
            with open(os.path.join(checkpoint, name), "rb") as handle:
                data = handle.read()
            manifest["files"][name] = {"bytes": len(data),
                                       "sha256": hashlib.sha256(data).hexdigest()}
    with open(path, "w") as handle:
        json.dump(manifest, handle)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    # The run folder's guard refuses first (nothing was started); the loop would say there is
    # no checkpoint.
    with pytest.raises((RecsftError, FileNotFoundError),
                       match="no checkpoint to resume from|no interrupted training"):
        run_training(_config(tmp_path), resume=True)


# --- the checkpoint format on a small model --------------------------------------------------


def _parts(accelerator, vocabulary=10):
    from transformers import get_scheduler

    torch.manual_seed(0)
    embeddings = torch.nn.Embedding(vocabulary, 4)
    model = torch.nn.Sequential(embeddings, torch.nn.Dropout(0.5), torch.nn.Linear(4, vocabulary))
    model[2].weight = embeddings.weight  # tied: stored once
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=20)
    return accelerator.prepare(model, optimizer, scheduler)


def _train(accelerator, parts, steps, update=True):
    model, optimizer, scheduler = parts
    for _ in range(steps):
        loss = model(torch.tensor([1, 2, 3], device=accelerator.device)).logsumexp(-1).sum()
        accelerator.backward(loss)
        if not update:  # a gradient accumulated for the next update
            return
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()


LOOP = {"epoch": 1, "step_in_epoch": 3, "best_metric": -float("inf"), "history": []}


@pytest.fixture()
def saved(tmp_path):
    """A checkpoint after 3 steps of a small tied model and one more backward pass (as between
    two updates of gradient accumulation); the accelerator and the model's parts."""
    from accelerate import Accelerator

    accelerator = Accelerator()
    parts = _parts(accelerator)
    _train(accelerator, parts, 3)
    _train(accelerator, parts, 1, update=False)
    directory = tmp_path / "checkpoints"
    save_checkpoint(accelerator, str(directory), 3, 2, *parts, dict(LOOP))
    return accelerator, parts, latest_checkpoint(str(directory))


def _fresh_load(accelerator, checkpoint, vocabulary=10):
    template = {**LOOP, "epoch": 0, "best_metric": 0.0}
    return load_checkpoint(accelerator, checkpoint, *_parts(accelerator, vocabulary), template)


def test_a_checkpoint_restores_weights_optimizer_scheduler_and_random_states(saved):
    accelerator, parts, checkpoint = saved
    assert sorted(os.listdir(checkpoint)) == [
        MANIFEST, "grad-0.safetensors", "model.safetensors", "optimizer.safetensors",
        "rng-0.json", "rng-0.safetensors", "trainer_state.json"]
    expected = (random.random(), np.random.rand(), torch.rand(3).tolist())
    _train(accelerator, parts, 2)  # what the uninterrupted run does next
    random.seed(1), np.random.seed(1), torch.manual_seed(1)

    fresh = _parts(accelerator)
    loop = load_checkpoint(accelerator, checkpoint, *fresh, {**LOOP, "best_metric": 0.0})
    assert loop == LOOP
    assert fresh[0][0].weight.grad is not None
    assert (random.random(), np.random.rand(), torch.rand(3).tolist()) == expected
    _train(accelerator, fresh, 2)
    for a, b in zip(parts[0].state_dict().values(), fresh[0].state_dict().values()):
        assert torch.equal(a, b)
    assert fresh[0][2].weight is fresh[0][0].weight
    assert fresh[2].state_dict() == parts[2].state_dict()
    ours, theirs = parts[1].state_dict(), fresh[1].state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert all(torch.equal(ours["state"][i][k], theirs["state"][i][k])
               for i in ours["state"] for k in ours["state"][i])


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors",
                                  "trainer_state.json", "rng-0.json", "rng-0.safetensors",
                                  "grad-0.safetensors"])
def test_a_corrupted_checkpoint_file_is_an_error_naming_it(saved, name):
    accelerator, _, checkpoint = saved
    path = os.path.join(checkpoint, name)
    with open(path, "r+b") as handle:
        handle.seek(os.path.getsize(path) // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x55]))
    with pytest.raises(RunFolderError, match=f"{name}: size or SHA-256 differs"):
        _fresh_load(accelerator, checkpoint)


def test_a_missing_or_damaged_manifest_is_refused(saved):
    accelerator, _, checkpoint = saved
    path = os.path.join(checkpoint, MANIFEST)
    with open(path, "r+b") as handle:
        handle.truncate(40)
    with pytest.raises(RunFolderError, match=f"{MANIFEST}: not valid JSON"):
        _fresh_load(accelerator, checkpoint)
    os.remove(path)
    with pytest.raises(RunFolderError, match=f"{MANIFEST}: missing"):
        _fresh_load(accelerator, checkpoint)


def test_state_that_does_not_fit_the_model_is_an_error_naming_the_file(saved):
    accelerator, _, checkpoint = saved
    with pytest.raises(RunFolderError, match=r"model\.safetensors: tensor '0\.weight' is"):
        _fresh_load(accelerator, checkpoint, vocabulary=12)


def test_a_checkpoint_of_an_older_recsft_is_refused_never_unpickled(saved, tmp_path):
    accelerator, _, checkpoint = saved
    for name in os.listdir(checkpoint):
        os.remove(os.path.join(checkpoint, name))
    marker = tmp_path / "planted-code-ran"
    _plant(checkpoint, marker)
    with pytest.raises(RunFolderError, match="written by an older recsft.*cannot be loaded "
                                             "safely"):
        _fresh_load(accelerator, checkpoint)
    assert not marker.exists()
    # The payload is real: unpickling it would have created the marker.
    with open(os.path.join(checkpoint, "custom_checkpoint_0.pkl"), "rb") as handle:
        pickle.load(handle).close()
    assert marker.exists()


def test_only_the_newest_checkpoints_and_no_leftovers_are_kept(saved):
    accelerator, parts, checkpoint = saved
    directory = os.path.dirname(checkpoint)
    os.makedirs(os.path.join(directory, ".tmp-step-9-killed"))
    for step in (4, 5):
        _train(accelerator, parts, 1)
        save_checkpoint(accelerator, directory, step, 2, *parts, dict(LOOP))
    assert sorted(os.listdir(directory)) == ["step-4", "step-5"]


def test_the_gradient_scaler_state_is_kept_as_json(tmp_path):
    from accelerate import Accelerator

    accelerator = Accelerator()
    parts = _parts(accelerator)
    accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=512.0, growth_interval=7)
    accelerator.scaler.scale(torch.ones(()))
    accelerator.scaler.update(256.0)  # as after a step that overflowed
    directory = str(tmp_path / "checkpoints")
    save_checkpoint(accelerator, directory, 1, 1, *parts, dict(LOOP))
    expected = accelerator.scaler.state_dict()
    with open(os.path.join(latest_checkpoint(directory), "trainer_state.json")) as handle:
        assert json.load(handle)["scaler"] == expected

    accelerator.scaler = torch.amp.GradScaler("cpu")
    _fresh_load(accelerator, latest_checkpoint(directory))
    assert accelerator.scaler.state_dict() == expected
    accelerator.scaler = None
    with pytest.raises(RunFolderError, match="trainer_state.json: field 'scaler'"):
        _fresh_load(accelerator, latest_checkpoint(directory))
