"""Fine-tune a pretrained sequence encoder for purchase, next-event or churn prediction.

The pipeline:

1. Read the pretrained run's ``run_config.yaml``. Its data must end before the task's cutoff
   (``data.preprocess.end``): an encoder that saw events of the label window would leak them.
   The default cutoff *is* that end.
2. Load the same source without the ``end`` bound and build the task's examples
   (:mod:`recsft.tasks.labels`): histories strictly before the cutoff, labels after it.
3. Split the users (stratified by label, seeded) into train / valid / test.
4. Train :class:`~recsft.tasks.classifier.SequenceClassifier` with Accelerate: the pretrained
   encoder (``init="pretrained"``) or the same architecture freshly initialised
   (``init="scratch"``), frozen or with its own learning rate; early stopping on validation
   log loss; the best epoch's weights kept.
5. Score the test users; the same splits feed the baselines (:mod:`recsft.tasks.baselines`).

Example:
    >>> config = FinetuneConfig(pretrained="runs/demo-pretrain",
    ...                         task=TaskConfig(task="churn", horizon_days=7))
    >>> result = finetune(config)
    >>> result["methods"]["pretrained"]["test"]["roc_auc"]
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsft import progress
from recsft.tasks.labels import TaskConfig, TaskExamples

__all__ = ["FinetuneConfig", "finetune", "split_examples", "subsample", "task_data", "INITS"]

INITS: tuple[str, ...] = ("pretrained", "scratch")


@dataclass
class FinetuneConfig:
    """One fine-tuning run.

    Attributes:
        pretrained: The pretrained run folder (encoder, tokenizer, data config).
        task: What to predict (:class:`~recsft.tasks.labels.TaskConfig`).
        init: ``pretrained`` weights or ``scratch`` (same architecture, random init).
        pooling: ``mean`` (default), ``query`` or ``attention``
            (:mod:`recsft.tasks.classifier`). The pretrained ``query`` vector answers "which
            item next" and drops what the tasks here depend on (activity and timing): frozen,
            it scored below random features on synthetic churn (``docs/tasks.md``).
        freeze_encoder: Train only the head (and attention pooling).
        encoder_learning_rate: Learning rate of the encoder's weights.
        head_learning_rate: Learning rate of the head.
        weight_decay: AdamW weight decay.
        dropout: Dropout before the head.
        epochs: Most epochs.
        patience: Epochs without a better validation log loss before stopping.
        batch_size: Users per step.
        train_fraction: Share of the training users whose labels are used (label
            efficiency: pretraining should matter most with few labels).
        valid_fraction: Share of users for validation.
        test_fraction: Share of users for test.
        seed: Seed of the split, the initialisation and the batches.
        n_resamples: Bootstrap resamples of the test confidence intervals.
    """

    pretrained: str
    task: TaskConfig = field(default_factory=TaskConfig)
    init: str = "pretrained"
    pooling: str = "mean"
    freeze_encoder: bool = False
    encoder_learning_rate: float = 3e-4
    head_learning_rate: float = 3e-3
    weight_decay: float = 0.01
    dropout: float = 0.1
    epochs: int = 30
    patience: int = 4
    batch_size: int = 128
    train_fraction: float = 1.0
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42
    n_resamples: int = 1000

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose one of {list(INITS)}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 < self.valid_fraction + self.test_fraction < 1:
            raise ValueError("valid_fraction + test_fraction must lie strictly between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_examples(examples: TaskExamples, valid_fraction: float, test_fraction: float,
                   seed: int) -> tuple[TaskExamples, TaskExamples, TaskExamples]:
    """Users split train / valid / test, stratified by label (each class split alike)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for label in np.unique(examples.labels):
        rows = rng.permutation(np.flatnonzero(examples.labels == label))
        n_test = int(round(test_fraction * rows.size))
        n_valid = int(round(valid_fraction * rows.size))
        parts[2] += rows[:n_test].tolist()
        parts[1] += rows[n_test:n_test + n_valid].tolist()
        parts[0] += rows[n_test + n_valid:].tolist()
    return tuple(examples.subset(np.sort(part)) for part in parts)  # type: ignore[return-value]


def subsample(examples: TaskExamples, fraction: float, seed: int) -> TaskExamples:
    """A stratified ``fraction`` of the examples (at least one per class)."""
    rng = np.random.default_rng([seed, 1])
    keep = []
    for label in np.unique(examples.labels):
        rows = np.flatnonzero(examples.labels == label)
        keep += rng.choice(rows, max(1, int(round(fraction * rows.size))), replace=False).tolist()
    return examples.subset(np.sort(keep))


