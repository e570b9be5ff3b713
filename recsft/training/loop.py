"""The training loop on Accelerate: one CPU, one GPU or many processes, the same code.

It follows the shape of accelerate's ``examples/nlp_example.py``: ``prepare``, ``backward``,
``gather_for_metrics`` (inside the evaluator), early stopping on the validation metric and the
best checkpoint saved with ``save_pretrained``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from recsft.evaluation.ranking import RankingEvaluator
from recsft.training.arguments import TrainingConfig


@dataclass
class FitResult:
    """What the loop reports.

    Attributes:
        best_metric: Best validation value of ``metric_for_best``.
        best_epoch: Epoch (1-based) of the best validation.
        best_valid: All validation metrics at the best epoch.
        epochs_run: Epochs completed.
        train_seconds: Wall time of the loop.
        history: One record per epoch (loss, throughput, validation metrics).
        best_state: The best weights (CPU tensors), to evaluate on the test set.
    """

    best_metric: float = -math.inf
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    epochs_run: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None


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
) -> FitResult:
    """Train with the masked-item loss, validate every ``eval_every`` epochs, stop early.

    Args:
        model: A model whose forward returns ``.loss`` given a batch with ``labels``.
        train_loader: Training batches (not yet prepared).
        evaluator: Validation evaluator (full ranking).
        args: Optimisation settings.
        accelerator: The Accelerate handle.
        save_best: Called on the main process with the unwrapped model at each improvement.
        log_path: JSON-lines file receiving one record per epoch (main process).

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
    model, optimizer, train_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, scheduler
    )
    result = FitResult()
    waited = 0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        epoch_start, total_loss, batches, sequences = time.perf_counter(), 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}", leave=False,
                   disable=not accelerator.is_local_main_process)
        for batch in bar:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if args.max_grad_norm > 0 and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            total_loss += loss.item()
            batches += 1
            sequences += batch["input_ids"].shape[0] * accelerator.num_processes
            rate = sequences / (time.perf_counter() - epoch_start)
            bar.set_postfix(loss=f"{total_loss / batches:.3f}", seq_s=f"{rate:.0f}")
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": total_loss / max(batches, 1),
            "sequences_per_second": sequences / (time.perf_counter() - epoch_start),
            "learning_rate": scheduler.get_last_lr()[0],
        }
        result.epochs_run = epoch
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            valid = evaluator.evaluate_model(model, accelerator)
            record["valid"] = valid
            value = valid[args.metric_for_best]
            if value > result.best_metric:
                result.best_metric, result.best_epoch, result.best_valid = value, epoch, valid
                unwrapped = accelerator.unwrap_model(model)
                result.best_state = {
                    k: v.detach().cpu().clone() for k, v in unwrapped.state_dict().items()
                }
                if save_best is not None and accelerator.is_main_process:
                    save_best(unwrapped)
                waited = 0
            else:
                waited += 1
        result.history.append(record)
        if accelerator.is_main_process:
            _log_epoch(record, args.metric_for_best, log_path)
        if args.patience and waited >= args.patience:
            break
    accelerator.wait_for_everyone()
    result.train_seconds = time.perf_counter() - start
    return result


def _log_epoch(record: dict[str, Any], metric: str, log_path: str | None) -> None:
    valid = record.get("valid")
    shown = f"  valid {metric} {valid[metric]:.4f}" if valid else ""
    tqdm.write(
        f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
        f"{record['sequences_per_second']:.0f} seq/s{shown}"
    )
    if log_path:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
