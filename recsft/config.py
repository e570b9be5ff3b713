"""The run config: explicit sections loaded from YAML with ``section.key=value`` overrides.

A run config has these keys::

    name: demo
    output_dir: runs
    data:       {source: synthetic, max_length: 50, ...}       # DataConfig (data/config.py)
    model:      {model_type: bert4rec, hidden_size: 64, ...}   # ModelSection
    training:   {epochs: 200, batch_size: 128, ...}            # TrainingConfig (training/config.py)
    evaluation: {ks: [5, 10, 20], filter_seen: true, ...}

The ``model:`` section is handed to the model's own config class: its keys are the fields of
that model type (:mod:`recsft.modeling.configuration_fields`), and a field the section does not
set takes the model's own default. Every value is validated against the type of its field
(pydantic, :mod:`recsft.field_types`) when the config is read: ``--set
training.learning_rate=1e-3``, which YAML reads as a string, becomes a float; ``--set
model.hidden_size=abc`` is one error line naming the key, the value and the expected type.
Every key, its type, default and meaning: ``docs/config.md`` (``python -m recsft.config_docs``).

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
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recsft.config_upgrade import upgrade
from recsft.data.config import DataConfig
from recsft.errors import RecsftError, shorten
from recsft.field_types import coerce
from recsft.safe_yaml import load_yaml, parse_yaml
from recsft.training.config import TrainingConfig
from recsft.tuning.config import TuneConfig


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
    def from_dict(cls, raw: dict[str, Any], source: str = "<dict>", *,
                  overridden: Collection[str] = ()) -> ModelSection:
        """Read the section, checking keys against the model type and values against types.

        A key set to ``null`` takes the model's default.

        Args:
            raw: The section's keys and values.
            source: How messages name the config.
            overridden: Dotted keys set by ``--set`` (messages about them name ``--set``).

        Raises:
            ConfigError: one line naming the source and the key.
        """
        where = _Where(source, overridden)
        raw = {key: value for key, value in raw.items() if value is not None
               or key == "model_type"}
        model_type = check_value(raw.pop("model_type", "bert4rec"), str, "model.model_type",
                                 where("model.model_type"))
        use_categories = check_value(raw.pop("use_categories", False), bool,
                                     "model.use_categories", where("model.use_categories"))
        section = cls(model_type, use_categories)
        try:
            hints = section.field_types()
        except ConfigError as err:
            raise ConfigError(f"{where('model.model_type')}: {err}") from None
        for key, value in raw.items():
            if key not in hints:
                raise ConfigError(f"{where(f'model.{key}')}: {section._unknown_field(key)}")
            raw[key] = check_value(value, hints[key], f"model.{key}", where(f"model.{key}"))
        object.__setattr__(section, "_fields", raw)
        resolved = section.resolved(source=source)  # checks the model's own rules
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
        data: The ``data:`` section (:class:`~recsft.data.config.DataConfig`).
        model: The ``model:`` section (:class:`ModelSection`).
        training: The ``training:`` section (:class:`TrainingConfig`).
        evaluation: The ``evaluation:`` section (:class:`EvaluationConfig`).
        tune: The ``tune:`` section, read by ``recsft tune`` (:class:`TuneConfig`).
    """

    name: str = "run"
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output_dir, self.name)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, source: str = "<dict>", *,
                  overridden: Collection[str] = ()) -> RunConfig:
        """Build from a nested dict, rejecting unknown sections and keys and mistyped values.

        Values are validated against the field types (:mod:`recsft.field_types`), the keys of
        ``data.synthetic`` and ``data.preprocess`` against ``SyntheticConfig`` and
        ``PreprocessConfig``; ``docs/config.md`` lists every key.

        Args:
            raw: ``{section: {key: value}}`` and the top-level keys.
            source: How messages name the config (its file).
            overridden: Dotted keys set by ``--set`` overrides; messages about them (or keys
                below them) name ``--set`` instead of ``source``.

        Raises:
            ConfigError: one line naming the source, the key, the value and what was expected.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of {', '.join(_KEYS)}; got "
                              f"{shorten(raw)}")
        where = _Where(source, overridden)
        raw = upgrade(raw, ModelSection.RUN_KEYS)
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in _KEYS:
                raise ConfigError(f"{where(str(key))}: unknown key {shorten(key)}; expected one "
                                  f"of {sorted(_KEYS)}")
            if key not in _SECTIONS:
                values[key] = check_value(value, hints[key], key, where(key))
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{where(key)}: section '{key}' must be a mapping, got "
                                  f"{shorten(value)}")
            if key == "model":
                values[key] = ModelSection.from_dict(value, source, overridden=overridden)
                continue
            section_type = _SECTIONS[key]
            section_hints = typing.get_type_hints(section_type)
            known = [f.name for f in dataclasses.fields(section_type)]
            unknown = sorted((k for k in value if k not in known), key=str)
            if unknown:
                raise ConfigError(f"{where(f'{key}.{unknown[0]}')}: unknown key(s) "
                                  f"{shorten(unknown)} in section '{key}'; expected some of "
                                  f"{sorted(known)}")
            checked = {k: check_value(v, section_hints[k], f"{key}.{k}", where(f"{key}.{k}"))
                       for k, v in value.items()}
            for name in _OPTIONS if key == "data" else ():
                if checked.get(name):
                    checked[name] = _check_options(checked[name], f"data.{name}", where)
            values[key] = section_type(**checked)
        config = cls(**values)
        _check_counts(config.training, where)
        config.tune.check(config, ConfigError, where)
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
        """Load a YAML config and apply ``section.key=value`` overrides (values parsed as YAML).

        Raises:
            ConfigError: a missing or special file, unreadable YAML (aliases included), unknown
                keys, a mistyped value, or a malformed override. Messages name the file, or
                ``--set`` for a key an override set.
        """
        try:
            raw = load_yaml(path, "config file")
        except RecsftError as err:  # a ConfigError as it is, another one as a ConfigError
            raise err if isinstance(err, ConfigError) else ConfigError(str(err)) from None
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of {', '.join(_KEYS)}; got "
                              f"{shorten(raw)}")
        overridden = [apply_override(raw, override) for override in overrides or []]
        return cls.from_dict(raw, source=str(path), overridden=overridden)

    def to_dict(self) -> dict[str, Any]:
        """Every section as plain values; the model section holds every resolved field."""
        return {f.name: (self.model.to_dict() if f.name == "model"
                         else _plain(getattr(self, f.name)))
                for f in dataclasses.fields(self)}


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


#: Top-level keys of a run config.
_KEYS = ("name", "output_dir", "data", "model", "training", "evaluation", "tune")

_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelSection,
    "training": TrainingConfig,
    "evaluation": EvaluationConfig,
    "tune": TuneConfig,
}

#: Training fields that count something and must be at least 1.
_POSITIVE_COUNTS = ("epochs", "batch_size", "eval_every", "gradient_accumulation_steps")


#: The values of ``training.init_items``.
INIT_ITEMS = ("auto", "keep", "drop")


def _check_counts(training: TrainingConfig, where: _Where) -> None:
    """Reject counts below 1 (``training.epochs: 0`` would train nothing and save no model;
    with ``training.init_from`` it evaluates the initialised model: zero-shot transfer)."""
    for name in _POSITIVE_COUNTS:
        value = getattr(training, name)
        least = 0 if name == "epochs" and training.init_from else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ConfigError(f"{where(f'training.{name}')}: training.{name} must be an integer "
                              f"of at least {least}, got {shorten(value)}")
    if training.init_items not in INIT_ITEMS:
        raise ConfigError(f"{where('training.init_items')}: training.init_items: expected one of "
                          f"{', '.join(INIT_ITEMS)}, got {shorten(training.init_items)}")
    if not 0 <= training.stopping_smoothing < 1:
        raise ConfigError(f"{where('training.stopping_smoothing')}: training.stopping_smoothing: "
                          f"expected a moving-average weight in [0, 1), got "
                          f"{shorten(training.stopping_smoothing)}")
    for name in ("weight_decay", "embedding_weight_decay"):
        if getattr(training, name) < 0:
            raise ConfigError(f"{where(f'training.{name}')}: training.{name}: expected a "
                              f"non-negative decay, got {shorten(getattr(training, name))}")
    if not 0 <= training.replay_fraction <= 1:
        raise ConfigError(f"{where('training.replay_fraction')}: training.replay_fraction: "
                          f"expected a share in [0, 1], got {shorten(training.replay_fraction)}")


# -- value types -------------------------------------------------------------------------

def check_value(value: Any, hint: Any, key: str, source: str = "<config>") -> Any:
    """Check ``value`` against a field's type hint (:func:`recsft.field_types.coerce`).

    Args:
        value: The value read.
        hint: The field's type.
        key: ``section.key``, for the message.
        source: The config, for the message.

    Returns:
        The validated value: a float where the field is a float (from an integer, or from a
        string such as ``1e-3``, which YAML reads as a string), else ``value``.

    Raises:
        ConfigError: ``"{source}: {key} must be {expected}, got {value}"``, e.g.
            ``"--set: model.hidden_size must be an integer, got 'abc'"``.
    """
    try:
        return coerce(value, hint)
    except TypeError as err:
        prefix = f"{source}: " if source else ""
        raise ConfigError(f"{prefix}{key} must be {err}, got {shorten(value)}") from None


class _Where:
    """How a message names the origin of a key: ``--set`` for a key an override set (or a key
    below it), else the config's source."""

    def __init__(self, source: str, overridden: Collection[str] = ()) -> None:
        self.source = source
        self.overridden = frozenset(overridden)

    def __call__(self, key: str) -> str:
        parts = key.split(".")
        if any(".".join(parts[:n]) in self.overridden for n in range(1, len(parts) + 1)):
            return "--set"
        return self.source


