"""What is computed from a saved run: its evaluation and its item transitions.

``recsft evaluate``, ``recsft transitions``, ``compare``, ``report`` and the benchmark scripts
call these; each reads the run through :class:`~recsft.runs.Run`, so the model, tokenizer and
splits are exactly the training's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft import progress
from recsft.errors import RunFolderError
from recsft.runs.run import Run

if TYPE_CHECKING:
    import torch

    from recsft.data.config import DataConfig
    from recsft.modeling.transitions import TransitionSettings


def as_run(run: Run | str) -> Run:
    """A :class:`Run` from a run or a folder path."""
    return run if isinstance(run, Run) else Run.open(run)


def evaluate_run(run: Run | str, split: str = "test", n_resamples: int = 1000,
                 seed: int = 0, segments: bool = False,
                 data: DataConfig | None = None, per_user: bool = False,
                 transitions: bool = False) -> dict[str, Any]:
    """Re-evaluate a saved run on its own split, with the trainer's evaluator.

    Args:
        run: A :class:`Run` or run folder.
        split: ``"test"`` or ``"valid"``.
        n_resamples: Bootstrap resamples of the users for the intervals (0: none).
        seed: Seed of the bootstrap.
        segments: Also break NDCG@10 and Recall@10 down by history length, target popularity
            (by training interactions) and target event type.
        data: Evaluate on another data section (transfer: another dataset or period sharing
            item ids). The run's tokenizer is kept: items it does not know are unknown inputs,
            and targets it does not know count as misses; the result then records
            ``transfer`` with the share of target and history items the model does not know.
        per_user: Also return ``per_user[key]``, the ``(n_users,)`` values behind each mean
            (users in split order), and ``users`` (``user_ids``, ``targets``), for paired
            comparisons across runs (:mod:`recsft.runs.compare`).
        transitions: Score with the model's softmax interpolated with the run's item
            transitions (:func:`fit_transitions` writes them; the result then records
            ``transitions``: the weight, smoothing and temperature and how they were chosen).

    Returns:
        ``{"run", "dataset", "protocol", "split", "metrics", "intervals", "beyond_accuracy",
        "popularity_exposure"}`` (and ``"segments"``; with ``data.cold_items``, ``"cold_start"``:
        the model's and the baselines' metrics on warm and cold targets,
        :func:`recsft.runs.data.cold_start_record`): ``metrics`` are the trainer's numbers
        exactly; ``intervals[key]`` is the mean with its 95% bootstrap interval over users
        (``{}`` with ``n_resamples=0``).
    """
    from recsft.evaluation.beyond_accuracy import popularity_exposure
    from recsft.evaluation.statistics import bootstrap_interval
    from recsft.scoring.model import model_scorer

    run = as_run(run)
    evaluator = run.evaluator(split, data)
    log = run.events(data)
    model = run.model()
    scorer = model_scorer(model)
    chain = None
    if transitions:
        from recsft.scoring.mixture import MixtureScorer

        chain = run.transitions()
        if chain.settings.weight is None:
            raise RunFolderError(f"{run.path}: the item transitions have no mixture weight; "
                                 f"fit them with 'recsft transitions --run {run.path}'")
        settings = chain.settings
        content = run.content_scorer() if settings.content_weight else None
        scorer = MixtureScorer(scorer, chain, model.config.first_item_id, settings.weight,
                               settings.smoothing, settings.temperature, content,
                               settings.content_weight, new_items(evaluator.item_counts),
                               settings.new_item_prior)
    top, targets = evaluator.top_k(scorer)
    metrics, user_values = evaluator.metrics_from_top(top, targets)
    intervals = {
        key: {**bootstrap_interval(values, n_resamples, seed=seed), "n_resamples": n_resamples}
        for key, values in user_values.items()
    } if n_resamples else {}
    ks = evaluator.ks
    result = {
        "run": {"path": str(run.path), "model_sha256": run.model_sha256},
        "dataset": {"source": log.source, **log.stats()},
        "protocol": evaluator.protocol.to_dict(),
        "split": split,
        "metrics": metrics,
        "intervals": intervals,
        "beyond_accuracy": evaluator.beyond_accuracy(top),
        "popularity_exposure": popularity_exposure(top, 10 if 10 in ks else max(ks),
                                                   evaluator.item_counts, targets),
    }
    if chain is not None:
        result["transitions"] = dataclasses.asdict(chain.settings)
    if data is not None:
        result["transfer"] = {"data": dataclasses.asdict(data),
                              "unknown_target_share": float(np.mean(targets < 0)),
                              "unknown_history_item_share": evaluator.unknown_history_share}
    splits = run.splits(data)
    if splits.cold_items:
        from recsft.runs.data import cold_start_baselines, cold_start_record, content_baselines

        baselines = cold_start_baselines(evaluator.item_counts,
                                         extra=content_baselines(run.config, run.tokenizer))
        result["cold_start"] = cold_start_record(
            splits, evaluator, user_values, baselines,
            n_resamples=n_resamples or 1000, seed=seed)
    if segments:
        result["segments"] = evaluator.segments(user_values, evaluator.item_counts,
                                                n_resamples=n_resamples or 1000)
    if per_user:
        result["per_user"] = user_values
        result["users"] = {"user_ids": list(evaluator.user_ids),
                           "targets": list(evaluator.target_items)}
    return result


def _content_for_choice(run: Run, content_weights: Sequence[float] | None) -> Any:
    """The run's text-similarity scorer for the choice of its weight, or ``None``: no grid, no
    item text, or (with the default grid only) no text encoder installed, which a note says;
    weights asked for explicitly need the encoder."""
    from recsft.errors import RecsftError

    if content_weights is not None and len(content_weights) == 0:
        return None
    try:
        return run.content_scorer()
    except RecsftError as err:
        if content_weights is not None:
            raise
        progress.note(f"text-similarity term not tried: {str(err).splitlines()[0]}")
        return None


def new_items(item_counts: np.ndarray) -> torch.Tensor:
    """``(num_items,)`` bool: the items without training interactions (``item_counts`` 0),
    those the mixture's new-item prior applies to."""
    import torch

    return torch.from_numpy(np.asarray(item_counts) == 0)