def task_data(config: FinetuneConfig) -> tuple[Any, TaskExamples, dict[str, Any]]:
    """The pretrained run config, the task's examples and a record of the data.

    Raises:
        ValueError: the pretrained run's data reaches into the label window (leakage).
    """
    from recsft.runs import Run
    from recsft.tasks.labels import make_examples, resolve_cutoff

    opened = Run.open(config.pretrained)
    run = opened.config
    data = copy.deepcopy(run.data)
    end = data.preprocess.pop("end", None)
    # The labels come after the pretraining data ends: the source read without that end.
    log = opened.events(data)
    task = config.task
    if task.cutoff is None and end is not None:
        task = dataclasses.replace(task, cutoff=end)
    cutoff = resolve_cutoff(log, task)
    seen_until = None if end is None else resolve_cutoff(
        log, dataclasses.replace(task, cutoff=end))
    if seen_until is None or seen_until > cutoff:
        raise ValueError(
            f"{config.pretrained} was pretrained on events up to "
            f"{'the end of the log' if end is None else end}, past the task's cutoff {cutoff}: "
            "the encoder would have seen the label window. Pretrain with "
            f"data.preprocess.end: {cutoff} (or later cutoff for the task)")
    examples = make_examples(log, dataclasses.replace(task, cutoff=cutoff))
    record = {"source": log.source, **log.stats(), "pretraining_end": seen_until,
              **examples.describe()}
    return run, examples, record


def _encode(tokenizer: Any, model_config: Any, examples: TaskExamples) -> dict[str, Any]:
    """``(n, L)`` token tensors of the histories as the encoder reads a next-item query
    (:func:`recsft.scoring.inputs.model_inputs`: the newest events of its window, ``[MASK]``
    appended where it uses one, unknown items read as ``[UNK]``)."""
    from recsft.scoring.inputs import model_inputs

    return model_inputs(tokenizer, model_config, examples.items, examples.event_types,
                        examples.timestamps or None)


def _encoder(run_dir: str, init: str, seed: int) -> Any:
    """The run's model with its weights, or the same architecture freshly initialised."""
    import copy

    import torch

    from recsft.runs import Run

    pretrained = Run.open(run_dir).model()
    if init == "pretrained":
        return pretrained
    torch.manual_seed(seed)
    fresh = type(pretrained)(copy.deepcopy(pretrained.config))
    # Buffers (the item → category table) are data, not learned: keep them.
    buffers = {name: value for name, value in pretrained.named_buffers()}
    fresh.load_state_dict(buffers, strict=False)
    return fresh


def _probabilities(model: Any, batch: dict[str, Any], batch_size: int,
                   accelerator: Any) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, batch["input_ids"].shape[0], batch_size):
            part = {k: v[start:start + batch_size].to(accelerator.device)
                    for k, v in batch.items()}
            out.append(torch.softmax(model(**part)["logits"].float(), dim=-1).cpu())
    return torch.cat(out).numpy().astype(np.float64)


