"""The training loop on Accelerate: one CPU, one GPU or many processes, the same code.

It follows the shape of accelerate's ``examples/nlp_example.py``: ``prepare``, ``backward``,
``gather_for_metrics`` (inside the evaluator), early stopping on the validation metric and the
best checkpoint saved with ``save_pretrained``. With ``save_every_steps`` it writes checkpoints
(model, optimizer, scheduler, random states and the loop's own state, as safetensors and JSON:
:mod:`recsft.training.checkpoint`) that ``resume=True`` continues from, mid-epoch included: the
resumed run makes the same batches, masks and updates as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from recsft.config import TrainingConfig
from recsft.evaluation.ranking import RankingEvaluator
from recsft.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


@dataclass
class FitResult:
    """What the loop reports.

    Attributes:
        best_metric: Best validation value of ``metric_for_best``.
        best_epoch: Epoch (1-based) of the best validation.
        best_valid: All validation metrics at the best epoch.
        epochs_run: Epochs completed.
        train_seconds: Wall time of the loop (this process's part when resumed).
        history: One record per epoch (loss, throughput, validation metrics).
        best_state: The best weights (CPU tensors), to evaluate on the test set.
        resumed_from: The checkpoint the run continued from, if any.
    """

    best_metric: float = -math.inf
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    epochs_run: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from: str | None = None


@dataclass
class LoopState:
    """The loop's position and early-stopping record, saved inside every checkpoint."""

    epoch: int = 1
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    waited: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_loss: float = 0.0
    epoch_batches: int = 0

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def build_optimizer(model: torch.nn.Module, args: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on weight matrices only (not biases, LayerNorms, embeddings)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim < 2 or "LayerNorm" in name or "embeddings" in name
        (no_decay if skip else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": args.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate)


def fit(
    model: torch.nn.Module,
    train_loader: DataLoader,
    evaluator: RankingEvaluator,
    args: TrainingConfig,
    accelerator: Accelerator,
    save_best: Callable[[torch.nn.Module], None] | None = None,
    log_path: str | None = None,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    load_best: Callable[[], dict[str, torch.Tensor]] | None = None,
    batch_transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> FitResult:
    """Train, validate every ``eval_every`` epochs, stop early, checkpoint and resume.

    Args:
        model: A model whose forward returns ``.loss`` given a batch with ``labels``.
        train_loader: Training batches (not yet prepared); its batch sampler must have
            ``set_epoch`` (the epoch fixes the order, so a resumed epoch repeats it).
        evaluator: Validation evaluator (full ranking).
        args: Optimisation settings.
        accelerator: The Accelerate handle.
        save_best: Called on the main process with the unwrapped model at each improvement.
        log_path: JSON-lines file receiving one record per epoch (main process).
        checkpoint_dir: Folder of ``step-N`` checkpoints (``args.save_every_steps``).
        resume: Continue from the newest checkpoint in ``checkpoint_dir``.
        load_best: Returns the best weights saved so far (used when resuming).
        batch_transform: Applied to each batch before the forward pass (the random Cloze
            masking: done here, not in the data loader, so that checkpoints capture it).

    Returns:
        The :class:`FitResult`.
    """
    optimizer = build_optimizer(model, args)
    # Counted on the loader before sharding: Accelerate steps a prepared scheduler once per
    # process at every optimizer step.
    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    total_steps = max(1, steps_per_epoch * args.epochs)
    scheduler = get_scheduler(
        args.scheduler if args.scheduler != "constant" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=int(args.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
    sampler = train_loader.batch_sampler
    model, optimizer, train_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, scheduler
    )
    state = LoopState()
    result = FitResult()
    if resume:
        checkpoint = latest_checkpoint(checkpoint_dir) if checkpoint_dir else None
        if checkpoint is None:
            raise FileNotFoundError(f"{checkpoint_dir}: no checkpoint to resume from")
        state.load_state_dict(load_checkpoint(accelerator, checkpoint, model, optimizer,
                                              scheduler, state.state_dict()))
        result.resumed_from = checkpoint
        if state.best_epoch and load_best is not None:
            result.best_state = load_best()
    start = time.perf_counter()
    while state.epoch <= args.epochs:
        epoch = state.epoch
        model.train()
        loader = (accelerator.skip_first_batches(train_loader, state.step_in_epoch)
                  if state.step_in_epoch else train_loader)
        # The batch order depends on the epoch only. Accelerate's loaders pass their own epoch
        # counter to the sampler when iterated, but not through every wrapper (the one
        # skip_first_batches makes, the per-process shards): set both, to the same value.
        loader.set_epoch(epoch)
        sampler.set_epoch(epoch)
        epoch_start, sequences, targets = time.perf_counter(), 0, 0
        # disable=None: no bar when the output is not a terminal (logs stay readable).
        bar = tqdm(loader, desc=f"epoch {epoch}", leave=False,
                   disable=None if accelerator.is_local_main_process else True)
        for batch in bar:
            if batch_transform is not None:
                batch = batch_transform(batch)
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if args.max_grad_norm > 0 and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.epoch_loss += loss.item()
            state.epoch_batches += 1
            if args.logging_steps and (state.global_step + 1) % args.logging_steps == 0:
                accelerator.log({"train/loss": loss.item(),
                                 "train/learning_rate": scheduler.get_last_lr()[0]},
                                step=state.global_step + 1)
            state.step_in_epoch += 1
            state.global_step += 1
            sequences += batch["input_ids"].shape[0] * accelerator.num_processes
            if "labels" in batch:
                targets += int((batch["labels"] != -100).sum()) * accelerator.num_processes
            rate = sequences / (time.perf_counter() - epoch_start)
            bar.set_postfix(loss=f"{state.epoch_loss / state.epoch_batches:.3f}",
                            seq_s=f"{rate:.0f}")
            if checkpoint_dir and args.save_every_steps and (
                state.global_step % args.save_every_steps == 0
            ):
                save_checkpoint(accelerator, checkpoint_dir, state.global_step,
                                args.save_total_limit, model, optimizer, scheduler,
                                state.state_dict())
        seconds = time.perf_counter() - epoch_start
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": state.epoch_loss / max(state.epoch_batches, 1),
            "sequences_per_second": sequences / seconds,
            "learning_rate": scheduler.get_last_lr()[0],
            # Training work of the epoch (a resumed epoch counts only what it ran).
            "epoch_seconds": seconds, "sequences": sequences, "targets": targets,
        }
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            valid = evaluator.evaluate_model(model, accelerator)
            record["valid"] = valid
            value = valid[args.metric_for_best]
            if value > state.best_metric:
                state.best_metric, state.best_epoch, state.best_valid = value, epoch, valid
                unwrapped = accelerator.unwrap_model(model)
                result.best_state = {
                    k: v.detach().cpu().clone() for k, v in unwrapped.state_dict().items()
                }
                if save_best is not None and accelerator.is_main_process:
                    save_best(unwrapped)
                state.waited = 0
            else:
                state.waited += 1
        state.history.append(record)
        accelerator.log(tracker_values(record), step=state.global_step)
        if accelerator.is_main_process:
            _log_epoch(record, args.metric_for_best, log_path)
        state.epoch += 1
        state.step_in_epoch, state.epoch_loss, state.epoch_batches = 0, 0.0, 0
        if args.patience and state.waited >= args.patience:
            break
    accelerator.wait_for_everyone()
    result.best_metric, result.best_epoch = state.best_metric, state.best_epoch
    result.best_valid, result.history = state.best_valid, state.history
    result.epochs_run = state.epoch - 1
    result.train_seconds = time.perf_counter() - start
    return result


def tracker_values(record: dict[str, Any]) -> dict[str, float]:
    """An epoch record as flat tracker scalars: ``epoch/loss``, ``valid/ndcg@10``, ..."""
    values = {f"epoch/{k}": float(v) for k, v in record.items() if k != "valid"}
    values.update({f"valid/{k}": float(v) for k, v in (record.get("valid") or {}).items()})
    return values


def _log_epoch(record: dict[str, Any], metric: str, log_path: str | None) -> None:
    valid = record.get("valid")
    shown = f"  valid {metric} {valid[metric]:.4f}" if valid else ""
    # stderr, with the progress bar: stdout stays for results (``--json`` output).
    tqdm.write(
        f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
        f"{record['sequences_per_second']:.0f} seq/s{shown}",
        file=sys.stderr,
    )
    if log_path:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
