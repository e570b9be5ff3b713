"""Training as named steps: prepare_data → create_model → fit → evaluate → write the run.

``recsft train`` and ``accelerate launch scripts/finetune.py`` both call :func:`run_training`.
Everything that reads a saved run (evaluation, transitions, comparison, the recommender) lives
in :mod:`recsft.runs`.

Where it writes (see :mod:`recsft.runs.guard`): the run is built in
``<output_dir>/.<name>.partial`` under a lock and renamed to ``<output_dir>/<name>`` with its
manifest once complete; an existing run is replaced only with ``overwrite``, and then only at
that moment.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft import progress
from recsft.data.events import EventLog
from recsft.data.readers.lines import clip
from recsft.data.split import SequenceSplits, sample_users, sliding_windows
from recsft.runs.data import (
    build_evaluator,
    catalogue,
    cold_start_baselines,
    cold_start_record,
    content_baselines,
    load_log,
    save_cold_items,
    split_log,
    token_categories,
    train_item_counts,
)
from recsft.tokenization import BehaviorTokenizer

if TYPE_CHECKING:
    from recsft.config import RunConfig
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.text.vectors import TokenTexts
    from recsft.training.transfer import WarmStart


@dataclass
class PreparedData:
    """Everything the model needs from the data.

    Attributes:
        log: The cleaned event log.
        splits: Leave-one-out splits.
        tokenizer: Tokenizer over the whole catalogue.
        train_dataset: ``datasets.Dataset`` with ``input_ids`` / ``token_type_ids`` per user.
        valid: Validation evaluator.
        test: Test evaluator.
        item_categories: ``(vocab_size, max_item_categories)`` category ids per token when the
            model uses categories (:func:`recsft.data.categories.category_table`), else ``None``.
        category_names: Name of category id ``i`` at ``i - 1``.
        model_config: The model's config class instance the data was encoded for
            (:func:`recsft.modeling.factory.model_config`).
        item_text: The items' text vectors in token order when the model reads text
            (``model.item_representation`` ``"text"`` / ``"id+text"``), else ``None``.
        warm: How ``training.init_from`` (a recsft run) initialises the model
            (:func:`recsft.training.transfer.warm_start`); with ``keep`` the tokenizer is the
            source run's, grown with the new items. ``None`` without a run source.
    """

    log: EventLog
    splits: SequenceSplits
    tokenizer: BehaviorTokenizer
    train_dataset: Any
    valid: RankingEvaluator
    test: RankingEvaluator
    item_categories: np.ndarray | None = None
    category_names: list[str] | None = None
    model_config: Any = None
    item_text: TokenTexts | None = None
    warm: WarmStart | None = None

    def dataset_record(self) -> dict[str, Any]:
        return {"source": self.log.source, **self.log.stats(), "steps": self.log.steps}


def prepare_data(config: RunConfig, tokenizer: BehaviorTokenizer | None = None,
                 log: EventLog | None = None) -> PreparedData:
    """Read, clean and split the events, build the tokenizer and the training dataset.

    With ``data.until`` the log ends there; with ``data.train_since`` only the users active
    since then train (plus ``training.replay_fraction`` of the others). With
    ``training.init_from`` a run of the same shop (``training.init_items`` ``keep`` /
    ``auto``), the tokenizer is the run's, grown with the new items.

    Args:
        config: The run config.
        tokenizer: Reuse this tokenizer instead of building one.
        log: Use these cleaned events instead of reading the config's source.
    """
    import datasets

    from recsft.data.window import window_line
    from recsft.modeling.factory import model_config
    from recsft.scoring.inputs import model_inputs
    from recsft.training.transfer import check_categories, grow_tokenizer, warm_start

    log = load_log(config, log)
    splits = split_log(config, log)
    if "training_window" in splits.metadata:
        progress.note(window_line(splits.metadata["training_window"]))
    elif config.training.replay_fraction:
        progress.note(f"training.replay_fraction {config.training.replay_fraction:g} is not "
                      "used: it replays users only with data.train_since (or in 'recsft "
                      "windows'); every training user trains")
    warm = warm_start(config)
    if tokenizer is None and warm is not None and warm.mode == "keep":
        tokenizer = grow_tokenizer(warm, log, catalogue(config, log))
    if tokenizer is None:
        tokenizer = BehaviorTokenizer.from_sequences(
            [catalogue(config, log)], event_types=log.frame["event_type"].unique().tolist()
        )
    if config.data.train_users != 1:
        # Popularity, the id mask and the baselines then count the users trained on only.
        import dataclasses

        from recsft.errors import RecsftError

        try:
            splits = dataclasses.replace(splits, train=sample_users(
                splits.train, config.data.train_users, config.data.split_seed))
        except ValueError as err:
            raise RecsftError(str(err)) from None
    train = splits.train
    if config.data.train_stride:
        train = sliding_windows(train, window=config.data.max_length,
                                stride=config.data.train_stride)
    table, names = item_categories(config, log, tokenizer)
    check_categories(warm, names)
    texts = item_text_vectors(config, tokenizer)
    model = model_config(config, tokenizer, table,
                         0 if texts is None else int(texts.vectors.shape[1]))
    # The one model-input rule; "train" keeps max_length + 1 events for causal models (they
    # predict every next item). Sequences without times hold an empty list of them.
    encoded = model_inputs(tokenizer, model, train.items, train.event_types,
                           train.timestamps or None, use="train", padding=False,
                           return_tensors=None)
    keep = [i for i, ids in enumerate(encoded["input_ids"]) if ids]
    train_dataset = datasets.Dataset.from_dict(
        {name: [column[i] for i in keep] for name, column in encoded.items()
         if name != "attention_mask"}
    )
    return PreparedData(
        log=log, splits=splits, tokenizer=tokenizer, train_dataset=train_dataset,
        valid=build_evaluator(config, splits.valid, tokenizer, splits.protocol, model),
        test=build_evaluator(config, splits.test, tokenizer, splits.protocol, model),
        item_categories=table, category_names=names, model_config=model, item_text=texts,
        warm=warm,
    )


def item_text_vectors(config: RunConfig, tokenizer: BehaviorTokenizer) -> TokenTexts | None:
    """The items' text vectors when ``model.item_representation`` reads text, else ``None``.

    Raises:
        RecsftError: no item table or template (``data.item_table`` / ``data.item_text``), an
            unreadable table, or an encoder that cannot be loaded.
    """
    representation = config.model.resolved().get("item_representation", "id")
    if representation == "id":
        return None
    from recsft.text.vectors import TokenTexts

    return TokenTexts.from_config(config.data, tokenizer.item_ids,
                                  purpose=f"model.item_representation {representation}")


def item_categories(config: RunConfig, log: EventLog, tokenizer: BehaviorTokenizer
                    ) -> tuple[np.ndarray | None, list[str] | None]:
    """The token → categories table when ``model.use_categories``, else ``(None, None)``.

    Raises:
        RecsftError: categories are asked for but the source has no item table or no category
            column.
    """
    if not config.model.use_categories:
        return None, None
    return token_categories(config, log, tokenizer)


def item_counts(prepared: PreparedData) -> np.ndarray:
    """Training interactions per item index ``(num_items,)``, for the most-popular baseline."""
    return train_item_counts(prepared.splits.train.items, prepared.tokenizer)


def check_model_memory(config: RunConfig, prepared: PreparedData, num_processes: int) -> None:
    """Refuse before allocation a model that will not fit (:mod:`recsft.training.memory`).

    The parameters are counted on a model built on PyTorch's ``meta`` device.
    """
    import torch

    from recsft.modeling.factory import model_classes
    from recsft.training.memory import check_memory, estimate_memory

    model = prepared.model_config
    _, model_class = model_classes(config.model.model_type)
    with torch.device("meta"):
        shell = model_class(model)
    parameters = sum(p.numel() for p in shell.parameters())
    check_memory(estimate_memory(
        parameters, prepared.tokenizer.num_items, int(model.hidden_size),
        int(getattr(model, "num_hidden_layers", 1)),
        max(config.training.batch_size // max(num_processes, 1), 1), config.data.max_length,
        config.evaluation.batch_size, str(getattr(model, "loss", "ce")),
        int(getattr(model, "num_negatives", 256))))


def run_training(config: RunConfig, resume: bool = False, overwrite: bool = False,
                 log: EventLog | None = None, *, on_validation: Any = None,
                 evaluate_test: bool = True) -> dict[str, Any]:
    """Train, evaluate and write the run folder ``config.run_dir``.

    Args:
        config: The run config.
        resume: Continue the interrupted training of this run from its newest checkpoint
            (written with ``training.save_every_steps``); the config must be the one that
            wrote it.
        overwrite: Replace an existing run of this name once the new one is complete (or
            discard an interrupted training's checkpoints).
        log: Train on these cleaned events instead of reading ``config.data``'s source.
        on_validation: ``(epoch, valid_metrics) -> stop``, called after each validation
            (:data:`recsft.training.loop.ValidationCallback`); ``True`` ends the training
            there, and the record's ``training.stopped_by_callback`` says so.
        evaluate_test: ``False`` leaves the test split untouched (a tuning trial, selected on
            validation only): the record's ``test`` and baselines are empty and
            ``test_evaluated`` is ``false``.

    Returns:
        The metrics record written to ``metrics.json``.

    Raises:
        RefusedError: the destination is not recsft's, the run exists without ``overwrite``,
            another training of it is running, or there is nothing to resume.
        ResourceError: the model would not fit in memory.
    """
    from accelerate import PartialState

    from recsft.runs.guard import RunLock, RunPlan, check_run_name, plan_run

    check_run_name(config.name)
    state = PartialState(cpu=distributed_without_accelerator())
    lock = RunLock(config.output_dir, config.name)
    plan = None
    if state.is_main_process:
        lock.acquire()
    try:
        if state.is_main_process:
            from recsft.data.sources import source_inputs

            inputs = () if log is not None else source_inputs(config.data)
            plan = plan_run(config.output_dir, config.name, resume=resume, overwrite=overwrite,
                            inputs=inputs)
        state.wait_for_everyone()
        if plan is None:
            final = Path(config.output_dir) / config.name
            plan = RunPlan(final, final.with_name(f".{config.name}.partial"), resume)
        try:
            return _train(config, plan, log, on_validation, evaluate_test)
        except BaseException:
            if state.is_main_process:
                _discard_without_checkpoints(plan)
            raise
    finally:
        lock.release()


def _discard_without_checkpoints(plan: Any) -> None:
    """After a failed training, remove its work folder if it holds no checkpoint (recsft made
    it, nothing in it can be resumed): a retry then needs neither --resume nor --overwrite."""
    import shutil

    from recsft.runs.files import CHECKPOINT_DIR
    from recsft.runs.guard import is_partial_folder

    checkpoints = Path(plan.work) / CHECKPOINT_DIR
    kept = checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir())
    if not kept and is_partial_folder(Path(plan.work)):
        shutil.rmtree(plan.work, ignore_errors=True)


def _train(config: RunConfig, plan: Any, log: EventLog | None, on_validation: Any = None,
           evaluate_test: bool = True) -> dict[str, Any]:
    """The training itself, writing into ``plan.work``; the run is swapped in at the end."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from recsft.environment import environment
    from recsft.modeling.factory import create_model
    from recsft.runs.files import CHECKPOINT_DIR, TRACKER_DIR, TRAINING_LOG, WEIGHTS
    from recsft.runs.write import finish_run, write_run
    from recsft.scoring.model import model_scorer
    from recsft.scoring.popularity import popularity_scorer
    from recsft.training.collators import training_batches
    from recsft.training.loop import fit
    from recsft.training.samplers import LengthGroupedBatchSampler
    from recsft.training.transfer import frozen_parameters

    started = time.perf_counter()
    args = config.training
    work = str(plan.work)
    trackers = tracker_names(args.report_to)
    accelerator = Accelerator(
        cpu=distributed_without_accelerator(),
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=work,
    )
    set_seed(args.seed, deterministic=args.deterministic)
    if trackers:
        accelerator.init_trackers(TRACKER_DIR, config=hyperparameters(config))
    source = str(config.data.source)
    progress.note(f"preparing data: {clip(source, 80)}",
                  main_process=accelerator.is_main_process)
    with accelerator.main_process_first():
        prepared = prepare_data(config, log=log)
    check_model_memory(config, prepared, accelerator.num_processes)
    tokenizer = prepared.tokenizer
    # An item's id embedding is read once it has training interactions; a zero-shot
    # transfer (epochs 0) trains none, so every item is scored from its text.
    counts = item_counts(prepared)  # training interactions per item, read below
    has_id = counts > 0 if args.epochs else np.zeros(tokenizer.num_items, bool)
    model = create_model(config, tokenizer, prepared.item_categories, prepared.item_text,
                         has_id=has_id)
    transfer = None
    if args.init_from:
        from recsft.training.transfer import init_from

        # A fresh optimizer and schedule follow (training.warmup_ratio applies).
        transfer = init_from(model, args.init_from, prepared.warm)
        progress.note(f"initialised from {transfer.summary()}",
                      main_process=accelerator.is_main_process)
    collator, masking = training_batches(config, tokenizer)
    if config.model.negative_sampling == "popularity":
        model.set_item_popularity(torch.from_numpy(counts))
    if prepared.splits.cold_items:
        # Held out entirely: the cold items are not even negatives of the training loss.
        model.set_training_items(torch.from_numpy(counts > 0))
    lengths = [len(ids) for ids in prepared.train_dataset["input_ids"]]
    per_process = per_process_batch_size(args.batch_size, accelerator.num_processes)
    loader = torch.utils.data.DataLoader(
        prepared.train_dataset, collate_fn=collator, num_workers=args.num_workers,
        batch_sampler=LengthGroupedBatchSampler(lengths, per_process, seed=args.seed),
        pin_memory=torch.cuda.is_available(),
        # Its own generator: creating an iterator must not draw from the global random state
        # (which carries the masking and dropout), or a resumed epoch would diverge.
        generator=torch.Generator().manual_seed(args.seed),
    )
    for line in progress.describe_run(
            name=config.name, model=model, dataset=prepared.dataset_record(),
            sequences=len(prepared.train_dataset), device=str(accelerator.device),
            processes=accelerator.num_processes, precision=args.mixed_precision,
            output=str(config.run_dir), epochs=args.epochs, batch_size=args.batch_size):
        progress.note(line, main_process=accelerator.is_main_process)

    def save_best(unwrapped: torch.nn.Module) -> None:
        unwrapped.save_pretrained(work)
        tokenizer.save_pretrained(work)

    def load_best() -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        return load_file(os.path.join(work, WEIGHTS))

    result = fit(
        model, loader, prepared.valid, args, accelerator, save_best=save_best,
        log_path=os.path.join(work, TRAINING_LOG) if accelerator.is_main_process else None,
        checkpoint_dir=os.path.join(work, CHECKPOINT_DIR), resume=plan.resume,
        load_best=load_best, batch_transform=masking,
        frozen=frozen_parameters(model, transfer), on_validation=on_validation,
    )
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.load_state_dict(result.best_state)
    if evaluate_test:
        test, test_values = prepared.test.evaluate_with_users(
            model_scorer(unwrapped, accelerator), accelerator)
        popular = prepared.test.evaluate(popularity_scorer(counts), accelerator)
    else:  # a tuning trial: selected on validation, the test split stays unseen
        test, test_values, popular = {}, {}, {}
    record = {
        "dataset": prepared.dataset_record(),
        "protocol": prepared.test.protocol.to_dict(),
        "test": test,
        "valid": result.best_valid,
        "baselines": {"most_popular": {"test": popular}},
        "training": {
            "model_type": config.model.model_type,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.train_seconds, 2),
            "wall_seconds": round(time.perf_counter() - started, 2),
            "num_processes": accelerator.num_processes,
            "device": str(accelerator.device),
            "mixed_precision": args.mixed_precision,
            "resumed_from": _relative_checkpoint(result.resumed_from, work),
            "init_from": None if transfer is None else transfer.to_dict(),
            **({"stopped_by_callback": True} if result.stopped_by_callback else {}),
        },
        "environment": environment(),
        "config": config.to_dict(),
    }
    if not evaluate_test:
        record["test_evaluated"] = False
    elif prepared.splits.cold_items:
        # Warm vs cold test targets, beside the baselines (recsft evaluate gives the same).
        record["cold_start"] = cold_start_record(
            prepared.splits, prepared.test, test_values,
            cold_start_baselines(counts,
                                 extra=content_baselines(config, tokenizer,
                                                           texts=prepared.item_text)),
            accelerator)
    accelerator.log({f"test/{k}": v for k, v in test.items()}, step=result.epochs_run)
    # The trackers only: end_training() would also destroy the process group, which the caller
    # (a script training several configs, a test) may still use.
    for tracker in accelerator.trackers:
        tracker.finish()
    if accelerator.is_main_process:
        write_run(work, config, record, unwrapped, tokenizer, prepared.category_names,
                  counts, prepared.log)
        save_cold_items(work, prepared.splits)
        finish_run(plan, {"model_type": config.model.model_type, "vocab_size": len(tokenizer),
                          "num_items": tokenizer.num_items})
    accelerator.wait_for_everyone()
    return record


