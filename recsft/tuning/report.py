"""What a study shows: the trials as rows, a table, ``trials.csv`` / ``trials.json``, a plot.

Example:
    >>> format_trials([{"number": 0, "state": "complete", "value": 0.1, "epochs": 3,
    ...                 "seconds": 2.0, "params": {"model.hidden_size": 64}, "error": None}],
    ...               "ndcg@10").splitlines()[0].split()[:3]
    ['trial', 'state', 'valid']
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from recsft.config import RunConfig

TRIALS_CSV = "trials.csv"
TRIALS_JSON = "trials.json"
PLOT = "trials.png"


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One plain record per trial: number, state, value, params, epochs, seconds, curve, run,
    error (a pruned trial's value is its last validation value)."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        curve = attrs.get("curve") or []
        value = trial.value if trial.value is not None else (curve[-1][1] if curve else None)
        state = trial.state.name.lower()
        error = attrs.get("error") or ("interrupted" if state == "fail"
                                       and "seconds" not in attrs else None)
        if attrs.get("stopped") == "budget":
            error = "stopped: budget spent"
        rows.append({"number": trial.number, "state": state, "value": value,
                     "params": dict(trial.params), "epochs": int(attrs.get("epochs", 0)),
                     "best_epoch": attrs.get("best_epoch"),
                     "seconds": float(attrs.get("seconds", 0.0)), "curve": curve,
                     "test_evaluated": attrs.get("test_evaluated"), "run": attrs.get("run"),
                     "error": error})
    return rows


def format_trials(rows: list[dict[str, Any]], metric: str) -> str:
    """The trials as a plain-text ``rich`` table, the best complete trial marked."""
    from recsft.report.text import render, table

    complete = [row for row in rows if row["state"] == "complete"]
    best = max(complete, key=lambda r: (r["value"], -r["number"]))["number"] if complete else None
    grid = table("trial", "state", f"valid {metric}", "epochs", "seconds", "values", labels=2)
    grid.columns[-1].justify = "left"
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4f}"
        params = "  ".join(f"{key.split('.', 1)[-1]}={_short(v)}"
                           for key, v in row["params"].items())
        grid.add_row(f"{row['number']}{' *' if row['number'] == best else ''}", row["state"],
                     value, str(row["epochs"]), f"{row['seconds']:.0f}",
                     params + (f"  ({row['error']})" if row["error"] else ""))
    return render(grid) + "\n(* the chosen trial: best validation value of the complete ones)"


def write_study_outputs(config: RunConfig, study: Any) -> list[dict[str, Any]]:
    """Write ``trials.csv``, ``trials.json`` and ``trials.png`` into the study folder.

    Returns:
        :func:`trial_rows`.
    """
    from recsft.fileio import atomic_write_text
    from recsft.tuning.config import tune_folder

    folder = tune_folder(config)
    rows = trial_rows(study)
    atomic_write_text(folder / TRIALS_JSON, json.dumps(rows, indent=2, default=str))
    keys = sorted({key for row in rows for key in row["params"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", config.tune.metric, "epochs", "best_epoch", "seconds",
                     *keys, "error"])
    for row in rows:
        writer.writerow([row["number"], row["state"], row["value"], row["epochs"],
                         row["best_epoch"], row["seconds"],
                         *(row["params"].get(key, "") for key in keys), row["error"] or ""])
    atomic_write_text(folder / TRIALS_CSV, buffer.getvalue())
    if rows:
        plot_trials(rows, str(folder / PLOT), config.tune.metric)
    return rows


def plot_trials(rows: list[dict[str, Any]], path: str, metric: str) -> str:
    """Left: each trial's validation value (pruned ones at their last validation) and the best
    so far; right: the validation curves per epoch, pruned trials in orange."""
    from recsft.report.plots import pyplot, save_figure

    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"complete": "tab:blue", "pruned": "tab:orange"}
    best, best_x, best_y = None, [], []
    for row in rows:
        if row["value"] is None or row["state"] not in colours:
            continue
        left.scatter(row["number"], row["value"], color=colours[row["state"]], s=18)
        if row["state"] == "complete":
            best = row["value"] if best is None else max(best, row["value"])
            best_x.append(row["number"])
            best_y.append(best)
    if best_x:
        left.step(best_x, best_y, where="post", color="black", label="best so far (complete)")
    for state, colour in colours.items():
        left.scatter([], [], color=colour, label=state)
    left.set(title=f"validation {metric} per trial", xlabel="trial", ylabel=metric)
    left.legend(fontsize=8)
    for row in rows:
        if row["curve"] and row["state"] in colours:
            epochs, values = zip(*row["curve"])
            right.plot(epochs, values, color=colours[row["state"]], alpha=0.7, linewidth=1,
                       marker="o", markersize=2)
    right.set(title=f"validation {metric} per epoch (pruned: orange)", xlabel="epoch",
              ylabel=metric)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    return save_figure(figure, path)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
