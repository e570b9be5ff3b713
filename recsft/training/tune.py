"""The study behind ``recsft tune``: trials on validation, then one final training on test.

Each trial is a normal recsft training (:func:`recsft.training.pipeline.run_training`) of the run
config with the trial's values set, into ``<output_dir>/<name>-tune/trial-<n>``. It never
evaluates the test split (``evaluate_test=False``: its ``metrics.json`` has an empty ``test``
and ``test_evaluated: false``), reports its validation metric to Optuna at every validation and
stops there when the pruner says so (recorded as pruned, with its epochs). A trial whose values
make an invalid config or a training recsft refuses is recorded as failed; the study goes on.

The study lives in ``<output_dir>/<name>-tune/study.db`` (Optuna's RDB storage on SQLite): a
second call continues it up to ``tune.trials`` (a trial left running by an interrupted call is
recorded as failed), and a lock keeps two calls from running one study. When the trials are
done, the best complete trial's config is written as ``best_config.yaml`` and trained once per
final seed; those trainings are the only ones that read the test split
(``tune_result.json``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recsft import progress
from recsft.config import RunConfig
from recsft.errors import RecsftError
from recsft.tuning.config import check_metric, normalize_space, space_entry_error, tune_folder
from recsft.tuning.space import apply, config_values, default_space, suggest

#: Files of the study folder.
STUDY_DB = "study.db"
RESULT = "tune_result.json"
BEST_CONFIG = "best_config.yaml"


def search_space(config: RunConfig) -> dict[str, dict[str, Any]]:
    """``tune.space``, or the model type's default space (checked like a declared one).

    Raises:
        RecsftError: a default-space entry that does not apply to this config.
    """
    if config.tune.space:
        return normalize_space(config.tune.space)
    space = default_space(config)
    for key, spec in space.items():
        message = space_entry_error(config, key, spec)
        if message:
            raise RecsftError(f"default space: tune.space.{key}: {message}")
    return normalize_space(space)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RecsftError("recsft tune needs Optuna: pip install 'recsft[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_pruner(config: RunConfig) -> Any:
    """The Optuna pruner of ``tune.pruner``; epochs are the resource, from
    ``max(tune.min_epochs, training.eval_every)`` to ``training.epochs``."""
    optuna = _optuna()
    floor = min(max(config.tune.min_epochs, config.training.eval_every), config.training.epochs)
    if config.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=floor,
                                              max_resource=config.training.epochs,
                                              reduction_factor=3)
    if config.tune.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=floor, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(config: RunConfig, space: dict[str, Any], pruner: Any = None) -> Any:
    """Create or load the study of ``config`` in its SQLite file.

    Args:
        config: The run config (its ``tune:`` section).
        space: The space searched; a study made with another space is refused.
        pruner: An Optuna pruner instead of ``tune.pruner``'s.

    Raises:
        RefusedError: the study exists with another space or metric.
    """
    from recsft.errors import RefusedError
    from recsft.fileio import make_folder

    optuna = _optuna()
    folder = tune_folder(config)
    make_folder(folder)
    tune = config.tune
    sampler = (optuna.samplers.TPESampler(seed=tune.seed) if tune.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=tune.seed))
    study = optuna.create_study(
        study_name=config.name, storage=f"sqlite:///{(folder / STUDY_DB).resolve()}",
        load_if_exists=True, direction="maximize", sampler=sampler,
        pruner=pruner if pruner is not None else make_pruner(config))
    if study.trials:  # resumed: a fresh seed, or the sampler would draw the first values again
        seed = tune.seed + len(study.trials)
        study.sampler = (optuna.samplers.TPESampler(seed=seed) if tune.sampler == "tpe"
                         else optuna.samplers.RandomSampler(seed=seed))
    elif tune.start_from_config:  # trial 0: the settings the search was given
        study.enqueue_trial(config_values(config, space))
        study.set_user_attr("first_trial_is_config", True)
    recorded = study.user_attrs
    signature = {"space": json.loads(json.dumps(space)), "metric": tune.metric}
    if not recorded.get("space"):
        for key, value in signature.items():
            study.set_user_attr(key, value)
    elif {key: recorded.get(key) for key in signature} != signature:
        raise RefusedError(f"{folder / STUDY_DB}: this study searched another space or metric; "
                           f"resume it with its own tune: section, or tune under another name")
    return study


def run_study(config: RunConfig, *, trials: int | None = None,
              budget_minutes: float | None = None, budget_trainings: float | None = None,
              final_seeds: Sequence[int] | None = None, pruner: Any = None, final: bool = True,
              command: str = "") -> dict[str, Any]:
    """Run (or continue) the study, write its outputs, train the chosen config.

    Args:
        config: The run config; its ``tune:`` section gives the space, metric and pruner.
        trials: Trials the study should hold (``tune.trials`` when ``None``).
        budget_minutes: The search's budget in minutes of this call
            (``tune.budget_minutes``): no trial starts after it, and the trial running when it
            ends stops at its next validation (recorded as pruned, ``stopped: budget``).
        budget_trainings: The search's budget in trainings of the config as given
            (``tune.budget_trainings``): the trials' seconds over the whole study may reach
            this many times those of trial 0, the config's own values; the sooner of the
            two budgets holds.
        final_seeds: Seeds of the final training(s) of the chosen config (default: the
            config's ``training.seed``).
        pruner: An Optuna pruner instead of ``tune.pruner``'s (tests, experiments).
        final: Train the chosen config and test it (``False``: the search only).
        command: The command line, recorded in ``tune_result.json``.

    Returns:
        The ``tune_result.json`` record.

    Raises:
        RefusedError: another call is running this study, or it searched another space.
        RecsftError: no trial completed (the trial records are still written).
    """
    from recsft.runs.guard import RunLock, check_run_name

    check_run_name(f"{config.name}-tune")
    check_metric(config, RecsftError)
    trials = config.tune.trials if trials is None else trials
    budget = config.tune.budget_minutes if budget_minutes is None else budget_minutes
    trainings = config.tune.budget_trainings if budget_trainings is None else budget_trainings
    if trials < 1 or any(b is not None and not b > 0 for b in (budget, trainings)):
        raise RecsftError(f"--trials {trials} / --budget-minutes {budget} / --budget-trainings "
                          f"{trainings}: expected at least one trial and positive budgets")
    started = time.perf_counter()
    space = search_space(config)
    with RunLock(config.output_dir, f"{config.name}-tune"):
        study = open_study(config, space, pruner)
        _fail_interrupted(study)
        ran = 0
        while _finished(study) < trials:
            left = budget_left(study, started, budget, trainings)
            if left is not None and left <= 0:
                progress.note(f"budget spent: {_finished(study)} of {trials} trials done; "
                              "run again with a larger budget to continue")
                break
            run_trial(config, study, space,
                      deadline=None if left is None else time.perf_counter() + left)
            ran += 1
        from recsft.tuning.report import write_study_outputs

        rows = write_study_outputs(config, study)
        result = summarise(config, study, rows, trials, time.perf_counter() - started, ran)
        result["budget"] = {"minutes_this_call": budget, "trainings": trainings,
                            "training_seconds": _first_seconds(study)}
        result["command"] = command
        best = _best(study)
        if best is None:
            _write_result(config, result)
            raise RecsftError(f"no trial of {tune_folder(config)} completed (see trials.csv); "
                              "nothing to choose")
        best_config = write_best_config(config, best.params)
        if final:
            seeds = list(final_seeds) if final_seeds else [config.training.seed]
            result["final"] = train_final(config, best.params, seeds)
            result["final"]["config"] = str(best_config)
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        _write_result(config, result)
    return result


def budget_left(study: Any, started: float, minutes: float | None,
                trainings: float | None) -> float | None:
    """Seconds the search may still spend, or ``None`` without a limit.

    Args:
        study: The Optuna study.
        started: ``time.perf_counter()`` at the start of this call.
        minutes: Budget of this call in minutes (``None``: none).
        trainings: Budget of the whole study in trainings of trial 0, the config's own values
            (``None``: none; while trial 0 has not finished, it has no unit yet).

    Raises:
        RecsftError: trial 0 is not the config's own values, or it failed (no unit).
    """
    import optuna

    left = []
    if minutes is not None:
        left.append(started + minutes * 60 - time.perf_counter())
    if trainings is not None:
        if not study.user_attrs.get("first_trial_is_config"):
            raise RecsftError("tune.budget_trainings: this study's first trial is not the "
                              "config's own values (it began without tune.start_from_config)")
        states = optuna.trial.TrialState
        finished = study.get_trials(deepcopy=False,
                                    states=(states.COMPLETE, states.PRUNED, states.FAIL))
        first = next((t for t in finished if t.number == 0), None)
        if first is not None:
            if first.state == states.FAIL:
                raise RecsftError("tune.budget_trainings: trial 0, the config's own values, "
                                  f"failed ({first.user_attrs.get('error', 'see trials.csv')}):"
                                  " the budget has no unit")
            spent = sum(float(t.user_attrs.get("seconds", 0.0)) for t in finished)
            left.append(trainings * float(first.user_attrs["seconds"]) - spent)
    return min(left) if left else None


def run_trial(config: RunConfig, study: Any, space: dict[str, Any],
              deadline: float | None = None) -> Any:
    """Ask the study for a trial, train it on validation only, tell the study its outcome.

    Args:
        config: The base run config.
        study: The Optuna study.
        space: The space searched.
        deadline: ``time.perf_counter()`` value at which the search's budget ends: the trial
            stops at its first validation after it (pruned, user attribute ``stopped:
            budget``).

    Returns:
        The finished ``optuna.trial.FrozenTrial``.
    """
    from recsft.training.pipeline import run_training

    optuna = _optuna()
    trial = study.ask()
    metric = config.tune.metric
    floor = min(max(config.tune.min_epochs, config.training.eval_every), config.training.epochs)
    curve: list[list[float]] = []

    def on_validation(epoch: int, valid: dict[str, float]) -> bool:
        value = float(valid[metric])
        curve.append([epoch, value])
        trial.report(value, epoch)
        if deadline is not None and time.perf_counter() >= deadline:
            trial.set_user_attr("stopped", "budget")
            return True
        return epoch >= floor and trial.should_prune()

    start = time.perf_counter()
    state, value, epochs = optuna.trial.TrialState.FAIL, None, 0
    try:
        values = suggest(trial, space)
        trial_config = apply(config, {**values, "training.metric_for_best": metric},
                             output_dir=str(tune_folder(config)), name=f"trial-{trial.number}",
                             source=f"trial {trial.number}")
        record = run_training(trial_config, overwrite=True, on_validation=on_validation,
                              evaluate_test=False)
    except (RecsftError, ValueError) as err:  # a bad combination: recorded, the study goes on
        trial.set_user_attr("error", str(err).splitlines()[0][:300] if str(err) else repr(err))
    else:
        epochs = int(record["training"]["epochs_run"])
        value = float(record["valid"][metric])
        pruned = bool(record["training"].get("stopped_by_callback"))
        state = (optuna.trial.TrialState.PRUNED if pruned
                 else optuna.trial.TrialState.COMPLETE)
        trial.set_user_attr("run", trial_config.run_dir)
        trial.set_user_attr("test_evaluated", bool(record.get("test_evaluated", True)))
        trial.set_user_attr("best_epoch", int(record["training"]["best_epoch"]))
    seconds = time.perf_counter() - start
    trial.set_user_attr("epochs", epochs)
    trial.set_user_attr("seconds", round(seconds, 2))
    trial.set_user_attr("curve", curve)
    frozen = study.tell(trial, value if state == optuna.trial.TrialState.COMPLETE else None,
                        state=state)
    progress.note(trial_line(frozen, metric))
    return frozen


def trial_line(trial: Any, metric: str) -> str:
    """One finished trial in one line: number, state, value, epochs, seconds, values."""
    attrs = trial.user_attrs
    state = trial.state.name.lower()
    value = trial.value if trial.value is not None else _last(attrs.get("curve"))
    shown = "-" if value is None else f"{value:.4f}"
    params = " ".join(f"{key.split('.', 1)[1]}={_short(v)}" for key, v in trial.params.items())
    line = (f"trial {trial.number:>3}  {state:<8}  valid {metric} {shown}  "
            f"{attrs.get('epochs', 0)} epochs  {attrs.get('seconds', 0):.0f}s  {params}")
    return line + (f"  ({attrs['error']})" if attrs.get("error") else "")


def write_best_config(config: RunConfig, params: dict[str, Any]) -> Path:
    """``best_config.yaml``: the base config with the chosen values, as a normal run config
    (``recsft train --config``) whose run is ``<output_dir>/<name>-tuned``."""
    import yaml

    from recsft.fileio import atomic_write_text
    from recsft.tuning.space import plain_config

    chosen = apply(config, {**params, "training.metric_for_best": config.tune.metric},
                   output_dir=config.output_dir, name=f"{config.name}-tuned",
                   source="best trial")
    path = tune_folder(config) / BEST_CONFIG
    header = (f"# Chosen by recsft tune on validation {config.tune.metric} "
              f"({tune_folder(config) / STUDY_DB}); values: {json.dumps(params)}\n")
    atomic_write_text(path, header + yaml.safe_dump(plain_config(chosen), sort_keys=False))
    return path


def finished_run(config: RunConfig) -> dict[str, Any] | None:
    """The metrics record of a complete run folder at ``config.run_dir`` trained with exactly
    ``config`` (a final training an interrupted call finished), or ``None``: absent,
    incomplete, changed or of another config."""
    from recsft.runs import Run
    from recsft.runs.files import METRICS

    if not Path(config.run_dir).is_dir():
        return None
    try:
        run = Run.open(config.run_dir)
        if run.config.to_dict() != config.to_dict():
            return None
        return json.loads((run.path / METRICS).read_text())
    except (RecsftError, OSError, ValueError):
        return None


def train_final(config: RunConfig, params: dict[str, Any], seeds: Sequence[int]
                ) -> dict[str, Any]:
    """Train the chosen config once per seed and test it: the study's only test numbers. A
    seed whose final run a previous call completed with the same config is not trained again
    (a study and its finals can be finished over several calls).

    Returns:
        ``{"seeds", "runs", "valid", "test": {metric: {"mean", "per_seed", "seeds",
        "users"}}}`` (:func:`recsft.evaluation.seeds.aggregate_seeds`: a t-interval over the
        seeds with two or more, a bootstrap interval over users).
    """
    from recsft.evaluation.seeds import aggregate_seeds
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer
    from recsft.training.pipeline import run_training

    per_user, runs, valid, records = [], [], [], []
    for seed in seeds:
        final = apply(config, {**params, "training.seed": int(seed),
                               "training.metric_for_best": config.tune.metric},
                      output_dir=str(tune_folder(config)), name=f"final-seed-{seed}",
                      source="final training")
        done = finished_run(final)
        if done is not None:
            progress.note(f"final training of the chosen config, seed {seed}: done by an "
                          f"earlier call ({final.run_dir})")
        else:
            progress.note(f"final training of the chosen config, seed {seed}: {final.run_dir}")
        records.append(done if done is not None else run_training(final, overwrite=True))
        run = Run.open(final.run_dir)
        per_user.append(run.evaluator("test").evaluate_with_users(model_scorer(run.model()))[1])
        runs.append(final.run_dir)
        valid.append(records[-1]["valid"])
    return {"seeds": [int(s) for s in seeds], "runs": runs, "valid": valid,
            "epochs_run": [r["training"]["epochs_run"] for r in records],
            "test": aggregate_seeds(per_user)}


def summarise(config: RunConfig, study: Any, rows: list[dict[str, Any]], trials: int,
              seconds: float, ran: int) -> dict[str, Any]:
    """The study part of ``tune_result.json``."""
    from recsft.environment import environment

    counts = {state: sum(row["state"] == state for row in rows)
              for state in ("complete", "pruned", "fail", "running")}
    best = _best(study)
    return {
        "name": config.name, "metric": config.tune.metric,
        "study": {
            "storage": str(tune_folder(config) / STUDY_DB), "trials_target": trials,
            "trials": len(rows), "complete": counts["complete"], "pruned": counts["pruned"],
            "failed": counts["fail"], "ran_this_call": ran,
            "epochs_spent": sum(row["epochs"] for row in rows),
            "trial_seconds": round(sum(row["seconds"] for row in rows), 2),
            "call_seconds": round(seconds, 2),
            "sampler": config.tune.sampler, "seed": config.tune.seed,
            "pruner": type(study.pruner).__name__, "space": study.user_attrs.get("space"),
        },
        "best": None if best is None else {
            "trial": best.number, "params": best.params, "valid": best.value,
            "epochs": best.user_attrs.get("epochs"), "run": best.user_attrs.get("run")},
        "environment": {**environment(), "optuna": _optuna().__version__},
        "config": config.to_dict(),
    }


def _write_result(config: RunConfig, result: dict[str, Any]) -> None:
    from recsft.fileio import atomic_write_text

    atomic_write_text(tune_folder(config) / RESULT, json.dumps(result, indent=2, default=str))


def _best(study: Any) -> Any:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def _finished(study: Any) -> int:
    import optuna

    states = optuna.trial.TrialState
    return len(study.get_trials(deepcopy=False,
                                states=(states.COMPLETE, states.PRUNED, states.FAIL)))


def _fail_interrupted(study: Any) -> None:
    """Record as failed the trials an interrupted call left running (the lock says no other
    call is running this study)."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def _first_seconds(study: Any) -> float | None:
    """Seconds of trial 0 when it trained the config's own values (the unit of
    ``budget_trainings``)."""
    if not study.user_attrs.get("first_trial_is_config"):
        return None
    first = next((t for t in study.get_trials(deepcopy=False) if t.number == 0), None)
    return None if first is None else first.user_attrs.get("seconds")


def _last(curve: Any) -> float | None:
    return float(curve[-1][1]) if curve else None


def _short(value: Any) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.3g}"
    return str(value)