def _relative_checkpoint(path: str | None, work: str) -> str | None:
    """A resumed checkpoint's path inside the run (``checkpoints/step-N``), not the work
    folder's, which no longer exists once the run is swapped in."""
    return None if path is None else os.path.relpath(path, work)


def tracker_names(report_to: str | list[str]) -> list[str]:
    """``training.report_to`` as Accelerate's ``log_with`` list (empty for ``none``)."""
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    names = [n.strip() for name in names for n in str(name).split(",") if n.strip()]
    return [] if names in ([], ["none"]) else names


def hyperparameters(config: RunConfig) -> dict[str, Any]:
    """The run config flattened to ``section.key`` scalars, as trackers store them."""
    flat: dict[str, Any] = {}
    for section, values in config.to_dict().items():
        items = values.items() if isinstance(values, dict) else [("", values)]
        for key, value in items:
            name = f"{section}.{key}" if key else section
            if isinstance(value, (bool, int, float, str)):
                flat[name] = value
            elif value is not None:
                flat[name] = json.dumps(value, default=str)
    return flat


def per_process_batch_size(batch_size: int, num_processes: int) -> int:
    """Split the global batch (sequences per optimizer step) over processes.

    With the same global batch, one process and N processes make the same number of optimizer
    steps per epoch with the same learning-rate schedule.
    """
    if batch_size % num_processes:
        raise ValueError(
            f"training.batch_size ({batch_size}) must be divisible by the number of processes "
            f"({num_processes})"
        )
    return batch_size // num_processes


def distributed_without_accelerator() -> bool:
    """True when launched as several processes (``WORLD_SIZE > 1``) on a machine with no GPU.

    ``accelerate launch --multi_gpu --num_processes 2`` or ``torchrun --nproc_per_node 2`` then
    give several CPU processes that synchronise over gloo. (``accelerate launch --cpu
    --num_processes 2`` starts a single process in accelerate 1.x unless an MPI hostfile is
    configured: huggingface/accelerate#2741.)
    """
    import torch

    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return several and not torch.cuda.is_available()
