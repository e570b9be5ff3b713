"""The run config: explicit sections loaded from YAML with ``section.key=value`` overrides.

A run config has these keys::

    name: demo
    output_dir: runs
    data:       {source: synthetic, max_length: 50, ...}       # DataConfig
    model:      {model_type: bert4rec, hidden_size: 64, ...}   # ModelSection
    training:   {epochs: 20, batch_size: 128, learning_rate: 0.001, ...}
    evaluation: {ks: [5, 10, 20], filter_seen: true, ...}

The ``model:`` section is handed to the model's own config class: its keys are the fields of
that model type (:mod:`recsft.modeling.configuration_fields`), and a field the section does not
set takes the model's own default. Every value is checked against the type of its field when
the config is read (``--set training.learning_rate=1e-3``, which YAML reads as a string, becomes
a float; ``--set model.hidden_size=abc`` is an error naming the key and the expected type).

YAML is read without aliases and within bounds (:mod:`recsft.safe_yaml`).

Example:
    >>> config = RunConfig.from_yaml("configs/demo.yaml", ["training.epochs=3"])
    >>> RunConfig.from_dict({"model": {"model_type": "sasrec"}}).model.num_attention_heads
    1
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recsft.data.config import DataConfig
from recsft.errors import RecsftError, shorten
from recsft.field_types import coerce
from recsft.safe_yaml import load_yaml, parse_yaml


class ConfigError(RecsftError):
    """A run config names an unknown key or holds a value of the wrong kind."""


class ModelSection:
    """The ``model:`` section: a model type and the fields of its config class it sets.

    Reading a field the section does not set gives the model's own default (the default of
    its config class, e.g. one attention head for SASRec, two for BERT4Rec); setting one records
    it. A field the model type does not have is an error when the section is read from a config
    or resolved (:meth:`resolved`).

    Fields filled from the tokenizer and the data (``vocab_size``, ``max_position_embeddings``
    from ``data.max_length``, ...; see ``SequenceModelFields.DERIVED``) are not part of the
    section.

    Attributes:
        model_type: ``bert4rec`` (bidirectional, Cloze), ``sasrec`` (causal), ``gru4rec`` or
            ``lstm_attention`` (recurrent baselines); see ``recsft.modeling.MODEL_FIELDS``.
        use_categories: Add each item's category embeddings to its vector (input and output);
            needs an item table with categories (see ``data.category_column``). Sets the model's
            ``num_categories`` and ``max_item_categories``.

    Example:
        >>> section = ModelSection("sasrec", hidden_size=32)
        >>> section.hidden_size, section.intermediate_size
        (32, 64)
        >>> section.fields
        {'hidden_size': 32}
    """

    #: Keys of the section that are not fields of the model's config class.
    RUN_KEYS: ClassVar[tuple[str, ...]] = ("model_type", "use_categories")

    model_type: str
    use_categories: bool

    def __init__(self, model_type: str = "bert4rec", use_categories: bool = False,
                 **fields: Any) -> None:
        object.__setattr__(self, "model_type", model_type)
        object.__setattr__(self, "use_categories", use_categories)
        object.__setattr__(self, "_fields", dict(fields))

    # -- the model type's fields ---------------------------------------------------------

    @property
    def fields_class(self) -> type:
        """The fields dataclass of :attr:`model_type` (no transformers import).

        Raises:
            ConfigError: unknown model type.
        """
        from recsft.modeling import MODEL_FIELDS

        fields_class = MODEL_FIELDS.get(self.model_type) if isinstance(self.model_type,
                                                                        str) else None
        if fields_class is None:
            raise ConfigError(f"unknown model_type {shorten(self.model_type)}; expected one of "
                              f"{', '.join(sorted(MODEL_FIELDS))}")
        return fields_class

    def field_names(self) -> tuple[str, ...]:
        """The fields of the model type a run config may set, in declaration order."""
        fields_class = self.fields_class
        return tuple(name for name in fields_class.field_names()
                     if name not in fields_class.DERIVED)

    def field_types(self) -> dict[str, Any]:
        """``{field: type}`` for :meth:`field_names`."""
        hints = typing.get_type_hints(self.fields_class)
        return {name: hints[name] for name in self.field_names()}

    @property
    def fields(self) -> dict[str, Any]:
        """The fields this section sets (a copy), without the model's defaults."""
        return dict(self._fields)

    def resolved(self, source: str = "<config>") -> dict[str, Any]:
        """Every field of :meth:`field_names`: the section's value, else the model's default.

        Args:
            source: How messages name the config.

        Returns:
            ``{field: value}`` in declaration order, values checked against the field types.

        Raises:
            ConfigError: unknown model type, a field the model type does not have, a value of
                the wrong type, or values the model rejects (e.g. ``hidden_size`` not a
                multiple of ``num_attention_heads``).
        """
        prefix = f"{source}: " if source else ""
        try:
            fields_class = self.fields_class
        except ConfigError as err:
            raise ConfigError(f"{prefix}{err}") from None
        types_ = self.field_types()
        unknown = sorted((name for name in self._fields if name not in types_), key=str)
        if unknown:
            raise ConfigError(f"{prefix}{self._unknown_field(unknown[0])}")
        defaults = fields_class.defaults()
        values = {name: check_value(self._fields[name], hint, f"model.{name}", source)
                  if name in self._fields else defaults[name]
                  for name, hint in types_.items()}
        try:
            fields_class(**values).check_fields()
        except ValueError as err:
            raise ConfigError(f"{prefix}model: {err}") from None
        return values

    def _unknown_field(self, name: Any) -> str:
        """The message for a key that is not a field of the model type."""
        from recsft.modeling import MODEL_FIELDS

        others = [model_type for model_type, fields_class in MODEL_FIELDS.items()
                  if name in fields_class.field_names() and name not in fields_class.DERIVED]
        if not others:
            return (f"unknown key {shorten(name)} in section 'model'; expected some of "
                    f"{sorted(self.field_names() + self.RUN_KEYS)}")
        return (f"model.{name} does not apply to model_type '{self.model_type}' (it is a field "
                f"of {', '.join(others)}); the fields of {self.model_type} are "
                f"{', '.join(self.field_names())}")

    def to_dict(self) -> dict[str, Any]:
        """``model_type``, ``use_categories`` and every resolved field (a full record)."""
        return {"model_type": self.model_type, "use_categories": self.use_categories,
                **self.resolved()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "<dict>") -> ModelSection:
        """Read the section, checking keys against the model type and values against types.

        A key set to ``null`` takes the model's default.

        Raises:
            ConfigError: one line naming the source and the key.
        """
        raw = {key: value for key, value in raw.items() if value is not None
               or key == "model_type"}
        model_type = check_value(raw.pop("model_type", "bert4rec"), str, "model.model_type",
                                 source)
        use_categories = check_value(raw.pop("use_categories", False), bool,
                                     "model.use_categories", source)
        section = cls(model_type, use_categories, **raw)
        resolved = section.resolved(source=source)  # checks keys, types and the model's rules
        object.__setattr__(section, "_fields", {key: resolved[key] for key in raw})
        return section

    # -- attribute access ------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called when ``name`` is not an attribute: a model field.
        if name.startswith("_"):
            raise AttributeError(name)
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        fields_class = self.fields_class
        if name in fields_class.field_names() and name not in fields_class.DERIVED:
            return fields_class.defaults()[name]
        raise AttributeError(f"model_type '{self.model_type}' has no field '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.RUN_KEYS:
            object.__setattr__(self, name, value)
        else:
            self._fields[name] = value

    def __delattr__(self, name: str) -> None:
        """``del section.hidden_size``: back to the model's default."""
        if name not in self._fields:
            raise AttributeError(name)
        del self._fields[name]

    def __eq__(self, other: object) -> bool:
        """Equal when both build the same model (fields set to the default count as unset)."""
        if not isinstance(other, ModelSection):
            return NotImplemented
        if (self.model_type, self.use_categories) != (other.model_type, other.use_categories):
            return False
        try:
            return self.resolved() == other.resolved()
        except ConfigError:
            return self._fields == other._fields

    def __repr__(self) -> str:
        values = ", ".join(f"{key}={value!r}" for key, value in self._fields.items())
        return (f"ModelSection(model_type={self.model_type!r}, "
                f"use_categories={self.use_categories!r}{', ' if values else ''}{values})")


@dataclass
class TrainingConfig:
    """Optimisation and the masked-item objective.

    Attributes:
        epochs: Maximum passes over the training sequences.
        batch_size: Sequences per optimizer step, over all processes (each of N processes
            takes ``batch_size / N``), so more processes keep the same optimisation.
        learning_rate: AdamW peak learning rate.
        weight_decay: AdamW weight decay (not on biases, LayerNorm and embeddings' padding).
        warmup_ratio: Fraction of steps of linear warm-up.
        scheduler: ``linear``, ``cosine`` or ``constant`` (after warm-up).
        max_grad_norm: Gradient clipping norm (0 disables).
        gradient_accumulation_steps: Steps accumulated before an optimizer step.
        mask_prob: Probability that a position is masked (Cloze).
        last_item_mask_prob: Probability that a sequence instead masks only its last item,
            the inference-time task.
        eval_every: Validate every this many epochs.
        patience: Stop after this many validations without improvement (0: never).
        metric_for_best: Validation metric that selects the best checkpoint.
        mixed_precision: ``no``, ``fp16`` or ``bf16`` (Accelerate).
        seed: Random seed.
        num_workers: DataLoader workers.
        save_every_steps: Write a resumable checkpoint (``run_dir/checkpoints/step-N``) every
            this many optimizer steps (0: never).
        save_total_limit: Keep this many newest checkpoints.
        deterministic: Ask torch for deterministic algorithms (slower on GPU).
        report_to: Accelerate trackers receiving the training curves: ``tensorboard``
            (default; event files in ``<run>/logs``, read with ``tensorboard --logdir``),
            ``wandb``, ``mlflow``, ``comet_ml``, ..., a list of them, ``all``, or ``none``.
        logging_steps: Log the training loss and learning rate to the trackers every this many
            optimizer steps (0: per epoch only).
    """

    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mask_prob: float = 0.2
    last_item_mask_prob: float = 0.1
    eval_every: int = 1
    patience: int = 5
    metric_for_best: str = "ndcg@10"
    mixed_precision: str = "no"
    seed: int = 42
    num_workers: int = 0
    save_every_steps: int = 0
    save_total_limit: int = 2
    deterministic: bool = False
    report_to: str | list[str] = "tensorboard"
    logging_steps: int = 50


@dataclass
class EvaluationConfig:
    """The evaluation protocol.

    Attributes:
        ks: Cut-offs for Recall/NDCG/MRR/HitRate.
        filter_seen: Remove the user's history items from the ranking.
        batch_size: Users scored per chunk.
    """

    ks: list[int] = field(default_factory=lambda: [5, 10, 20])
    filter_seen: bool = True
    batch_size: int = 512


@dataclass
class RunConfig:
    """A whole run: data, model, training and evaluation sections.

    Attributes:
        name: Run name; the run folder is ``output_dir/name``.
        output_dir: Parent folder of run folders.
    """

    name: str = "run"
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output_dir, self.name)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, source: str = "<dict>") -> RunConfig:
        """Build from a nested dict, rejecting unknown sections and keys and mistyped values.

        Raises:
            ConfigError: one line naming ``source`` and the key.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of {', '.join(_KEYS)}; got "
                              f"{shorten(raw)}")
        raw = _upgrade(raw)
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in _KEYS:
                raise ConfigError(f"{source}: unknown key {shorten(key)}; expected one of "
                                  f"{sorted(_KEYS)}")
            if key not in _SECTIONS:
                values[key] = check_value(value, hints[key], key, source)
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section '{key}' must be a mapping, got "
                                  f"{shorten(value)}")
            if key == "model":
                values[key] = ModelSection.from_dict(value, source)
                continue
            section_type = _SECTIONS[key]
            section_hints = typing.get_type_hints(section_type)
            known = [f.name for f in dataclasses.fields(section_type)]
            unknown = sorted((k for k in value if k not in known), key=str)
            if unknown:
                raise ConfigError(f"{source}: unknown key(s) {shorten(unknown)} in section "
                                  f"'{key}'; expected some of {sorted(known)}")
            values[key] = section_type(**{
                k: check_value(v, section_hints[k], f"{key}.{k}", source)
                for k, v in value.items()})
        config = cls(**values)
        _check_counts(config.training, source)
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
        """Load a YAML config and apply ``section.key=value`` overrides (values parsed as YAML).

        Raises:
            ConfigError: a missing or special file, unreadable YAML (aliases included), unknown
                keys, a mistyped value, or a malformed override.
        """
        try:
            raw = load_yaml(path, "config file")
        except ConfigError:
            raise
        except RecsftError as err:
            raise ConfigError(str(err)) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of {', '.join(_KEYS)}; got "
                              f"{shorten(raw)}")
        for override in overrides or []:
            apply_override(raw, override)
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """Every section as plain values; the model section holds every resolved field."""
        return {f.name: (self.model.to_dict() if f.name == "model"
                         else _plain(getattr(self, f.name)))
                for f in dataclasses.fields(self)}


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


#: Top-level keys of a run config.
_KEYS = ("name", "output_dir", "data", "model", "training", "evaluation")

_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelSection,
    "training": TrainingConfig,
    "evaluation": EvaluationConfig,
}

#: Training fields that count something and must be at least 1.
_POSITIVE_COUNTS = ("epochs", "batch_size", "eval_every", "gradient_accumulation_steps")


def _check_counts(training: TrainingConfig, source: str) -> None:
    """Reject counts below 1 (``training.epochs: 0`` would train nothing and save no model)."""
    for name in _POSITIVE_COUNTS:
        value = getattr(training, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{source}: training.{name} must be an integer of at least 1, "
                              f"got {shorten(value)}")


# -- value types -------------------------------------------------------------------------

def check_value(value: Any, hint: Any, key: str, source: str = "<config>") -> Any:
    """Check ``value`` against a field's type hint (:func:`recsft.field_types.coerce`).

    Args:
        value: The value read.
        hint: The field's type.
        key: ``section.key``, for the message.
        source: The config, for the message.

    Returns:
        ``value``, or the float a numeric string spells where the field is a float (YAML reads
        ``1e-3`` as a string).

    Raises:
        ConfigError: ``"{source}: {key} must be {expected}, got {value}"``.
    """
    try:
        return coerce(value, hint)
    except TypeError as err:
        prefix = f"{source}: " if source else ""
        raise ConfigError(f"{prefix}{key} must be {err}, got {shorten(value)}") from None


# -- reading -----------------------------------------------------------------------------

#: The fields of the ``model:`` section before it was handed to the model's config class; run
#: folders of those versions record all of them, ``null`` meaning "the model's default".
_LEGACY_MODEL_KEYS = frozenset({
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "use_event_types", "use_time_gaps", "use_categories", "use_output_transform", "norm_first",
    "initializer_range", "loss", "num_negatives", "negative_sampling", "gbce_t",
    "embedding_size", "use_output_projection", "attention_type",
})


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Read configs of earlier versions.

    * ``data.collapse_repeats`` is now under ``data.preprocess``.
    * A ``model:`` section recorded whole by an earlier version (every field of every model
      type, as ``run_config.yaml`` holds it) keeps the fields of its model type that it set;
      the others were ignored by that version and are dropped.
    """
    raw = dict(raw)
    data = raw.get("data")
    if isinstance(data, dict) and "collapse_repeats" in data:
        data = dict(data)
        preprocess = dict(data.get("preprocess") or {})
        preprocess.setdefault("collapse_repeats", data.pop("collapse_repeats"))
        data["preprocess"] = preprocess
        raw["data"] = data
    model = raw.get("model")
    if isinstance(model, dict) and set(model) == _LEGACY_MODEL_KEYS:
        from recsft.modeling import MODEL_FIELDS

        fields_class = MODEL_FIELDS.get(model["model_type"])
        if fields_class is not None:
            keep = set(fields_class.field_names()) | set(ModelSection.RUN_KEYS)
            raw["model"] = {key: value for key, value in model.items()
                            if key in keep and value is not None}
    return raw


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``raw[section][key] = value`` from ``"section.key=value"`` (value parsed as YAML).

    Raises:
        ConfigError: not ``section.key=value``, a key below a value that is not a section, or
            a value that is not valid YAML.
    """
    if "=" not in override:
        raise ConfigError(f"override {shorten(override)} must look like section.key=value")
    dotted, text = override.split("=", 1)
    keys = dotted.strip().split(".")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {shorten(override)}: {shorten(key)} is not a section")
    try:
        node[keys[-1]] = parse_yaml(text, f"override {shorten(override, 60)}")
    except ConfigError:
        raise
    except RecsftError as err:
        raise ConfigError(str(err)) from None
