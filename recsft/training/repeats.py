"""One config trained several times on variants of its data: time windows and user folds.

* :func:`time_window_variants` — the rolling temporal protocol: for window ``w`` of length Δ
  starting at ``c_w``, train on every event before ``c_w - Δ``, validate on the first event in
  ``[c_w - Δ, c_w)``, test on each user's first event in ``[c_w, c_w + Δ)``. The windows are the
  last ``n`` windows of the log. The metric per window is a curve over time; its spread is the
  stability of the model (the "dynamic" evaluation of a single static number).
* :func:`fold_variants` — user-level K-fold cross-validation (``data.split: user-kfold``).

:func:`run_variants` trains each variant (a run folder per variant under the config's run
folder), re-evaluates it with per-user metrics and summarises each metric over the variants:
mean, standard deviation, coefficient of variation, min, max and, for time windows, the
least-squares slope per window. For time windows it also measures each test user's interest
drift — the Jensen–Shannon divergence (base 2) between the category distributions of their events
in the two windows before the test window — and reports the metrics by drift bucket.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from recsft.config import RunConfig

SUMMARY_METRICS = ("ndcg@10", "recall@10")
DRIFT_BUCKETS = (("low", 0.25), ("medium", 0.6), ("high", 1.01))


def time_window_variants(config: RunConfig, windows: int,
                         window_seconds: int) -> dict[str, dict[str, Any]]:
    """``{name: data overrides}`` of the last ``windows`` windows of the config's events (the
    cleaned log, ended at ``data.until`` when set).

    Raises:
        ValueError: fewer than one window, or the log is too short for ``windows + 1``
            windows (the first test window needs a validation window and training before it).
    """
    from recsft.runs.data import load_log

    if windows < 1 or window_seconds < 1:
        raise ValueError("time windows need windows >= 1 and a positive window length")
    times = load_log(config).frame["timestamp"]
    end, start = int(times.max()) + 1, int(times.min())
    first = end - windows * window_seconds
    if first - window_seconds <= start:
        raise ValueError(f"the events span {(end - start) / 86400:.1f} days: too short for "
                         f"{windows} test windows of {window_seconds / 86400:g} days after a "
                         "validation window and some training data")
    variants = {}
    for w in range(windows):
        cutoff = first + w * window_seconds
        variants[f"window-{w}"] = {"split": "temporal", "valid_cutoff": cutoff - window_seconds,
                                   "cutoff": cutoff, "test_end": cutoff + window_seconds}
    return variants


def fold_variants(folds: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{name: data overrides}`` of user-level K-fold cross-validation."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    return {f"fold-{f}": {"split": "user-kfold", "folds": folds, "fold": f, "split_seed": seed}
            for f in range(folds)}


def summarise(values: list[float], slope: bool = False) -> dict[str, float]:
    """Mean, std (ddof 1), coefficient of variation, min, max (and slope per step)."""
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    mean = float(array.mean())
    out = {"mean": mean, "std": std, "cv": std / mean if mean else math.nan,
           "min": float(array.min()), "max": float(array.max())}
    if slope and array.size > 1:
        out["slope_per_window"] = float(np.polyfit(np.arange(array.size), array, 1)[0])
    return out


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two count distributions."""
    keys = sorted(set(p) | set(q))
    a = np.array([p.get(k, 0.0) for k in keys], dtype=np.float64)
    b = np.array([q.get(k, 0.0) for k in keys], dtype=np.float64)
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float((x[mask] * np.log2(x[mask] / m[mask])).sum())

    return (kl(a) + kl(b)) / 2


