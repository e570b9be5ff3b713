"""The whole run as named steps: prepare_data → create_model → fit → evaluate → save.

``recsft train`` and ``accelerate launch scripts/finetune.py`` both call :func:`run_training`;
``recsft evaluate`` calls :func:`evaluate_run`, which rebuilds the same split and evaluator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from recsft.data.config import SPLITS, DataConfig
from recsft.data.events import EventLog
from recsft.data.sources import load_events
from recsft.data.split import (
    SequenceSplits,
    leave_one_out,
    sliding_windows,
    temporal_split,
    user_kfold,
)
from recsft.evaluation.ranking import RankingEvaluator, popularity_scorer
from recsft.tokenization import BehaviorTokenizer
from recsft.training.arguments import RunConfig

if TYPE_CHECKING:
    from recsft.modeling.transitions import TransitionSettings

RUN_CONFIG_FILE = "run_config.yaml"
METRICS_FILE = "metrics.json"
TRAINING_LOG_FILE = "training_log.jsonl"
TRACKER_DIR = "logs"
CATEGORIES_FILE = "categories.json"
CHECKPOINT_DIR = "checkpoints"


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
    """

    log: EventLog
    splits: SequenceSplits
    tokenizer: BehaviorTokenizer
    train_dataset: Any
    valid: RankingEvaluator
    test: RankingEvaluator
    item_categories: np.ndarray | None = None
    category_names: list[str] | None = None

    def dataset_record(self) -> dict[str, Any]:
        return {"source": self.log.source, **self.log.stats(), "steps": self.log.steps}


def split_events(config: RunConfig) -> tuple[EventLog, SequenceSplits]:
    """Load the events a config names, clean them and split them as the config says."""
    data = config.data
    if data.split not in SPLITS:
        raise ValueError(f"unknown split '{data.split}'; expected one of {', '.join(SPLITS)}")
    if data.split == "temporal" and (data.cutoff is None or data.valid_cutoff is None):
        raise ValueError("the temporal split needs data.cutoff and data.valid_cutoff (training "
                         "validates on the period between them)")
    log = load_events(data)
    sequences = log.sequences()
    if data.split == "temporal":
        splits = temporal_split(sequences, data.cutoff, valid_cutoff=data.valid_cutoff,
                                test_end=data.test_end)
    elif data.split == "user-kfold":
        splits = user_kfold(sequences, data.folds, data.fold, seed=data.split_seed)
    else:
        splits = leave_one_out(sequences, target_event_type=data.target_event_type)
    return log, splits


def build_evaluator(
    config: RunConfig, eval_set: Any, tokenizer: BehaviorTokenizer, protocol: str
) -> RankingEvaluator:
    """The evaluator a config asks for, on one evaluation set.

    Raises:
        ValueError: the evaluation set is empty.
    """
    if len(eval_set) == 0:
        raise ValueError(f"the split '{protocol}' leaves no user to evaluate; check the split "
                         "settings of the data section")
    return RankingEvaluator(
        eval_set, tokenizer, max_length=config.data.max_length, ks=config.evaluation.ks,
        filter_seen=config.evaluation.filter_seen, batch_size=config.evaluation.batch_size,
        split=protocol, append_mask=uses_mask_token(config),
        time_gaps=config.model.use_time_gaps,
    )


