"""Rolling incremental evaluation: retrain, warm-start or freeze the model window after window.

The windows are those of :func:`recsft.training.repeats.time_window_variants`: window ``w`` of
length Δ starting at ``c_w`` validates on ``[c_w - Δ, c_w)`` and tests on ``[c_w, c_w + Δ)``.
Three ways to follow the log (:data:`MODES`):

* ``retrain`` — every window trains from scratch on every event before ``c_w - Δ``;
* ``incremental`` — window 0 trains from scratch; window ``w >= 1`` starts from window
  ``w - 1``'s run (``training.init_from``, ``training.init_items: keep``: its items keep their
  ids and the new ones are appended) and trains only on the events since window ``w - 1``'s
  training ended (``data.train_since``), plus the replayed share ``training.replay_fraction``;
* ``frozen`` — window 0's model, its catalogue grown the same way, evaluated on every later
  window without training (``training.epochs: 0``): the decay curve.

Every window's runs see the events before its test window's end only (``data.until``), so the
three modes rank the same catalogue. :func:`rolling_windows` trains the runs (in
``<run_dir>/<mode>-window-<w>``, alternating the modes window by window), re-evaluates each
with bootstrap intervals (:func:`recsft.runs.evaluate.evaluate_run`), compares incremental
with retrain on the same users (:func:`recsft.runs.compare.compare_results`) and summarises
the quality and training-time ratios and the frozen model's decay.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from recsft.config import RunConfig
from recsft.errors import RecsftError, RefusedError

#: ``recsft windows --mode``: ``compare`` runs incremental, frozen and retrain.
MODES = ("retrain", "incremental", "frozen", "compare")
#: The modes a ``compare`` runs, in the order they run within a window.
COMPARED = ("incremental", "frozen", "retrain")
#: Metrics of the paired comparison, the summary ratios and the plot.
HEADLINE = ("ndcg@10", "recall@10")


def run_name(mode: str, window: int) -> str:
    """The run folder name of ``mode``'s window ``window`` (under the config's run folder)."""
    return f"{mode}-window-{window}"


def window_plan(config: RunConfig, variants: dict[str, dict[str, Any]],
                modes: Sequence[str]) -> list[dict[str, Any]]:
    """The runs of a rolling evaluation, in the order they train.

    Args:
        config: The base run config.
        variants: :func:`~recsft.training.repeats.time_window_variants` of it.
        modes: Some of :data:`COMPARED`.

    Returns:
        One step per run: ``{"window", "mode", "name", "data": overrides, "training":
        overrides, "shared": [modes whose window-0 row is this run]}``. Window 0 is trained
        once, from scratch, and stands for every mode (it is what each of them starts with);
        a frozen window ``w >= 1`` starts from it, an incremental one from the incremental
        window ``w - 1``.
    """
    bounds = list(variants.values())
    first = modes[0]
    base = run_name(first, 0)
    steps = [{"window": 0, "mode": first, "name": base,
              "data": {**bounds[0], "until": bounds[0]["test_end"]}, "training": {},
              "shared": list(modes)}]
    for w in range(1, len(bounds)):
        window = {**bounds[w], "until": bounds[w]["test_end"]}
        for mode in modes:
            data, training = dict(window), {}
            if mode == "incremental":
                training = {"init_from": os.path.join(config.run_dir,
                                                      run_name("incremental", w - 1)),
                            "init_items": "keep"}
                data["train_since"] = bounds[w - 1]["valid_cutoff"]
            elif mode == "frozen":
                training = {"init_from": os.path.join(config.run_dir, base),
                            "init_items": "keep", "epochs": 0}
            steps.append({"window": w, "mode": mode, "name": run_name(mode, w), "data": data,
                          "training": training, "shared": [mode]})
    return steps


def check_destinations(config: RunConfig, steps: list[dict[str, Any]],
                       overwrite: bool) -> None:
    """Refuse, before training anything, when a run of the plan already exists.

    Raises:
        RefusedError: a run folder exists and ``overwrite`` is not set.
    """
    if overwrite:
        return
    existing = [s["name"] for s in steps if os.path.lexists(os.path.join(config.run_dir,
                                                                         s["name"]))]
    if existing:
        raise RefusedError(
            f"{os.path.join(config.run_dir, existing[0])}: exists ({len(existing)} of the "
            f"{len(steps)} runs planned exist); pass --overwrite to replace them")


def step_config(config: RunConfig, step: dict[str, Any]) -> RunConfig:
    """The run config of one step: the base config with the step's overrides."""
    raw = copy.deepcopy(config.to_dict())
    raw["data"].update(step["data"])
    raw["training"].update(step["training"])
    raw["output_dir"], raw["name"] = config.run_dir, step["name"]
    return RunConfig.from_dict(raw)


