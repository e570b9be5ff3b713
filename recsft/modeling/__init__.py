"""Sequence models, imported on first use.

:data:`MODEL_TYPES` maps the ``model.model_type`` of a run config to its (config class, model
class). ``import recsft`` arranges for the models to be registered with the transformers Auto
classes when transformers loads them (:mod:`recsft._auto`), so ``AutoConfig`` / ``AutoModel`` /
``AutoTokenizer.from_pretrained(run_dir)`` load a recsft run folder without
``trust_remote_code``; :func:`register_auto_classes` does it at once.
"""

from __future__ import annotations

import importlib
from typing import Any

_CLASSES = {
    "Bert4RecConfig": "configuration_bert4rec",
    "SASRecConfig": "configuration_sasrec",
    "GRU4RecConfig": "configuration_rnn",
    "LSTMAttentionConfig": "configuration_rnn",
    "Bert4RecModel": "bert4rec",
    "SASRecModel": "sasrec",
    "GRU4RecModel": "rnn",
    "LSTMAttentionModel": "rnn",
}
_TYPES = {
    "bert4rec": ("Bert4RecConfig", "Bert4RecModel"),
    "sasrec": ("SASRecConfig", "SASRecModel"),
    "gru4rec": ("GRU4RecConfig", "GRU4RecModel"),
    "lstm_attention": ("LSTMAttentionConfig", "LSTMAttentionModel"),
}

__all__ = ["MODEL_TYPES", "register_auto_classes", *sorted(_CLASSES)]


def _class(name: str) -> type:
    return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)


def config_classes() -> list[type]:
    """The config classes (importing only their light modules)."""
    return [_class(config) for config, _ in _TYPES.values()]


def model_types() -> dict[str, tuple[type, type]]:
    """``model_type`` -> ``(config class, model class)``."""
    return {key: (_class(config), _class(model)) for key, (config, model) in _TYPES.items()}


def register_auto_classes() -> None:
    """Register every config, model and the tokenizer with the transformers Auto classes now."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from recsft._auto import register_configs, register_models, register_tokenizer

    register_configs(AutoConfig)
    register_models(AutoModel)
    register_tokenizer(AutoTokenizer)


def __getattr__(name: str) -> Any:
    if name == "MODEL_TYPES":
        return model_types()
    if name in _CLASSES:
        return _class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