def user_drift(log: Any, users: list[str], cutoff: int, window_seconds: int,
               column: str | None = None) -> np.ndarray:
    """Per-user interest drift before ``cutoff`` (NaN without events in both windows).

    The divergence between the user's item-category distributions in ``[cutoff - 2Δ,
    cutoff - Δ)`` and ``[cutoff - Δ, cutoff)``: only events before the test window are read.
    """
    from recsft.data.categories import item_labels

    by_item = item_labels(log.items, column, max_item_categories=1)
    frame = log.frame
    frame = frame[(frame["timestamp"] >= cutoff - 2 * window_seconds)
                  & (frame["timestamp"] < cutoff)]
    late = frame["timestamp"] >= cutoff - window_seconds
    counts: dict[tuple[str, bool], dict[str, float]] = {}
    for user, item, is_late in zip(frame["user_id"].astype(str), frame["item_id"].astype(str),
                                   late):
        for label in by_item.get(item, []):
            bucket = counts.setdefault((user, bool(is_late)), {})
            bucket[label] = bucket.get(label, 0.0) + 1.0
    return np.array([
        js_divergence(counts[(u, False)], counts[(u, True)])
        if (u, False) in counts and (u, True) in counts else math.nan
        for u in users
    ])


def drift_labels(drift: np.ndarray) -> np.ndarray:
    """``unknown`` (NaN), ``low`` (< 0.25), ``medium`` (< 0.6) or ``high``."""
    labels = np.full(drift.shape, "unknown", dtype=object)
    lower = 0.0
    for name, upper in DRIFT_BUCKETS:
        labels[(drift >= lower) & (drift < upper)] = name
        lower = upper
    return labels.astype(str)


def run_variants(
    config: RunConfig,
    variants: Mapping[str, Mapping[str, Any]],
    kind: str,
    n_resamples: int = 1000,
    window_seconds: int | None = None,
) -> dict[str, Any]:
    """Train and evaluate ``config`` once per variant of its data section.

    Args:
        config: The base run config; variant ``v`` runs in ``<run_dir>/<v>``.
        variants: ``{name: data-section overrides}`` (see :func:`time_window_variants`,
            :func:`fold_variants`).
        kind: ``"time_windows"`` or ``"folds"`` (recorded; windows also get slope and drift).
        n_resamples: Bootstrap resamples for each variant's intervals.
        window_seconds: Window length, for the drift of time windows.

    Returns:
        ``{"kind", "config", "variants": {name: {"protocol", "test", "intervals",
        "most_popular", "users"[, "drift"]}}, "summary": {metric: {...}},
        "most_popular_summary": {...}}``.
    """
    from recsft.evaluation.segments import segment_metrics
    from recsft.evaluation.statistics import bootstrap_interval
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer
    from recsft.training.pipeline import run_training

    results: dict[str, Any] = {}
    for name, overrides in variants.items():
        raw = copy.deepcopy(config.to_dict())
        raw["data"].update(overrides)
        raw["output_dir"], raw["name"] = config.run_dir, name
        variant = RunConfig.from_dict(raw)
        # Each variant is this command's own run folder: a rerun replaces it when complete.
        record = run_training(variant, overwrite=True)
        run = Run.open(variant.run_dir)
        evaluator, log = run.evaluator("test"), run.events()
        metrics, per_user = evaluator.evaluate_with_users(model_scorer(run.model()))
        entry: dict[str, Any] = {
            "protocol": record["protocol"],
            "users": len(evaluator),
            "test": metrics,
            "intervals": {key: bootstrap_interval(per_user[key], n_resamples)
                          for key in SUMMARY_METRICS},
            "most_popular": record["baselines"]["most_popular"]["test"],
        }
        if kind == "time_windows" and log.items is not None and window_seconds:
            try:
                drift = user_drift(log, evaluator.user_ids, int(overrides["cutoff"]),
                                   window_seconds, config.data.category_column)
            except ValueError:
                drift = None
            if drift is not None:
                entry["drift"] = {
                    "mean": float(np.nanmean(drift)) if np.isfinite(drift).any() else None,
                    "by_bucket": segment_metrics(per_user, drift_labels(drift), SUMMARY_METRICS,
                                                 n_resamples,
                                                 order=[b for b, _ in DRIFT_BUCKETS]),
                }
        results[name] = entry
    slope = kind == "time_windows"
    return {
        "kind": kind,
        "config": config.to_dict(),
        "variants": results,
        "summary": {key: summarise([r["test"][key] for r in results.values()], slope)
                    for key in SUMMARY_METRICS},
        "most_popular_summary": {
            key: summarise([r["most_popular"][key] for r in results.values()], slope)
            for key in SUMMARY_METRICS},
    }