def training_sequences(run: Any) -> dict[str, int]:
    """The training sequences and events of a run's split (what it was trained on)."""
    train = run.splits().train
    lengths = [len(items) for items in train.items]
    return {"train_sequences": int(sum(1 for n in lengths if n)),
            "train_events": int(sum(lengths))}


def run_row(run_dir: str, record: dict[str, Any], trained: bool,
            n_resamples: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run's row and its per-user evaluation (for the paired comparison).

    Args:
        run_dir: The run folder.
        record: Its ``metrics.json`` record.
        trained: False for a frozen window (nothing trained: 0 sequences).
        n_resamples: Bootstrap resamples of the intervals.
    """
    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run

    run = Run.open(run_dir)
    evaluation = evaluate_run(run, "test", n_resamples=n_resamples, per_user=True)
    training = record["training"]
    counts = (training_sequences(run) if trained
              else {"train_sequences": 0, "train_events": 0})
    row = {
        "run": run_dir,
        "init_from": training.get("init_from"),
        # A frozen run trains nothing: its fit's seconds (a validation pass) are not training.
        "train_seconds": training["train_seconds"] if training["epochs_run"] else 0.0,
        "fit_seconds": training["train_seconds"],
        "wall_seconds": training["wall_seconds"],
        "epochs_run": training["epochs_run"],
        **counts,
        "users": evaluation["protocol"]["num_users"],
        "items": evaluation["protocol"]["num_items"],
        "test": evaluation["metrics"],
        "intervals": {key: {k: v for k, v in value.items() if k != "n_resamples"}
                      for key, value in evaluation["intervals"].items()},
        "most_popular": record["baselines"]["most_popular"]["test"],
    }
    return row, evaluation


def paired(name_a: str, result_a: dict[str, Any], name_b: str, result_b: dict[str, Any],
           n_resamples: int) -> dict[str, Any]:
    """Run B against run A on the same test users (``{"error"}`` when they cannot be paired)."""
    from recsft.runs.compare import compare_results

    metrics = [k for k in HEADLINE if k in result_a["per_user"]]
    try:
        result = compare_results(name_a, result_a, name_b, result_b, metrics, n_resamples)
    except RecsftError as err:
        return {"error": str(err)}
    return result["metrics"]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or not b else float(a / b)


def summarise_rows(rows: list[dict[str, Any]], modes: Sequence[str],
                   metrics: Sequence[str]) -> dict[str, Any]:
    """The summary of :func:`rolling_windows` (see there)."""
    later = rows[1:]
    seconds = {mode: float(sum(r["runs"][mode]["train_seconds"] for r in rows))
               for mode in modes}
    later_seconds = {mode: float(sum(r["runs"][mode]["train_seconds"] for r in later))
                     for mode in modes}
    summary: dict[str, Any] = {
        "windows": len(rows),
        "train_seconds": seconds,
        "train_seconds_after_window_0": later_seconds,
        "train_sequences": {mode: int(sum(r["runs"][mode]["train_sequences"] for r in rows))
                            for mode in modes},
    }
    if "incremental" in modes and "retrain" in modes:
        ratios = {key: [_ratio(r["runs"]["incremental"]["test"][key],
                               r["runs"]["retrain"]["test"][key]) for r in later]
                  for key in metrics}
        summary["quality_ratio"] = {
            key: {"mean": float(np.mean([v for v in values if v is not None]))
                  if any(v is not None for v in values) else None, "per_window": values}
            for key, values in ratios.items()}
        summary["train_seconds_ratio"] = _ratio(later_seconds["incremental"],
                                                later_seconds["retrain"])
        summary["train_seconds_ratio_total"] = _ratio(seconds["incremental"],
                                                      seconds["retrain"])
        within = []
        for r in rows:
            interval = r["runs"]["retrain"]["intervals"].get("ndcg@10")
            value = r["runs"]["incremental"]["test"].get("ndcg@10")
            within.append(None if interval is None or value is None else
                          bool(interval["ci95_low"] <= value <= interval["ci95_high"]))
        summary["incremental_ndcg@10_within_retrain_interval"] = within
    if "frozen" in modes:
        start = rows[0]["runs"]["frozen"]["test"]
        summary["frozen_decay"] = {
            key: [_ratio(r["runs"]["frozen"]["test"][key], start[key]) for r in rows]
            for key in metrics}
        if "retrain" in modes:
            summary["frozen_vs_retrain"] = {
                key: [_ratio(r["runs"]["frozen"]["test"][key], r["runs"]["retrain"]["test"][key])
                      for r in rows] for key in metrics}
    return summary


def rolling_windows(config: RunConfig, windows: int, window_seconds: int, mode: str,
                    n_resamples: int = 1000, overwrite: bool = False) -> dict[str, Any]:
    """Train and evaluate the rolling windows of ``config`` in ``mode`` (see the module).

    Args:
        config: The base run config (``training.replay_fraction`` is the incremental runs'
            replay share).
        windows: Test windows, at least 2 (window 0 is where every mode starts).
        window_seconds: Window length Δ.
        mode: ``incremental``, ``frozen`` or ``compare`` (all three; ``retrain`` alone is
            :func:`~recsft.training.repeats.run_variants`).
        n_resamples: Bootstrap resamples of each run's intervals and the paired differences.
        overwrite: Replace the runs of an earlier call; without it an existing run folder
            of the plan is refused before anything trains.

    Returns:
        ``{"kind": "rolling_windows", "mode", "modes", "window_seconds", "time_windows":
        [{"window", "valid_cutoff", "cutoff", "test_end", "until"}], "metrics", "config",
        "rows": [{"window", "runs": {mode: row}, "paired"}], "summary"}``. A row (per mode and
        window): ``run`` (folder), ``init_from`` (the record's), ``train_seconds`` (the fit; 0 when
        no epoch ran), ``fit_seconds`` (the record's, validation included), ``wall_seconds``
        (the whole run: data, fit, test), ``epochs_run``, ``train_sequences``,
        ``train_events``, ``users``, ``items``, ``test`` (every configured metric),
        ``intervals`` (mean with its 95 % bootstrap interval per metric), ``most_popular``,
        and ``shared: true`` where window 0's run stands for this mode. ``paired``
        (``compare`` only): incremental (B) against retrain (A) per headline metric,
        :func:`recsft.evaluation.statistics.paired_comparison`'s fields with Holm-adjusted
        p-values. ``summary``: ``train_seconds`` per mode (total, and after window 0),
        ``train_sequences`` per mode; with incremental and retrain, ``quality_ratio``
        (incremental / retrain per window after window 0, and its mean),
        ``train_seconds_ratio`` (incremental / retrain after window 0; ``_total`` with
        window 0) and ``incremental_ndcg@10_within_retrain_interval`` per window; with
        frozen, ``frozen_decay`` (each window's metric / window 0's) and, with retrain,
        ``frozen_vs_retrain``.

    Raises:
        RecsftError: an unknown mode, fewer than 2 windows; RefusedError: a run exists.
        ValueError: the log is too short for the windows.
    """
    from recsft.progress import note
    from recsft.training.pipeline import run_training
    from recsft.training.repeats import time_window_variants

    if mode not in MODES[1:]:
        raise RecsftError(f"--mode: expected one of incremental, frozen, compare here, "
                          f"got '{mode}'")
    if windows < 2:
        raise RecsftError(f"--windows {windows}: --mode {mode} needs at least 2 windows "
                          "(window 0 trains from scratch; the later ones follow it)")
    modes = list(COMPARED) if mode == "compare" else [mode]
    variants = time_window_variants(config, windows, window_seconds)
    steps = window_plan(config, variants, modes)
    check_destinations(config, steps, overwrite)
    rows: list[dict[str, Any]] = [{"window": w, "runs": {}} for w in range(windows)]
    evaluations: dict[tuple[int, str], dict[str, Any]] = {}
    for step in steps:
        note(f"window {step['window']}: {step['mode']} -> {step['name']}")
        variant = step_config(config, step)
        record = run_training(variant, overwrite=overwrite)
        row, evaluation = run_row(variant.run_dir, record,
                                  trained=step["training"].get("epochs") != 0,
                                  n_resamples=n_resamples)
        for shared in step["shared"]:
            rows[step["window"]]["runs"][shared] = {**row, "shared": len(step["shared"]) > 1}
            evaluations[(step["window"], shared)] = evaluation
    if "incremental" in modes and "retrain" in modes:
        for row in rows:
            w = row["window"]
            row["paired"] = paired(rows[w]["runs"]["retrain"]["run"], evaluations[(w, "retrain")],
                                   rows[w]["runs"]["incremental"]["run"],
                                   evaluations[(w, "incremental")], n_resamples)
    metrics = list(rows[0]["runs"][modes[0]]["test"])
    bounds = [{"window": w, **{k: v for k, v in b.items() if k != "split"},
               "until": b["test_end"]} for w, b in enumerate(variants.values())]
    return {
        "kind": "rolling_windows",
        "mode": mode,
        "modes": modes,
        "window_seconds": window_seconds,
        "time_windows": bounds,
        "metrics": metrics,
        "config": config.to_dict(),
        "rows": rows,
        "summary": summarise_rows(rows, modes, metrics),
    }
