"""The memory estimate checked before a model is allocated."""

from __future__ import annotations

import pytest

from recsft.errors import ResourceError
from recsft.training.memory import check_memory, estimate_memory
from tests.conftest import tiny_config


def test_estimate_counts_parameters_optimizer_logits_and_evaluation():
    estimate = estimate_memory(1_000_000, num_items=50_000, hidden_size=64, num_layers=2,
                               batch_size=128, max_length=50, eval_batch_size=512)
    assert estimate.weights_and_optimizer == 16_000_000
    assert estimate.evaluation == 2 * 4 * 512 * 50_000
    assert 0 < estimate.logits <= 3 * 4 * 2**25           # capped by the chunked softmax
    # Three regimes of the full softmax: whole (three tensors), blocks with the kept softmax,
    # blocks alone.
    small = estimate_memory(10, 1_000, 64, 2, 10, 50, 512)
    assert small.logits == 3 * 4 * 500 * 1_000
    kept = estimate_memory(10, 12_000, 64, 2, 256, 50, 512)
    assert kept.logits == 4 * (3 * 2**24 + 256 * 50 * 12_000)
    assert estimate.logits == 4 * 3 * 2**24
    sampled = estimate_memory(1_000_000, 50_000, 64, 2, 128, 50, 512, loss="sampled_softmax")
    assert sampled.logits < estimate.logits
    assert estimate.total == (estimate.weights_and_optimizer + estimate.logits
                              + estimate.evaluation + estimate.activations)


def test_a_training_that_cannot_fit_is_refused_with_the_estimate():
    estimate = estimate_memory(10**10, 10**8, 1024, 2, 128, 50, 512)
    with pytest.raises(ResourceError, match="needs about .* GiB .* 1.0 GiB is available"):
        check_memory(estimate, available=2**30)
    check_memory(estimate_memory(10, 10, 8, 1, 1, 1, 1), available=2**30)


def test_training_is_refused_before_the_model_exists(tmp_path, monkeypatch):
    from recsft.training.pipeline import run_training

    monkeypatch.setenv("RECSFT_MEMORY_LIMIT_GB", "0.001")
    config = tiny_config(tmp_path, epochs=1)
    with pytest.raises(ResourceError, match="sampled_softmax"):
        run_training(config)
    # Nothing was left: no run, no work folder (it held no checkpoint).
    assert not (tmp_path / "tiny").exists() and not (tmp_path / ".tiny.partial").exists()
