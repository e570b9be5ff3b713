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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import get_scheduler

from recsft import progress
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
        stopped_by_callback: ``on_validation`` asked the loop to stop (e.g. a pruned tuning
            trial), at epoch :attr:`epochs_run`.
    """

    best_metric: float = -math.inf
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    epochs_run: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from: str | None = None
    stopped_by_callback: bool = False


#: ``on_validation(epoch, metrics) -> stop``: called after each validation with the epoch
#: (1-based) and its validation metrics; ``True`` ends the training after this epoch.
ValidationCallback = Callable[[int, dict[str, float]], bool]


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
    #: With ``training.stopping_smoothing``: the moving average of the validation curve and
    #: its best value (``waited`` then counts validations since that best).
    smoothed: float | None = None
    best_smoothed: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_loss: float = 0.0
    epoch_batches: int = 0

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def build_optimizer(model: torch.nn.Module, args: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW: ``weight_decay`` on the weight matrices, ``embedding_weight_decay`` on the
    embedding tables (every ``nn.Embedding``), none on biases, LayerNorms and the rest of the
    embedding module (e.g. a text adaptor inside it).

    Without embedding decay the tables join the undecayed group: two groups, as checkpoints
    written before the setting existed hold, so they still resume."""
    tables = set()
    if args.embedding_weight_decay:
        tables = {id(module.weight) for module in model.modules()
                  if isinstance(module, torch.nn.Embedding)}
    decay, embedding, no_decay = [], [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if id(param) in tables:
            embedding.append(param)
        elif param.ndim < 2 or "LayerNorm" in name or "embeddings" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [{"params": decay, "weight_decay": args.weight_decay}]
    if embedding:
        groups.append({"params": embedding, "weight_decay": args.embedding_weight_decay})
    groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=args.learning_rate)


def smoothed_improvement(state: LoopState, value: float, smoothing: float) -> bool:
    """Update the moving average of the validation curve; did it reach a new best?

    Args:
        state: The loop state (``smoothed``, ``best_smoothed`` are updated).
        value: This validation's ``metric_for_best``.
        smoothing: ``training.stopping_smoothing`` ``b``: ``s = b * s + (1 - b) * value``.
    """
    state.smoothed = value if state.smoothed is None else (
        smoothing * state.smoothed + (1 - smoothing) * value)
    if state.smoothed > state.best_smoothed:
        state.best_smoothed = state.smoothed
        return True
    return False


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
    frozen: Sequence[torch.nn.Parameter] = (),
    on_validation: ValidationCallback | None = None,
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
        frozen: Parameters left unchanged during the first ``args.freeze_epochs`` epochs (the
            weights ``training.init_from`` copied): their gradients are dropped before each
            optimizer step, so AdamW neither moves nor decays them (the same on every process).
        on_validation: Called after each validation (:data:`ValidationCallback`); when it
            returns ``True`` the loop stops after this epoch as early stopping does, and
            :attr:`FitResult.stopped_by_callback` says so (a pruned tuning trial).

    Returns:
        The :class:`FitResult`. With ``args.epochs == 0`` (zero-shot transfer) the model is
        validated once as it is and that state is the best one.
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
    # One bar for the whole training ("epoch k/N", its ETA that of every epoch left: an upper
    # bound when early stopping ends it sooner); its average rate counts validation pauses.
    per_epoch = len(train_loader)
    done_before = (state.epoch - 1) * per_epoch + state.step_in_epoch
    batches_left, batches_run = per_epoch * args.epochs - done_before, 0
    bar = progress.bar(total=per_epoch * args.epochs, initial=done_before, unit="batch",
                       desc=f"epoch {state.epoch}/{args.epochs}", smoothing=0.0,
                       main_process=accelerator.is_local_main_process)
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
        bar.set_description_str(f"epoch {epoch}/{args.epochs}")
        for batch in loader:
            if batch_transform is not None:
                batch = batch_transform(batch)
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if frozen and epoch <= args.freeze_epochs:
                    for param in frozen:
                        param.grad = None
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
            bar.set_postfix_str(f"loss {state.epoch_loss / state.epoch_batches:.3f}, "
                                f"{rate:,.0f} seq/s", refresh=False)
            bar.update()
            batches_run += 1
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
        improved = False
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            valid = evaluator.evaluate_model(model, accelerator)
            record["valid"] = valid
            value = valid[args.metric_for_best]
            if value > state.best_metric:
                improved = True
                state.best_metric, state.best_epoch, state.best_valid = value, epoch, valid
                unwrapped = accelerator.unwrap_model(model)
                result.best_state = {
                    k: v.detach().cpu().clone() for k, v in unwrapped.state_dict().items()
                }
                if save_best is not None and accelerator.is_main_process:
                    save_best(unwrapped)
            rising = improved
            if args.stopping_smoothing:
                rising = smoothed_improvement(state, value, args.stopping_smoothing)
                record["valid_smoothed"] = state.smoothed
            state.waited = 0 if rising else state.waited + 1
        state.history.append(record)
        accelerator.log(tracker_values(record), step=state.global_step)
        stopping = bool(args.patience and state.waited >= args.patience)
        if on_validation is not None and "valid" in record and on_validation(epoch,
                                                                              record["valid"]):
            stopping = result.stopped_by_callback = True
        if accelerator.is_main_process:
            left = 0.0 if stopping or epoch == args.epochs else progress.remaining(
                time.perf_counter() - start, batches_run, batches_left)
            progress.note(epoch_line(record, args.epochs, args.metric_for_best, improved, left))
            _log_epoch(record, log_path)
        state.epoch += 1
        state.step_in_epoch, state.epoch_loss, state.epoch_batches = 0, 0.0, 0
        if result.stopped_by_callback:
            progress.note(f"stopped at epoch {epoch} by the validation callback",
                          main_process=accelerator.is_main_process)
            break
        if stopping:
            curve = " (smoothed)" if args.stopping_smoothing else ""
            progress.note(f"stopped early: {args.metric_for_best}{curve} has not improved for "
                          f"{state.waited} validations; best {state.best_metric:.4f} at epoch "
                          f"{state.best_epoch}", main_process=accelerator.is_main_process)
            break
    bar.close()
    if args.epochs == 0:  # zero-shot: the initialised model as it is
        state.best_valid = evaluator.evaluate_model(model, accelerator)
        state.best_metric = state.best_valid[args.metric_for_best]
        unwrapped = accelerator.unwrap_model(model)
        result.best_state = {k: v.detach().cpu().clone()
                             for k, v in unwrapped.state_dict().items()}
        if save_best is not None and accelerator.is_main_process:
            save_best(unwrapped)
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


def epoch_line(record: dict[str, Any], epochs: int, metric: str, improved: bool,
               left: float) -> str:
    """One epoch in one line: ``epoch  4/60  loss 5.8312  1,204 seq/s  valid ndcg@10 0.0412
    (best)  eta 3m10s``; the ETA (``left`` seconds, every epoch left) is left out at the end."""
    width = len(str(epochs))
    line = (f"epoch {record['epoch']:>{width}}/{epochs}  loss {record['loss']:.4f}  "
            f"{record['sequences_per_second']:,.0f} seq/s")
    valid = record.get("valid")
    if valid:
        line += f"  valid {metric} {valid[metric]:.4f}" + (" (best)" if improved else "")
    if left > 0:
        line += f"  eta {progress.format_duration(left)}"
    return line


def _log_epoch(record: dict[str, Any], log_path: str | None) -> None:
    if log_path:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
