"""Search spaces: the default one per model type, a trial's values, the config they make.

The default space (:func:`default_space`) searches, around the config's own values, what
matters for every model of the family: dropout, hidden size, depth, learning rate, weight
decay (of the encoder and of the embedding tables), maximum length and the loss with its
negatives; the transformers also their attention heads and attention dropout; categories
on/off where the config reads them. Hidden sizes are multiples of every head count offered,
so no trial is invalid by construction.

Example:
    >>> from recsft.config import RunConfig
    >>> space = default_space(RunConfig.from_dict({"model": {"model_type": "sasrec"}}))
    >>> space["model.num_attention_heads"], space["model.hidden_size"]
    ({'choice': [1, 2, 4]}, {'choice': [32, 64, 128]})
"""

from __future__ import annotations

import copy
from typing import Any

from recsft.config import RunConfig
from recsft.tuning.config import bounds_of

#: Hidden sizes and head counts of the default space (every size divisible by every count).
HIDDEN_SIZES = (32, 64, 128)
HEADS = (1, 2, 4)
#: The losses and negative counts of the default space (docs/losses.md).
LOSSES = ("ce", "sampled_softmax", "gbce")
NEGATIVES = (64, 256, 1024)
#: AdamW decay on the embedding tables: off, and the two values below the one that hurt on
#: Scientific (10); 1 beat no decay there (docs/tuning.md, regularisation).
EMBEDDING_DECAYS = (0.0, 0.1, 1.0)


def default_space(config: RunConfig) -> dict[str, dict[str, Any]]:
    """The search space of ``config``'s model type when ``tune.space`` is not set.

    Args:
        config: The run config the search starts from.

    Returns:
        ``{dotted key: distribution}`` in the syntax of ``tune.space``.
    """
    model = config.model
    fields = set(model.field_names())
    space: dict[str, dict[str, Any]] = {
        "model.hidden_dropout_prob": {"float": [0.0, 0.5]},
        "model.hidden_size": {"choice": list(HIDDEN_SIZES)},
        "model.num_hidden_layers": {"int": [1, 3]},
        "training.learning_rate": {"float": [1e-4, 1e-2], "log": True},
        "training.weight_decay": {"float": [0.0, 0.1]},
        "training.embedding_weight_decay": {"choice": list(EMBEDDING_DECAYS)},
    }
    if "num_attention_heads" in fields:
        space["model.attention_probs_dropout_prob"] = {"float": [0.0, 0.5]}
        space["model.num_attention_heads"] = {"choice": list(HEADS)}
    length = config.data.max_length
    lengths = sorted({n for n in (length // 4, length // 2, length) if n >= 5})
    if len(lengths) > 1:
        space["data.max_length"] = {"choice": lengths}
    if "loss" in fields and model.resolved().get("item_representation", "id") == "id":
        space["model.loss"] = {"choice": list(LOSSES)}
        space["model.num_negatives"] = {"choice": list(NEGATIVES)}
    if model.use_categories:
        space["model.use_categories"] = {"choice": [True, False]}
    return space


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A trial's values, drawn from ``space`` by an Optuna trial.

    Args:
        trial: An ``optuna.Trial``.
        space: A checked space (:meth:`recsft.tuning.config.TuneConfig.check`).

    Returns:
        ``{dotted key: value}``; the loss's negatives only when the loss samples negatives.
    """
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if key == "model.num_negatives" and values.get("model.loss") == "ce":
            continue  # full softmax: no negatives to choose (not drawn, not recorded)
        if "choice" in spec:
            values[key] = trial.suggest_categorical(key, spec["choice"])
            continue
        low, high = bounds_of(spec)
        if "float" in spec:
            values[key] = trial.suggest_float(key, low, high, log=bool(spec.get("log")))
        else:
            values[key] = trial.suggest_int(key, low, high, step=int(spec.get("step", 1)),
                                            log=bool(spec.get("log")))
    return values


def apply(config: RunConfig, values: dict[str, Any], *, output_dir: str, name: str,
          source: str) -> RunConfig:
    """``config`` with a trial's values set, as a plain run config (no ``tune:`` section).

    Args:
        config: The base run config.
        values: ``{dotted key: value}``.
        output_dir: The new config's ``output_dir``.
        name: The new config's ``name``.
        source: How messages name the trial.

    Raises:
        ConfigError: the values make an invalid config (e.g. a hidden size that the head
            count does not divide).
    """
    raw = copy.deepcopy(config.to_dict())
    raw.pop("tune", None)
    model = raw["model"]
    # Only the fields the base config set and those the trial sets: a model field left at its
    # default stays at the default of the (possibly changed) model settings.
    raw["model"] = {"model_type": model["model_type"], "use_categories":
                    model["use_categories"], **config.model.fields}
    for key, value in values.items():
        section, _, field_name = key.partition(".")
        raw[section][field_name] = value
    raw["output_dir"], raw["name"] = output_dir, name
    return RunConfig.from_dict(raw, source=source)


def plain_config(config: RunConfig) -> dict[str, Any]:
    """``config`` as a run config YAML mapping without its ``tune:`` section and with only the
    model fields it sets (what ``best_config.yaml`` holds)."""
    raw = copy.deepcopy(config.to_dict())
    raw.pop("tune", None)
    raw["model"] = {"model_type": config.model.model_type,
                    "use_categories": config.model.use_categories, **config.model.fields}
    return raw


def config_values(config: RunConfig, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The config's own values of the keys of ``space`` that lie inside it (model fields as the
    model resolves them), for a first trial at the given settings.

    Returns:
        ``{dotted key: value}``; a key whose value is outside its distribution is left out (the
        sampler draws it), and so are the negatives of a full-softmax loss.
    """
    model = config.model.resolved()
    values: dict[str, Any] = {}
    for key, spec in space.items():
        section, _, field_name = key.partition(".")
        value = (model.get(field_name) if section == "model"
                 else getattr(getattr(config, section), field_name, None))
        if "choice" in spec:
            inside = value in spec["choice"]
        else:
            low, high = bounds_of(spec)
            inside = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and low <= value <= high
        if inside:
            values[key] = value
    if values.get("model.loss") == "ce":
        values.pop("model.num_negatives", None)
    return values