def prepare_data(config: RunConfig, tokenizer: BehaviorTokenizer | None = None) -> PreparedData:
    """Read, clean and split the events, build the tokenizer and the training dataset.

    Args:
        config: The run config.
        tokenizer: Reuse this tokenizer (evaluation of a saved run) instead of building one.
    """
    import datasets

    log, splits = split_events(config)
    if tokenizer is None:
        tokenizer = BehaviorTokenizer.from_sequences(
            [catalogue(config, log)], event_types=log.frame["event_type"].unique().tolist()
        )
    train = splits.train
    if config.data.train_stride:
        train = sliding_windows(train, window=config.data.max_length,
                                stride=config.data.train_stride)
    # Causal models predict every next item: max_length inputs need max_length + 1 events.
    length = config.data.max_length + (0 if uses_mask_token(config) else 1)
    encoded = tokenizer.encode_histories(
        train.items, train.event_types, max_length=length, padding=False,
        timestamps=train.timestamps if config.model.use_time_gaps else None,
    )
    keep = [i for i, ids in enumerate(encoded["input_ids"]) if ids]
    train_dataset = datasets.Dataset.from_dict(
        {name: [column[i] for i in keep] for name, column in encoded.items()
         if name != "attention_mask"}
    )
    table, names = item_categories(config, log, tokenizer)
    return PreparedData(
        log=log, splits=splits, tokenizer=tokenizer, train_dataset=train_dataset,
        valid=build_evaluator(config, splits.valid, tokenizer, splits.protocol),
        test=build_evaluator(config, splits.test, tokenizer, splits.protocol),
        item_categories=table, category_names=names,
    )


def item_categories(
    config: RunConfig, log: EventLog, tokenizer: BehaviorTokenizer
) -> tuple[np.ndarray | None, list[str] | None]:
    """The token → categories table when ``model.use_categories``, else ``(None, None)``.

    Raises:
        ValueError: categories are asked for but the source has no item table or no category
            column.
    """
    if not config.model.use_categories:
        return None, None
    return token_categories(config, log, tokenizer)


def token_categories(
    config: RunConfig, log: EventLog, tokenizer: BehaviorTokenizer
) -> tuple[np.ndarray, list[str]]:
    """``(vocab_size, C)`` category ids per token and the category names, from the source's
    item table (see :func:`recsft.data.categories.category_table`).

    Raises:
        ValueError: no item table, no category column, or no item with a category.
    """
    from recsft.data.categories import category_table
    from recsft.tokenization import SPECIAL_TOKENS

    if log.items is None:
        raise ValueError(f"model.use_categories needs an item table with categories, and "
                         f"{log.source} has none (give one with the reader's items_path)")
    tokens = list(SPECIAL_TOKENS) + tokenizer.item_ids
    table, names = category_table(log.items, tokens, tokenizer.first_item_id,
                                  column=config.data.category_column,
                                  max_item_categories=config.data.max_item_categories)
    if not names:
        raise ValueError(f"model.use_categories: no item of {log.source} has a category in its "
                         "item table")
    return table, names


def model_classes(config: RunConfig) -> tuple[Any, Any]:
    """The (config class, model class) of ``config.model.model_type``."""
    from recsft.modeling import MODEL_TYPES

    name = config.model.model_type
    if name not in MODEL_TYPES:
        raise ValueError(f"unknown model_type '{name}'; expected one of "
                         f"{', '.join(sorted(MODEL_TYPES))}")
    return MODEL_TYPES[name]


def uses_mask_token(config: RunConfig) -> bool:
    """Whether the model reads a history with an appended ``[MASK]`` (the Cloze family)."""
    return bool(model_classes(config)[0]().uses_mask_token)


def catalogue(config: RunConfig, log: EventLog) -> list[str]:
    """The items to rank: those of the log (default, as the published protocols do), or, with
    ``data.catalogue: items``, every item of the source's item table as well.

    Items come in order of first appearance in the log, then the table's other items.
    """
    items = log.frame["item_id"].unique().tolist()
    if config.data.catalogue == "items":
        if log.items is None:
            raise ValueError("data.catalogue is 'items' but the source has no item table")
        seen = set(items)
        items += [i for i in log.items["item_id"].astype(str).tolist() if i not in seen]
    elif config.data.catalogue != "events":
        raise ValueError(f"data.catalogue must be 'events' or 'items', got "
                         f"'{config.data.catalogue}'")
    return items