def train_classifier(config: FinetuneConfig, splits: tuple[TaskExamples, ...],
                     log_path: str | None = None) -> dict[str, Any]:
    """Train one classifier; validation and test probabilities and the training history.

    The histories become inputs as the encoder reads a next-item query, by its own config
    (:func:`recsft.scoring.inputs.model_inputs`).

    Returns:
        ``{"valid": (n, c), "test": (n, c), "history": [...], "best_epoch", "seconds",
        "model"}``.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from recsft.runs import Run
    from recsft.tasks.classifier import SequenceClassifier

    started = time.perf_counter()
    set_seed(config.seed)
    train, valid, test = splits
    tokenizer = Run.open(config.pretrained).tokenizer
    encoder = _encoder(config.pretrained, config.init, config.seed)
    encoded = [_encode(tokenizer, encoder.config, split) for split in splits]
    model = SequenceClassifier(encoder, len(train.classes), config.pooling, config.dropout)
    groups = [{"params": model.head_parameters(), "lr": config.head_learning_rate}]
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
    else:
        groups.append({"params": list(model.encoder.parameters()),
                       "lr": config.encoder_learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    accelerator = Accelerator()
    model, optimizer = accelerator.prepare(model, optimizer)
    labels = torch.from_numpy(train.labels)
    generator = torch.Generator().manual_seed(config.seed)
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    history = []
    per_epoch = -(-len(train) // config.batch_size)
    # One bar over every epoch's batches: its ETA is that of all epochs (early stopping may
    # end sooner); the validation passes count in its average rate.
    bar = progress.bar(total=per_epoch * config.epochs, unit="batch", smoothing=0.0,
                       desc=f"{config.init}: epoch 1/{config.epochs}",
                       main_process=accelerator.is_local_main_process)
    for epoch in range(1, config.epochs + 1):
        bar.set_description_str(f"{config.init}: epoch {epoch}/{config.epochs}")
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        for start in range(0, len(train), config.batch_size):
            rows = order[start:start + config.batch_size]
            batch = {k: v[rows].to(accelerator.device) for k, v in encoded[0].items()}
            loss = model(**batch, labels=labels[rows].to(accelerator.device))["loss"]
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            total += loss.detach().item() * rows.numel()
            bar.update()
        probabilities = _probabilities(model, encoded[1], 512, accelerator)
        picked = probabilities[np.arange(len(valid)), valid.labels]
        valid_loss = float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))
        history.append({"epoch": epoch, "train_loss": total / len(train),
                        "valid_log_loss": valid_loss})
        if log_path:
            import json

            with open(log_path, "a") as handle:
                handle.write(json.dumps({"init": config.init, **history[-1]}) + "\n")
        bar.set_postfix_str(f"valid log loss {valid_loss:.4f}", refresh=False)
        if valid_loss < best_loss - 1e-5:
            best_loss, best_epoch, stale = valid_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in
                          accelerator.unwrap_model(model).state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    progress.note(f"{config.init}: best valid log loss {best_loss:.4f} at epoch {best_epoch} "
                  f"of {len(history)} ({progress.format_duration(time.perf_counter() - started)})",
                  main_process=accelerator.is_main_process)
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.load_state_dict(best_state)
    return {"valid": _probabilities(model, encoded[1], 512, accelerator),
            "test": _probabilities(model, encoded[2], 512, accelerator),
            "history": history, "best_epoch": best_epoch,
            "seconds": round(time.perf_counter() - started, 2), "model": unwrapped}


def _scored(valid_p: np.ndarray, test_p: np.ndarray, splits: tuple[TaskExamples, ...],
            n_resamples: int, seed: int) -> dict[str, Any]:
    from recsft.tasks.scoring import best_threshold, bootstrap_intervals, task_metrics

    _, valid, test = splits
    binary = valid_p.shape[1] == 2
    threshold = best_threshold(valid_p, valid.labels) if binary else None
    return {"threshold": threshold,
            "valid": task_metrics(valid_p, valid.labels, threshold),
            "test": task_metrics(test_p, test.labels, threshold),
            "intervals": bootstrap_intervals(test_p, test.labels, threshold, n_resamples, seed)}


def finetune(config: FinetuneConfig, output_dir: str | None = None,
             methods: tuple[str, ...] = ("pretrained", "scratch", "logistic_regression",
                                         "history_length", "most_frequent")
             ) -> dict[str, Any]:
    """Fine-tune and compare methods on one task, same users, same splits.

    Args:
        config: The fine-tuning config (its ``init`` is overridden per neural method).
        output_dir: Folder for ``metrics.json``, ``training_log.jsonl`` and the best
            pretrained-init classifier (encoder + ``head.safetensors`` + ``task.json``).
        methods: Any of ``pretrained``, ``scratch``, ``logistic_regression``,
            ``history_length`` (logistic regression on the history length alone),
            ``most_frequent``.

    Returns:
        The record written to ``metrics.json``.
    """
    from recsft.environment import environment
    from recsft.tasks.baselines import logistic_regression, most_frequent

    progress.note(f"reading {config.pretrained}'s events and the {config.task.task} labels")
    _, examples, data_record = task_data(config)
    splits = split_examples(examples, config.valid_fraction, config.test_fraction, config.seed)
    if config.train_fraction < 1:
        splits = (subsample(splits[0], config.train_fraction, config.seed), *splits[1:])
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    log_path = os.path.join(output_dir, "training_log.jsonl") if output_dir else None
    if log_path and os.path.exists(log_path):
        os.remove(log_path)
    record: dict[str, Any] = {
        "data": data_record,
        "splits": {name: {"users": len(part), "classes": part.class_counts()}
                   for name, part in zip(("train", "valid", "test"), splits)},
        "config": config.to_dict(), "methods": {}, "environment": environment(),
    }
    sizes = ", ".join(f"{len(part):,} {name}"
                      for name, part in zip(("train", "valid", "test"), splits))
    progress.note(f"{len(examples):,} users ({sizes}); {len(methods)} method(s)")
    for number, method in enumerate(methods, start=1):
        progress.note(f"method {number}/{len(methods)}: {method}")
        if method in INITS:
            trained = train_classifier(dataclasses.replace(config, init=method), splits,
                                       log_path)
            record["methods"][method] = {
                **_scored(trained["valid"], trained["test"], splits, config.n_resamples,
                          config.seed),
                "best_epoch": trained["best_epoch"], "seconds": trained["seconds"],
                "history": trained["history"]}
            if method == "pretrained" and output_dir:
                trained["model"].save_pretrained(output_dir, {
                    "task": config.task.to_dict(), "classes": examples.classes,
                    "pretrained": config.pretrained})
        elif method in ("logistic_regression", "history_length"):
            fitted = logistic_regression(*splits, seed=config.seed,
                                         length_only=method == "history_length")
            record["methods"][method] = {
                **_scored(fitted["valid"], fitted["test"], splits, config.n_resamples,
                          config.seed), "C": fitted["C"]}
        elif method == "most_frequent":
            record["methods"][method] = _scored(
                most_frequent(splits[0], len(splits[1])), most_frequent(splits[0], len(splits[2])),
                splits, config.n_resamples, config.seed)
        else:
            raise ValueError(f"unknown method {method!r}")
    if output_dir:
        import json

        from recsft.fileio import atomic_write_text

        atomic_write_text(os.path.join(output_dir, "metrics.json"),
                          json.dumps(record, indent=2, default=float))
    return record
