"""A run's data: the cleaned events it was split from, its splits, evaluators and item tables.

Training saves the cleaned events into the run folder (``data/events.parquet``, the item table
in ``data/items.parquet``, the source and processing steps in ``data/info.json``), so that
reopening a run (``recsft evaluate``, ``compare``, ``report``, tasks) reads them back instead of
parsing and cleaning the raw file again. The splits rebuilt from them are the training's own:
the same rows in the same order. Evaluating on other data (transfer) reads that data's source.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError, RunFolderError
from recsft.fileio import atomic_save, atomic_write_text, make_folder, read_json
from recsft.runs.files import COLD_ITEMS, DATA_INFO, EVENTS, ITEMS

if TYPE_CHECKING:
    from recsft.config import RunConfig
    from recsft.data.events import EventLog
    from recsft.data.split import SequenceSplits
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.scoring.vectors import Scorer
    from recsft.text.vectors import TokenTexts
    from recsft.tokenization import BehaviorTokenizer


def split_log(config: RunConfig, log: EventLog, cold: list[str] | None = None
              ) -> SequenceSplits:
    """Split a cleaned event log as the config's data section says.

    With ``data.train_since`` only the users active since then train, plus a replayed share
    (:func:`recsft.data.window.training_window`); with ``data.cold_items`` (cold-start
    protocol) the cold items' events then leave the training sequences
    (:func:`recsft.data.split.hold_out_items`).

    Args:
        config: The run config.
        log: The cleaned events.
        cold: The cold items a run recorded (``cold_items.json``); ``None`` chooses them from
            the log's items with :func:`cold_seed`.

    Raises:
        RecsftError: an unknown split, a temporal split without its cut-offs, or
            ``data.cold_items`` outside ``[0, 1)``.
    """
    splits = _split(config, log)
    if config.data.train_since is not None:
        from recsft.data.window import training_window

        splits = training_window(splits, config.data.train_since,
                                 config.training.replay_fraction, config.training.seed)
    fraction = config.data.cold_items
    if not fraction:
        return splits
    from recsft.data.split import choose_cold_items, hold_out_items

    if not 0 <= fraction < 1:
        raise RecsftError(f"data.cold_items: expected a fraction in [0, 1), got {fraction}")
    seed = cold_seed(config)
    if cold is None:
        cold = choose_cold_items(log.frame["item_id"].unique().tolist(), fraction, seed)
    return hold_out_items(splits, cold, fraction, seed)


def cold_seed(config: RunConfig) -> int:
    """The seed choosing the cold items: ``data.cold_seed``, else ``training.seed``."""
    seed = config.data.cold_seed
    return config.training.seed if seed is None else seed


def _split(config: RunConfig, log: EventLog) -> SequenceSplits:
    from recsft.data.config import SPLITS
    from recsft.data.split import leave_one_out, temporal_split, user_kfold

    data = config.data
    if data.split not in SPLITS:
        raise RecsftError(f"data.split: unknown split '{data.split}'; expected one of "
                          f"{', '.join(SPLITS)}")
    if data.split == "temporal" and (data.cutoff is None or data.valid_cutoff is None):
        raise RecsftError("data.split: the temporal split needs data.cutoff and "
                          "data.valid_cutoff (training validates on the period between them)")
    sequences = log.sequences()
    if data.split == "temporal":
        return temporal_split(sequences, data.cutoff, valid_cutoff=data.valid_cutoff,
                              test_end=data.test_end)
    if data.split == "user-kfold":
        return user_kfold(sequences, data.folds, data.fold, seed=data.split_seed)
    return leave_one_out(sequences, target_event_type=data.target_event_type)


def load_log(config: RunConfig, log: EventLog | None = None) -> EventLog:
    """Read (or generate) and clean the events a config names, from its source (or take
    ``log``), ended at ``data.until`` (:func:`recsft.data.window.until_log`)."""
    from recsft.data.sources import load_events
    from recsft.data.window import until_log

    return until_log(load_events(config.data) if log is None else log, config.data.until)


def build_evaluator(config: RunConfig, eval_set: Any, tokenizer: BehaviorTokenizer,
                    protocol: str, model_config: Any) -> RankingEvaluator:
    """The evaluator a config asks for, on one evaluation set.

    Args:
        config: The run config (its ``evaluation`` section).
        eval_set: The users, histories and targets.
        tokenizer: The run's tokenizer.
        protocol: The split's name, recorded beside the numbers.
        model_config: The model's config (object or ``config.json`` dict): how a history
            becomes model inputs (:func:`recsft.scoring.inputs.model_inputs`).

    Raises:
        RecsftError: the evaluation set is empty.
    """
    from recsft.evaluation.ranking import RankingEvaluator

    if len(eval_set) == 0:
        raise RecsftError(f"data.split: the split '{protocol}' leaves no user to evaluate; "
                          "check the split settings of the data section")
    return RankingEvaluator(
        eval_set, tokenizer, model_config, ks=config.evaluation.ks,
        filter_seen=config.evaluation.filter_seen, batch_size=config.evaluation.batch_size,
        split=protocol,
    )


def catalogue(config: RunConfig, log: EventLog) -> list[str]:
    """The items to rank: those of the log (default, as the published protocols do), or, with
    ``data.catalogue: items``, every item of the source's item table as well.

    Items come in order of first appearance in the log, then the table's other items.

    Raises:
        RecsftError: ``data.catalogue`` is neither ``events`` nor ``items``, or ``items``
            without an item table.
    """
    items = log.frame["item_id"].unique().tolist()
    if config.data.catalogue == "items":
        if log.items is None:
            raise RecsftError("data.catalogue is 'items' but the source has no item table")
        seen = set(items)
        items += [i for i in log.items["item_id"].astype(str).tolist() if i not in seen]
    elif config.data.catalogue != "events":
        raise RecsftError(f"data.catalogue must be 'events' or 'items', got "
                          f"'{config.data.catalogue}'")
    return items


def token_categories(config: RunConfig, log: EventLog, tokenizer: BehaviorTokenizer
                     ) -> tuple[np.ndarray, list[str]]:
    """``(vocab_size, C)`` category ids per token of the run's tokenizer, and the category
    names (:func:`recsft.data.categories.log_categories`).

    Raises:
        RecsftError: no item table, no category column, or no item with a category.
    """
    from recsft.data.categories import log_categories
    from recsft.tokenization import SPECIAL_TOKENS

    return log_categories(config.data, log, list(SPECIAL_TOKENS) + tokenizer.item_ids,
                          tokenizer.first_item_id)


def catalogue_categories(config: RunConfig, log: EventLog,
                         tokenizer: BehaviorTokenizer) -> np.ndarray | None:
    """``(num_items, C)`` category ids per item index from the source's item table, or
    ``None`` when it has no table or no category column (for intra-list diversity)."""
    try:
        table, _ = token_categories(config, log, tokenizer)
    except ValueError:
        return None
    return table[tokenizer.first_item_id:]


def train_item_counts(sequences: list[list[str]], tokenizer: BehaviorTokenizer) -> np.ndarray:
    """Interactions per item index ``(num_items,)`` in training item sequences."""
    counts = Counter(item for seq in sequences for item in seq)
    return np.array([counts.get(item, 0) for item in tokenizer.item_ids], dtype=np.float64)


def save_events(log: EventLog, folder: str | os.PathLike) -> bool:
    """Write the cleaned events (and item table) into ``folder/data/``.

    Returns:
        Whether they were written: an item table with columns Parquet cannot hold (mixed
        types) is not, and a reopened run then reads its source again.
    """
    import pyarrow as pa

    folder = Path(folder)
    make_folder(folder / "data")
    try:
        atomic_save(folder / EVENTS, lambda tmp: log.frame.to_parquet(tmp, index=False))
        if log.items is not None:
            atomic_save(folder / ITEMS, lambda tmp: log.items.to_parquet(tmp, index=False))
    except (pa.ArrowException, TypeError, ValueError):
        for name in (EVENTS, ITEMS):
            (folder / name).unlink(missing_ok=True)
        return False
    info = {"source": log.source, "steps": log.steps, "items": log.items is not None}
    atomic_write_text(folder / DATA_INFO, json.dumps(info, indent=2, default=str))
    return True


def read_events(folder: str | os.PathLike) -> EventLog | None:
    """The cleaned events saved by :func:`save_events`, or ``None`` when the run has none.

    Raises:
        RunFolderError: the files exist but cannot be read as what was written.
    """
    import pandas as pd

    from recsft.data.events import EventLog

    folder = Path(folder)
    if not (folder / DATA_INFO).is_file():
        return None
    try:
        info = json.loads((folder / DATA_INFO).read_text(encoding="utf-8"))
        frame = pd.read_parquet(folder / EVENTS)
        items = pd.read_parquet(folder / ITEMS) if info.get("items") else None
        return EventLog(frame, source=str(info["source"]), items=items, steps=info["steps"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunFolderError(f"{folder / 'data'}: the run's saved events cannot be read "
                             f"({type(err).__name__}: {str(err)[:200]})") from None


def save_cold_items(folder: str | os.PathLike, splits: SequenceSplits) -> None:
    """Write the held-out items and the protocol (``cold_items.json``) when there are any."""
    if not splits.cold_items:
        return
    payload = {"protocol": splits.metadata.get("cold_items", {}), "items": splits.cold_items}
    atomic_write_text(Path(folder) / COLD_ITEMS, json.dumps(payload, indent=2))


def read_cold_items(folder: str | os.PathLike) -> list[str] | None:
    """The cold items a run recorded, or ``None`` when it has no ``cold_items.json``.

    Raises:
        RunFolderError: the file is not what :func:`save_cold_items` writes.
    """
    path = Path(folder) / COLD_ITEMS
    if not path.is_file():
        return None
    raw = read_json(path, "run's cold items", error=RunFolderError)
    items = raw.get("items") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise RunFolderError(f"{path}: 'items' must be a list of item ids (strings)")
    return items


def cold_start_baselines(item_counts: np.ndarray,
                         extra: Mapping[str, Scorer] | None = None) -> dict[str, Scorer]:
    """The baselines reported beside the model on warm and cold targets.

    The content baseline (:func:`content_baselines`, text similarity of each candidate to the
    newest history items) is passed in ``extra``; any :class:`~recsft.scoring.vectors.Scorer`
    fits, a function mapping a batch to per-item scores ``(B, num_items)``.

    Args:
        item_counts: ``(num_items,)`` training interactions per item (most popular).
        extra: More baselines by name.

    Returns:
        ``{"most_popular": scorer, **extra}``.
    """
    from recsft.scoring.popularity import popularity_scorer

    return {"most_popular": popularity_scorer(item_counts), **(extra or {})}


def content_baselines(config: RunConfig, tokenizer: BehaviorTokenizer,
                      cache_folder: str | os.PathLike | None = None,
                      texts: TokenTexts | None = None) -> dict[str, Scorer]:
    """The content baseline of the cold-start protocol, when the config gives items text.

    Each item's text comes from ``data.item_table`` and ``data.item_text``
    (:func:`recsft.text.items.table_texts`), its vector from ``data.text_encoder`` through the
    cache (:func:`recsft.text.cache.encode_cached`, which notes how many were encoded and how
    many came from the cache); items of the tokenizer without text (absent from the table or
    empty) get a zero vector, and a note says how many. Built at evaluation only.

    Args:
        config: The run config.
        tokenizer: The run's tokenizer (fixes the item order).
        cache_folder: The text-vector cache's root; ``None`` for the default.
        texts: The items' text vectors when already at hand (a model that reads text was
            trained on them); ``None`` builds them.

    Returns:
        ``{"content": scorer}`` (:func:`recsft.scoring.content.content_scorer`), or ``{}``
        when ``data.item_table`` or ``data.item_text`` is not set.

    Raises:
        RecsftError: the table cannot be read, the template names a missing column, or the
            encoder cannot be loaded (without ``data.text_encoder`` and the ``recsft[text]``
            extra: one line saying how to install it).
    """
    from recsft.text.vectors import TokenTexts, item_text_source

    data = config.data
    if not all(item_text_source(data)):
        return {}
    from recsft.scoring.content import content_scorer

    if texts is None:
        texts = TokenTexts.from_config(data, tokenizer.item_ids, cache_folder=cache_folder,
                                       purpose="content baseline")
    vectors = texts.vectors
    return {"content": content_scorer(vectors, tokenizer.first_item_id)}


def cold_start_record(splits: SequenceSplits, evaluator: RankingEvaluator,
                      model_values: Mapping[str, np.ndarray],
                      baselines: Mapping[str, Scorer], accelerator: Any = None,
                      n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Metrics over users whose target is a warm vs a cold item, for the model and baselines.

    Args:
        splits: The splits (their ``cold_items`` and protocol metadata).
        evaluator: The evaluator of the split reported (test or validation).
        model_values: The model's per-user metrics on it (``evaluate_with_users``).
        baselines: Scorers to report the same way (:func:`cold_start_baselines`).
        accelerator: Shards the baselines' scoring over processes, if given.
        n_resamples: Bootstrap resamples of each interval.
        seed: Seed of the bootstrap.

    Returns:
        ``{"protocol": {"fraction", "seed", "items", ..., "file"}, "model": {"warm_targets":
        {...}, "cold_targets": {...}}, "baselines": {name: {...}}}``, each segment as
        :func:`recsft.evaluation.segments.segment_metrics` gives it.
    """
    from recsft.evaluation.segments import COLD_START_ORDER, cold_start_labels, segment_metrics

    labels = cold_start_labels(evaluator.target_items, splits.cold_items)
    k = 10 if 10 in evaluator.ks else max(evaluator.ks)
    keys = (f"ndcg@{k}", f"recall@{k}")

    def segments(values: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return segment_metrics(values, labels, keys, n_resamples, seed, order=COLD_START_ORDER)

    return {
        "protocol": {**splits.metadata.get("cold_items", {}), "file": COLD_ITEMS},
        "model": segments(model_values),
        "baselines": {name: segments(evaluator.evaluate_with_users(scorer, accelerator)[1])
                      for name, scorer in baselines.items()},
    }