def create_model(
    config: RunConfig, tokenizer: BehaviorTokenizer, item_categories: np.ndarray | None = None
):
    """Instantiate the model a config names, sized to the tokenizer.

    Args:
        config: The run config.
        tokenizer: The run's tokenizer.
        item_categories: ``(vocab_size, width)`` category ids per token; required when
            ``model.use_categories`` (see :func:`item_categories`).

    Raises:
        ValueError: a model field the model type does not have is set, or categories are asked
            for without a table.
    """
    import inspect

    config_class, model_class = model_classes(config)
    accepted = set(inspect.signature(config_class.__init__).parameters)
    fields = {k: v for k, v in config.model.__dict__.items()
              if k in accepted and v is not None}
    foreign = sorted(k for k in ("embedding_size", "use_output_projection", "attention_type",
                                 "norm_first")
                     if getattr(config.model, k) is not None and k not in accepted)
    if foreign:
        raise ValueError(f"model.{foreign[0]} does not apply to model_type "
                         f"'{config.model.model_type}'")
    if config.model.use_categories:
        if item_categories is None:
            raise ValueError("model.use_categories needs the item category table")
        fields["num_categories"] = int(item_categories.max())
        fields["max_item_categories"] = int(item_categories.shape[1])
    model_config = config_class(
        vocab_size=len(tokenizer), first_item_id=tokenizer.first_item_id,
        num_token_types=tokenizer.num_token_types, max_position_embeddings=config.data.max_length,
        pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id, **fields,
    )
    model = model_class(model_config)
    if config.model.use_categories:
        import torch

        model.set_item_categories(torch.from_numpy(item_categories))
    return model


def item_counts(prepared: PreparedData) -> np.ndarray:
    """Training interactions per item index ``(num_items,)``, for the most-popular baseline."""
    return train_item_counts(prepared.splits.train.items, prepared.tokenizer)


def train_item_counts(sequences: list[list[str]], tokenizer: BehaviorTokenizer) -> np.ndarray:
    """Interactions per item index ``(num_items,)`` in training item sequences."""
    counts = Counter(item for seq in sequences for item in seq)
    return np.array([counts.get(item, 0) for item in tokenizer.item_ids], dtype=np.float64)