def fit_transitions(run: Run | str, settings: TransitionSettings | None = None,
                    weights: Sequence[float] | None = None,
                    smoothings: Sequence[float] | None = None,
                    temperatures: Sequence[float] | None = None,
                    metric: str = "ndcg@10",
                    content_weights: Sequence[float] | None = None,
                    new_item_priors: Sequence[float] | None = None) -> dict[str, Any]:
    """Fit item transitions on a run's training split, choose their mixture weight,
    smoothing and the model's temperature on the run's validation split, and save them
    (``transitions.safetensors``, recorded in the run's manifest).

    Args:
        run: A :class:`Run` or run folder (a transformer or recurrent model).
        settings: :class:`~recsft.modeling.transitions.TransitionSettings` (default ones).
        weights: Mixture weights to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_WEIGHTS`).
        smoothings: Smoothings to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_SMOOTHINGS`).
        temperatures: Temperatures to try (default
            :data:`~recsft.evaluation.mixture.DEFAULT_TEMPERATURES`).
        metric: Validation metric to maximise.
        content_weights: Weights of the text-similarity term to try once the rest is chosen,
            when the run's config gives items text (``data.item_table`` and ``data.item_text``)
            (default :data:`~recsft.evaluation.mixture.DEFAULT_CONTENT_WEIGHTS`; empty: none).
        new_item_priors: New-item priors to try last, when some catalogue items have no
            training interactions (default
            :data:`~recsft.evaluation.mixture.DEFAULT_NEW_ITEM_PRIORS`; empty: none).

    Returns:
        ``{"weight", "smoothing", "temperature", "content_weight", "new_item_prior",
        "new_items" (how many items have no training interactions), "validation" (metric per
        candidate), "metric", "settings", "saved_to"}``.
    """
    from recsft.evaluation.mixture import (
        DEFAULT_CONTENT_WEIGHTS,
        DEFAULT_NEW_ITEM_PRIORS,
        DEFAULT_SMOOTHINGS,
        DEFAULT_TEMPERATURES,
        DEFAULT_WEIGHTS,
        choose_content_weight,
        choose_mixture,
        choose_new_item_prior,
    )
    from recsft.modeling.transitions import ItemTransitions, TransitionSettings
    from recsft.runs.data import build_evaluator, train_item_counts
    from recsft.runs.files import TRANSITIONS
    from recsft.runs.update import updating
    from recsft.scoring.mixture import BatchSoftmax, MixtureScorer
    from recsft.scoring.model import model_scorer

    run = as_run(run)
    tokenizer, splits = run.tokenizer, run.splits()
    valid = build_evaluator(run.config, splits.valid, tokenizer, splits.protocol,
                            run.model_config)
    offset = tokenizer.first_item_id
    sequences = progress.bar(splits.train.items, desc="counting item transitions", unit="user")
    chain = ItemTransitions.fit(
        (np.asarray(tokenizer.items_to_ids(items), dtype=np.int64) - offset
         for items in sequences),
        valid.num_items, settings or TransitionSettings())
    sequences.close()
    # The grid is scored in one pass over the validation users (RankingEvaluator's bar).
    base = BatchSoftmax(model_scorer(run.model()))
    best, results = choose_mixture(
        valid.evaluate_many, lambda w, a, t: MixtureScorer(base, chain, offset, w, a, t),
        DEFAULT_WEIGHTS if weights is None else weights,
        DEFAULT_SMOOTHINGS if smoothings is None else smoothings,
        DEFAULT_TEMPERATURES if temperatures is None else temperatures, metric)
    chosen = {key: best[key] for key in ("weight", "smoothing", "temperature")}
    content = _content_for_choice(run, content_weights)
    if content is not None:
        best_content, content_results = choose_content_weight(
            valid.evaluate_many,
            lambda c: MixtureScorer(base, chain, offset, chosen["weight"], chosen["smoothing"],
                                    chosen["temperature"], content, c),
            DEFAULT_CONTENT_WEIGHTS if content_weights is None else content_weights, metric)
        chosen["content_weight"] = best_content["content_weight"]
        results = results + content_results
    fresh = new_items(train_item_counts(splits.train.items, tokenizer))
    priors = DEFAULT_NEW_ITEM_PRIORS if new_item_priors is None else new_item_priors
    if bool(fresh.any()) and len(priors):
        best_prior, prior_results = choose_new_item_prior(
            valid.evaluate_many,
            lambda b: MixtureScorer(base, chain, offset, chosen["weight"], chosen["smoothing"],
                                    chosen["temperature"], content,
                                    chosen.get("content_weight", 0.0), fresh, b),
            priors, metric)
        chosen["new_item_prior"] = best_prior["new_item_prior"]
        results = results + prior_results
    chain.settings = dataclasses.replace(chain.settings, **chosen, validation=results)
    with updating(run, TRANSITIONS) as folder:
        chain.save(str(folder))
    path = str(run.path / TRANSITIONS)
    return {"content_weight": 0.0, "new_item_prior": 0.0, **chosen,
            "new_items": int(fresh.sum()), "validation": results, "metric": metric,
            "settings": dataclasses.asdict(chain.settings), "saved_to": path}
