"""Run configuration: explicit dataclasses loaded from YAML with ``section.key=value`` overrides.

A run config has four sections::

    name: demo
    output_dir: runs
    data:       {source: synthetic, max_length: 50, ...}
    model:      {model_type: bert4rec, hidden_size: 64, ...}
    training:   {epochs: 20, batch_size: 128, learning_rate: 0.001, ...}
    evaluation: {ks: [5, 10, 20], filter_seen: true, ...}

Example:
    >>> config = RunConfig.from_yaml("configs/demo.yaml", ["training.epochs=3"])
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from recsft.data.config import DataConfig


class ConfigError(ValueError):
    """A run config names an unknown key or holds a value of the wrong kind."""


@dataclass
class ModelConfig:
    """Architecture and loss; fields map onto the model's own config class.

    Fields left ``None`` take the model's default (e.g. SASRec has no output transform).

    Attributes:
        model_type: ``bert4rec`` (bidirectional, Cloze), ``sasrec`` (causal), ``gru4rec`` or
            ``lstm_attention`` (recurrent baselines); see ``recsft.modeling.MODEL_TYPES``.
        hidden_size: Embedding and hidden width.
        num_hidden_layers: Transformer (or recurrent) layers.
        num_attention_heads: Attention heads.
        intermediate_size: Feed-forward width.
        hidden_dropout_prob: Dropout on embeddings and sub-layers.
        attention_probs_dropout_prob: Dropout on attention weights.
        use_event_types: Add event-type embeddings.
        use_time_gaps: Add embeddings of the log-scaled time since the previous event.
        use_categories: Add each item's category embeddings to its vector (input and output);
            needs an item table with categories (see ``data.category_column``).
        use_output_transform: Dense + activation + LayerNorm before scoring.
        norm_first: Transformers: pre-LayerNorm blocks and a final LayerNorm (the original
            SASRec's) instead of BERT's post-LayerNorm layers.
        initializer_range: Std of the normal initialisation.
        loss: ``ce`` (full softmax), ``sampled_softmax`` (logQ-corrected) or ``gbce``.
        num_negatives: Negatives per batch for the sampled losses.
        negative_sampling: ``uniform``, ``popularity`` or ``in-batch``.
        gbce_t: Calibration of gBCE (0: plain BCE, 1: fully calibrated).
        embedding_size: Recurrent models: item embedding width (default ``hidden_size``).
        use_output_projection: Recurrent models: dense map of the state to the embedding width.
        attention_type: ``lstm_attention``: ``additive`` or ``dot`` attention pooling.
    """

    model_type: str = "bert4rec"
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 256
    hidden_dropout_prob: float = 0.2
    attention_probs_dropout_prob: float = 0.2
    use_event_types: bool = True
    use_time_gaps: bool = False
    use_categories: bool = False
    use_output_transform: bool | None = None
    norm_first: bool | None = None
    initializer_range: float = 0.02
    loss: str = "ce"
    num_negatives: int = 256
    negative_sampling: str = "uniform"
    gbce_t: float = 0.75
    embedding_size: int | None = None
    use_output_projection: bool | None = None
    attention_type: str | None = None


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
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output_dir, self.name)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "<dict>") -> RunConfig:
        """Build from a nested dict, rejecting unknown sections and keys."""
        sections = {f.name: f for f in dataclasses.fields(cls)}
        raw = _upgrade(raw)
        values: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            if key not in sections:
                raise ConfigError(f"{source}: unknown key '{key}'; expected one of "
                                  f"{sorted(sections)}")
            section_type = _SECTIONS.get(key)
            if section_type is None:
                values[key] = value
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section '{key}' must be a mapping")
            known = {f.name for f in dataclasses.fields(section_type)}
            unknown = set(value) - known
            if unknown:
                raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)} in section "
                                  f"'{key}'; expected some of {sorted(known)}")
            values[key] = section_type(**value)
        config = cls(**values)
        _check_counts(config.training, source)
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
        """Load a YAML config and apply ``section.key=value`` overrides (values parsed as YAML).

        Raises:
            ConfigError: unreadable YAML, unknown keys, or a malformed override.
        """
        try:
            with open(path, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle) or {}
        except FileNotFoundError as err:
            raise ConfigError(f"{path}: config file not found") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: invalid YAML: {err}") from err
        for override in overrides or []:
            apply_override(raw, override)
        return cls.from_dict(raw, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Training fields that count something and must be at least 1.
_POSITIVE_COUNTS = ("epochs", "batch_size", "eval_every", "gradient_accumulation_steps")


def _check_counts(training: TrainingConfig, source: str) -> None:
    """Reject counts below 1 (``training.epochs: 0`` would train nothing and save no model)."""
    for name in _POSITIVE_COUNTS:
        value = getattr(training, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{source}: training.{name} must be an integer of at least 1, "
                              f"got {value!r}")


_SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "evaluation": EvaluationConfig,
}


def _upgrade(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Read configs of earlier versions: ``data.collapse_repeats`` is now under
    ``data.preprocess``."""
    raw = dict(raw or {})
    data = raw.get("data")
    if isinstance(data, dict) and "collapse_repeats" in data:
        data = dict(data)
        preprocess = dict(data.get("preprocess") or {})
        preprocess.setdefault("collapse_repeats", data.pop("collapse_repeats"))
        data["preprocess"] = preprocess
        raw["data"] = data
    return raw


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``raw[section][key] = value`` from ``"section.key=value"`` (value parsed as YAML)."""
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like section.key=value")
    dotted, text = override.split("=", 1)
    keys = dotted.strip().split(".")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{override}': '{key}' is not a section")
    node[keys[-1]] = yaml.safe_load(text)