def run_training(config: RunConfig, resume: bool = False) -> dict[str, Any]:
    """Train, evaluate and write the run folder ``config.run_dir``.

    Args:
        config: The run config.
        resume: Continue from the newest checkpoint in ``run_dir/checkpoints`` (written with
            ``training.save_every_steps``); the config must be the one that wrote it.

    Returns:
        The metrics record written to ``metrics.json``.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from recsft.training.collators import CausalCollator
    from recsft.training.loop import fit
    from recsft.training.masking import ClozeMasking, PadCollator
    from recsft.training.samplers import LengthGroupedBatchSampler

    started = time.perf_counter()
    args = config.training
    run_dir = config.run_dir
    trackers = tracker_names(args.report_to)
    accelerator = Accelerator(
        cpu=distributed_without_accelerator(),
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=run_dir,
    )
    set_seed(args.seed, deterministic=args.deterministic)
    checkpoints = os.path.join(run_dir, CHECKPOINT_DIR)
    if accelerator.is_main_process:
        os.makedirs(run_dir, exist_ok=True)
        stale = [METRICS_FILE] if resume else [
            METRICS_FILE, TRAINING_LOG_FILE, CHECKPOINT_DIR, TRACKER_DIR
        ]
        for name in stale:
            target = os.path.join(run_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
    accelerator.wait_for_everyone()
    if trackers:
        accelerator.init_trackers(TRACKER_DIR, config=hyperparameters(config))
    with accelerator.main_process_first():
        prepared = prepare_data(config)
    tokenizer = prepared.tokenizer
    model = create_model(config, tokenizer, prepared.item_categories)
    if uses_mask_token(config):
        collator = PadCollator(pad_token_id=tokenizer.pad_token_id,
                               max_length=config.data.max_length)
        masking = ClozeMasking(mask_token_id=tokenizer.mask_token_id, mask_prob=args.mask_prob,
                               last_item_mask_prob=args.last_item_mask_prob)
    else:
        collator = CausalCollator(pad_token_id=tokenizer.pad_token_id,
                                  max_length=config.data.max_length)
        masking = None
    if config.model.negative_sampling == "popularity":
        model.set_item_popularity(torch.from_numpy(item_counts(prepared)))
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

    def save_best(unwrapped: torch.nn.Module) -> None:
        unwrapped.save_pretrained(run_dir)
        tokenizer.save_pretrained(run_dir)

    def load_best() -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        return load_file(os.path.join(run_dir, "model.safetensors"))

    result = fit(
        model, loader, prepared.valid, args, accelerator, save_best=save_best,
        log_path=os.path.join(run_dir, TRAINING_LOG_FILE) if accelerator.is_main_process else None,
        checkpoint_dir=checkpoints, resume=resume, load_best=load_best, batch_transform=masking,
    )
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.load_state_dict(result.best_state)
    test = prepared.test.evaluate_model(unwrapped, accelerator)
    popular = prepared.test.evaluate(popularity_scorer(item_counts(prepared)), accelerator)
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
            "resumed_from": result.resumed_from,
        },
        "environment": environment(),
        "config": config.to_dict(),
    }
    accelerator.log({f"test/{k}": v for k, v in test.items()}, step=result.epochs_run)
    if accelerator.is_main_process:
        write_run(config, record, unwrapped, tokenizer, prepared.category_names,
                  item_counts(prepared))
    accelerator.wait_for_everyone()
    # The trackers only: end_training() would also destroy the process group, which the caller
    # (a script training several configs, a test) may still use.
    for tracker in accelerator.trackers:
        tracker.finish()
    return record


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


def write_run(config: RunConfig, record: dict[str, Any], model: Any, tokenizer: Any,
              category_names: list[str] | None = None,
              counts: np.ndarray | None = None) -> None:
    """Write the resolved config, metrics and the FAISS item index into the run folder (and
    ``categories.json``, the names of category ids ``1..n``, when the model uses categories;
    ``item_popularity.json`` from the training ``counts`` aligned with ``tokenizer.item_ids``,
    the recommender's cold-start answer)."""
    from recsft.retrieval.index import ItemIndex
    from recsft.retrieval.popularity import Popularity

    run_dir = config.run_dir
    if counts is not None:
        Popularity(dict(zip(tokenizer.item_ids, counts.tolist()))).save(run_dir)
    if category_names is not None:
        write_text_atomic(os.path.join(run_dir, CATEGORIES_FILE), json.dumps(category_names))
    items = model.item_embeddings().detach().float().cpu().numpy()
    ItemIndex(items, tokenizer.item_ids, metric="ip").save(run_dir)
    write_text_atomic(os.path.join(run_dir, RUN_CONFIG_FILE),
                      yaml.safe_dump(config.to_dict(), sort_keys=False))
    write_text_atomic(os.path.join(run_dir, METRICS_FILE),
                      json.dumps(record, indent=2, default=str))


def load_run(run_dir: str, split: str = "test",
             data: DataConfig | None = None) -> tuple[Any, RankingEvaluator, EventLog]:
    """A saved run's model and its evaluator on the run's own split (or on other data).

    Args:
        run_dir: A run folder written by :func:`run_training`.
        split: ``"test"`` or ``"valid"``.
        data: Evaluate on this data section instead of the run's own (transfer: another
            dataset or period sharing item ids). The run's tokenizer is kept: items it does not
            know are unknown inputs, and targets it does not know count as misses.

    Returns:
        ``(model, evaluator, event log)``.
    """
    if split not in ("test", "valid"):
        raise ValueError(f"unknown split '{split}'; expected 'test' or 'valid'")
    config, tokenizer, log, splits = _run_splits(run_dir, data)
    evaluator = build_evaluator(config, getattr(splits, split), tokenizer, splits.protocol)
    evaluator.item_counts = train_item_counts(splits.train.items, tokenizer)
    evaluator.item_categories = catalogue_categories(config, log, tokenizer)
    return _run_model(run_dir), evaluator, log


def _run_splits(run_dir: str, data: DataConfig | None = None
                ) -> tuple[RunConfig, BehaviorTokenizer, EventLog, SequenceSplits]:
    """A run folder's config (its data section replaced by ``data`` if given), saved
    tokenizer, event log and splits."""
    config = RunConfig.from_yaml(os.path.join(run_dir, RUN_CONFIG_FILE))
    if data is not None:
        config = dataclasses.replace(config, data=data)
    log, splits = split_events(config)
    return config, BehaviorTokenizer.from_pretrained(run_dir), log, splits


def _run_model(run_dir: str) -> Any:
    """A run folder's saved model, through the Auto classes."""
    from transformers import AutoModel

    from recsft.modeling import register_auto_classes

    register_auto_classes()
    return AutoModel.from_pretrained(run_dir)


def fit_transitions(run_dir: str, settings: TransitionSettings | None = None,
                    weights: Sequence[float] | None = None,
                    smoothings: Sequence[float] | None = None,
                    temperatures: Sequence[float] | None = None,
                    metric: str = "ndcg@10") -> dict[str, Any]:
    """Fit item transitions on a run's training split, choose their mixture weight,
    smoothing and the model's temperature on the run's validation split, and save them
    (``transitions.safetensors``).

    Args:
        run_dir: A run folder written by :func:`run_training` (a transformer or recurrent
            model with ``encode_sequences``).
        settings: :class:`~recsft.modeling.transitions.TransitionSettings` (default ones).
        weights: Mixture weights to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_WEIGHTS`).
        smoothings: Smoothings to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_SMOOTHINGS`).
        temperatures: Temperatures to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_TEMPERATURES`).
        metric: Validation metric to maximise.

    Returns:
        ``{"weight", "smoothing", "temperature", "validation" (metric per candidate),
        "metric", "settings", "saved_to"}``.
    """
    from recsft.evaluation.mixture import (
        DEFAULT_SMOOTHINGS,
        DEFAULT_TEMPERATURES,
        DEFAULT_WEIGHTS,
        BatchSoftmax,
        MixtureScorer,
        choose_mixture,
    )
    from recsft.evaluation.ranking import model_scorer
    from recsft.modeling.transitions import ItemTransitions, TransitionSettings

    config, tokenizer, _, splits = _run_splits(run_dir)
    valid = build_evaluator(config, splits.valid, tokenizer, splits.protocol)
    offset = tokenizer.first_item_id
    chain = ItemTransitions.fit(
        (np.asarray(tokenizer.items_to_ids(items), dtype=np.int64) - offset
         for items in splits.train.items),
        valid.num_items, settings or TransitionSettings())
    base = BatchSoftmax(model_scorer(_run_model(run_dir)))
    best, results = choose_mixture(
        valid.evaluate_many, lambda w, a, t: MixtureScorer(base, chain, offset, w, a, t),
        DEFAULT_WEIGHTS if weights is None else weights,
        DEFAULT_SMOOTHINGS if smoothings is None else smoothings,
        DEFAULT_TEMPERATURES if temperatures is None else temperatures, metric)
    chosen = {key: best[key] for key in ("weight", "smoothing", "temperature")}
    chain.settings = dataclasses.replace(chain.settings, **chosen, validation=results)
    path = chain.save(run_dir)
    return {**chosen, "validation": results, "metric": metric,
            "settings": dataclasses.asdict(chain.settings), "saved_to": path}


def catalogue_categories(config: RunConfig, log: EventLog,
                         tokenizer: BehaviorTokenizer) -> np.ndarray | None:
    """``(num_items, C)`` category ids per item index from the source's item table, or
    ``None`` when it has no table or no category column (for intra-list diversity)."""
    try:
        table, _ = token_categories(config, log, tokenizer)
    except ValueError:
        return None
    return table[tokenizer.first_item_id:]


def evaluate_run(run_dir: str, split: str = "test", n_resamples: int = 1000,
                 seed: int = 0, segments: bool = False,
                 data: DataConfig | None = None, per_user: bool = False,
                 transitions: bool = False) -> dict[str, Any]:
    """Re-evaluate a saved run on its own split, with the trainer's evaluator.

    Args:
        run_dir: A run folder.
        split: ``"test"`` or ``"valid"``.
        n_resamples: Bootstrap resamples of the users for the intervals (0: none).
        seed: Seed of the bootstrap.
        segments: Also break NDCG@10 and Recall@10 down by history length, target popularity
            (by training interactions) and target event type.
        data: Evaluate on another data section (transfer; see :func:`load_run`); the result
            then records ``transfer`` with the share of target and history items the model
            does not know.
        per_user: Also return ``per_user[key]``, the ``(n_users,)`` values behind each mean
            (users in split order), for intervals and tests across runs.
        transitions: Score with the model's softmax interpolated with the run's item
            transitions (:func:`fit_transitions` writes them; the result then records
            ``transitions``: the weight, smoothing and temperature and how they were chosen).

    Returns:
        ``{"dataset", "protocol", "split", "metrics", "intervals", "beyond_accuracy"}`` (and
        ``"segments"``): ``metrics`` are the trainer's numbers exactly; ``intervals[key]`` is
        the mean with its 95% bootstrap interval over users (``{}`` with ``n_resamples=0``);
        ``beyond_accuracy`` holds coverage, Gini, popularity, novelty (and intra-list diversity
        when the items have categories) at every K; ``popularity_exposure`` the share of the
        top-10 slots, of the targets and of training per item-popularity decile.
    """
    from recsft.evaluation.beyond_accuracy import popularity_exposure
    from recsft.evaluation.ranking import model_scorer
    from recsft.evaluation.statistics import bootstrap_interval

    model, evaluator, log = load_run(run_dir, split, data)
    scorer = model_scorer(model)
    chain = None
    if transitions:
        from recsft.evaluation.mixture import MixtureScorer
        from recsft.modeling.transitions import ItemTransitions

        chain = ItemTransitions.load(run_dir)
        if chain.settings.weight is None:
            raise ValueError(f"{run_dir}: the item transitions have no mixture weight; fit "
                             "them with 'recsft transitions --run DIR'")
        scorer = MixtureScorer(scorer, chain, model.config.first_item_id, chain.settings.weight,
                               chain.settings.smoothing, chain.settings.temperature)
    top, targets = evaluator.top_k(scorer)
    metrics, user_values = evaluator.metrics_from_top(top, targets)
    intervals = {
        key: {**bootstrap_interval(values, n_resamples, seed=seed), "n_resamples": n_resamples}
        for key, values in user_values.items()
    } if n_resamples else {}
    result = {
        "dataset": {"source": log.source, **log.stats()},
        "protocol": evaluator.protocol.to_dict(),
        "split": split,
        "metrics": metrics,
        "intervals": intervals,
        "beyond_accuracy": evaluator.beyond_accuracy(top),
        "popularity_exposure": popularity_exposure(top, 10 if 10 in evaluator.ks else
                                                   max(evaluator.ks), evaluator.item_counts,
                                                   targets),
    }
    if chain is not None:
        result["transitions"] = dataclasses.asdict(chain.settings)
    if data is not None:
        result["transfer"] = {"data": dataclasses.asdict(data),
                              "unknown_target_share": float(np.mean(targets < 0)),
                              "unknown_history_item_share": evaluator.unknown_history_share}
    if segments:
        result["segments"] = evaluator.segments(user_values, evaluator.item_counts,
                                                n_resamples=n_resamples or 1000)
    if per_user:
        result["per_user"] = user_values
    return result


def environment() -> dict[str, str]:
    """Library versions and machine, recorded beside every number."""
    import accelerate
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "cpus": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }


def write_text_atomic(path: str, text: str) -> None:
    """Write a file through a temporary name in the same folder, then rename."""
    directory = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

