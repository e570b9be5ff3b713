"""Shared fixtures: tiny seeded data and one tiny trained run, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

TINY_SYNTHETIC = {"num_users": 800, "num_items": 120, "num_categories": 6, "seed": 3}


def tiny_config(tmp_path, model_type="bert4rec", **training):
    """A run config on tiny synthetic data that trains in seconds (the transformer fields only
    for the transformer models)."""
    from recsft.config import RunConfig

    raw = {
        "name": "tiny",
        "output_dir": str(tmp_path),
        "data": {"source": "synthetic", "synthetic": dict(TINY_SYNTHETIC),
                 "preprocess": {"collapse_repeats": True}, "max_length": 20},
        "model": {"model_type": model_type, "hidden_size": 32, "num_hidden_layers": 1,
                  "hidden_dropout_prob": 0.1,
                  **({"num_attention_heads": 2, "intermediate_size": 64}
                     if model_type in ("bert4rec", "sasrec") else {})},
        "training": {"epochs": 40, "batch_size": 64, "learning_rate": 0.005, "eval_every": 5,
                     "patience": 0, "seed": 0, **training},
        "evaluation": {"ks": [5, 10], "batch_size": 128},
    }
    return RunConfig.from_dict(raw)


def tiny_data_config(tmp_path, **data):
    """:func:`tiny_config` with some of its ``data`` section's fields changed."""
    config = tiny_config(tmp_path)
    for key, value in data.items():
        setattr(config.data, key, value)
    return config


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """Train the tiny config once; returns (config, metrics record)."""
    from recsft.training.pipeline import run_training

    config = tiny_config(tmp_path_factory.mktemp("runs"))
    record = run_training(config)
    return config, record
