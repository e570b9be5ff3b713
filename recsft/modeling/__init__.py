"""Sequence models, imported on first use.

Each model type of a run config (``model.model_type``) has a fields dataclass (light:
:mod:`recsft.modeling.configuration_fields`), a config class (the fields plus transformers'
``PretrainedConfig``) and a model class. :data:`MODEL_FIELDS` maps the model type to its fields
class without importing transformers; :data:`MODEL_TYPES` to its (config class, model class),
importing them; :mod:`recsft.modeling.factory` builds a model from a run config.

``import recsft`` arranges for the models to be registered with the transformers Auto classes
when transformers loads them (:mod:`recsft._auto` calls :func:`register_configs`,
:func:`register_models` and :func:`register_tokenizer` here), so ``AutoConfig`` / ``AutoModel``
/ ``AutoTokenizer.from_pretrained(run_dir)`` load a recsft run folder without
``trust_remote_code``; :func:`register_auto_classes` does it at once.
"""

from __future__ import annotations

import importlib
from typing import Any

from recsft.modeling.configuration_fields import (
    Bert4RecFields,
    GRU4RecFields,
    LSTMAttentionFields,
    SASRecFields,
    SequenceModelFields,
)

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

#: ``model_type`` of a run config -> its fields dataclass (no transformers import).
MODEL_FIELDS: dict[str, type[SequenceModelFields]] = {
    "bert4rec": Bert4RecFields,
    "sasrec": SASRecFields,
    "gru4rec": GRU4RecFields,
    "lstm_attention": LSTMAttentionFields,
}

__all__ = ["MODEL_FIELDS", "MODEL_TYPES", "register_auto_classes", *sorted(_CLASSES)]


def _class(name: str) -> type:
    return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)


def config_classes() -> list[type]:
    """The config classes (importing only their modules, not the models')."""
    return [_class(config) for config, _ in _TYPES.values()]


def model_types() -> dict[str, tuple[type, type]]:
    """``model_type`` -> ``(config class, model class)``, importing every model."""
    return {key: type_classes(key) for key in _TYPES}


def type_classes(model_type: str) -> tuple[type, type]:
    """``(config class, model class)`` of one run-config model type, importing only those.

    Raises:
        KeyError: not a model type (see :func:`recsft.modeling.factory.model_classes` for the
            checked lookup).
    """
    config, model = _TYPES[model_type]
    return _class(config), _class(model)


def register_configs(auto_config: Any) -> None:
    """``AutoConfig.register`` every recsft config class."""
    for config in config_classes():
        auto_config.register(config.model_type, config, exist_ok=True)


def register_models(auto_model: Any) -> None:
    """``AutoModel.register`` every recsft model class."""
    for config, model in model_types().values():
        auto_model.register(config, model, exist_ok=True)


def register_tokenizer(auto_tokenizer: Any) -> None:
    """``AutoTokenizer.register`` the behaviour tokenizer for every recsft config class."""
    from recsft.tokenization import BehaviorTokenizer

    for config in config_classes():
        auto_tokenizer.register(config, fast_tokenizer_class=BehaviorTokenizer, exist_ok=True)


def register_auto_classes() -> None:
    """Register every config, model and the tokenizer with the transformers Auto classes now."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    register_configs(AutoConfig)
    register_models(AutoModel)
    register_tokenizer(AutoTokenizer)


def __getattr__(name: str) -> Any:
    if name == "MODEL_TYPES":
        return model_types()
    if name in _CLASSES:
        return _class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