def _options_class(key: str) -> type:
    """The dataclass whose fields the mapping ``data.synthetic`` / ``data.preprocess`` sets."""
    if key == "data.synthetic":
        from recsft.data.synthetic.config import SyntheticConfig

        return SyntheticConfig
    from recsft.data.preprocess.config import PreprocessConfig

    return PreprocessConfig


#: The ``data`` keys that are mappings of another dataclass's fields (:func:`_options_class`).
_OPTIONS = ("synthetic", "preprocess")


def _check_options(values: dict[str, Any], key: str, where: _Where) -> dict[str, Any]:
    """``data.synthetic`` / ``data.preprocess`` with checked keys and values (tuples as lists);
    a ConfigError for an unknown key, a mistyped value or values the dataclass rejects."""
    options_class = _options_class(key)
    hints = typing.get_type_hints(options_class)
    unknown = sorted(name for name in values if name not in hints)
    if unknown:
        raise ConfigError(f"{where(f'{key}.{unknown[0]}')}: unknown key(s) {shorten(unknown)} "
                          f"in '{key}'; expected some of {sorted(hints)}")
    checked = {}
    for name, value in values.items():
        value = check_value(value, hints[name], f"{key}.{name}", where(f"{key}.{name}"))
        checked[name] = list(value) if isinstance(value, tuple) else value
    try:
        options_class(**checked)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where(key)}: {key}: {str(err)[:200]}") from None
    return checked


# -- reading -----------------------------------------------------------------------------

def apply_override(raw: dict[str, Any], override: str) -> str:
    """Set ``raw[section][key] = value`` from ``"section.key=value"`` (value parsed as YAML).

    Returns:
        The dotted key set (``"section.key"``).

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
    except RecsftError as err:  # a ConfigError as it is, another one as a ConfigError
        raise err if isinstance(err, ConfigError) else ConfigError(str(err)) from None
    return ".".join(keys)
