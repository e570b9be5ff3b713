"""The report's figures (matplotlib, Agg backend, PNG). One function per figure; each takes the
runs' evaluation records (``{name: record}``) and writes one file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["pyplot", "save_figure", "training_curves", "metric_bars", "segment_bars",
           "popularity_exposure_chart"]

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str) -> str:
    """Lay out, save as PNG through a temporary file, then rename (nothing half-written)."""
    from recsft.fileio import atomic_save

    plt = pyplot()
    figure.tight_layout()
    try:
        atomic_save(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(figure)
    return path


def training_curves(logs: Mapping[str, list[dict]], path: str,
                    metric: str = "ndcg@10") -> str:
    """Training loss per epoch (left) and validation ``metric`` at each evaluation (right).

    Args:
        logs: Run name → the rows of its ``training_log.jsonl``.
        path: PNG to write.
        metric: Validation metric to draw.
    """
    plt = pyplot()
    figure, (loss_axis, valid_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for n, (name, rows) in enumerate(logs.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        epochs = [r["epoch"] for r in rows if "loss" in r]
        loss_axis.plot(epochs, [r["loss"] for r in rows if "loss" in r], color=colour,
                       label=name)
        valid = [(r["epoch"], r["valid"][metric]) for r in rows
                 if isinstance(r.get("valid"), dict) and metric in r["valid"]]
        if valid:
            x, y = zip(*valid)
            valid_axis.plot(x, y, marker="o", markersize=3, color=colour, label=name)
            best = int(np.argmax(y))
            valid_axis.annotate(f"{y[best]:.4f}", (x[best], y[best]), fontsize=8,
                                textcoords="offset points", xytext=(0, 6), ha="center")
    loss_axis.set(title="training loss", xlabel="epoch", ylabel="loss")
    valid_axis.set(title=f"validation {metric}", xlabel="epoch", ylabel=metric)
    for axis in (loss_axis, valid_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return save_figure(figure, path)


def metric_bars(records: Mapping[str, dict], path: str,
                keys: tuple[str, ...] = ("ndcg@10", "recall@10", "mrr@10", "ndcg@20",
                                         "recall@20")) -> str:
    """Test metrics with their 95 % bootstrap intervals, grouped by metric, one bar per run."""
    plt = pyplot()
    keys = tuple(k for k in keys if all(k in r["metrics"] for r in records.values()))
    figure, axis = plt.subplots(figsize=(min(11, max(6, 1.2 * len(keys) * len(records))), 4))
    width = 0.8 / max(len(records), 1)
    x = np.arange(len(keys))
    for n, (name, record) in enumerate(records.items()):
        means = [record["metrics"][k] for k in keys]
        errors = None
        if record.get("intervals"):
            low = [record["metrics"][k] - record["intervals"][k]["ci95_low"] for k in keys]
            high = [record["intervals"][k]["ci95_high"] - record["metrics"][k] for k in keys]
            errors = [low, high]
        bars = axis.bar(x + n * width, means, width, yerr=errors, capsize=3, label=name,
                        color=_COLOURS[n % len(_COLOURS)])
        axis.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    axis.set_xticks(x + width * (len(records) - 1) / 2, keys)
    axis.set(title="test metrics (full ranking) with 95% bootstrap intervals", ylabel="value")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def segment_bars(records: Mapping[str, dict], segment: str, path: str,
                 metric: str = "ndcg@10", title: str = "") -> str:
    """``metric`` by segment (history length or target popularity) with intervals."""
    plt = pyplot()
    labels: list[str] = []
    for record in records.values():
        for label in record.get("segments", {}).get(segment, {}):
            if label not in labels:
                labels.append(label)
    figure, axis = plt.subplots(figsize=(min(11, max(6, 1.0 * len(labels) * len(records))), 4))
    width = 0.8 / max(len(records), 1)
    x = np.arange(len(labels))
    for n, (name, record) in enumerate(records.items()):
        groups = record.get("segments", {}).get(segment, {})
        means, low, high = [], [], []
        for label in labels:
            cell = groups.get(label, {}).get(metric)
            mean = cell["mean"] if cell else np.nan
            means.append(mean)
            low.append(mean - cell["ci95_low"] if cell else 0.0)
            high.append(cell["ci95_high"] - mean if cell else 0.0)
        axis.bar(x + n * width, means, width, yerr=[low, high], capsize=3, label=name,
                 color=_COLOURS[n % len(_COLOURS)])
    first = next(iter(records.values())).get("segments", {}).get(segment, {})
    ticks = [f"{label}\n{first[label]['users']:,} users" if label in first else label
             for label in labels]
    axis.set_xticks(x + width * (len(records) - 1) / 2, ticks, fontsize=8)
    axis.set(title=title or f"{metric} by {segment.replace('_', ' ')}", ylabel=metric)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def popularity_exposure_chart(records: Mapping[str, dict], path: str) -> str:
    """Share of the top-10 slots per item-popularity decile, beside the targets' and training's
    shares: bars above the targets' line are over-exposure."""
    plt = pyplot()
    first = next(iter(records.values()))["popularity_exposure"]
    bins = first["bins"]
    x = np.arange(bins)
    figure, axis = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(records), 1)
    for n, (name, record) in enumerate(records.items()):
        axis.bar(x + n * width, record["popularity_exposure"]["recommended_share"], width,
                 label=f"{name}: top-{first['k']} slots", color=_COLOURS[n % len(_COLOURS)],
                 alpha=0.85)
    centre = x + width * (len(records) - 1) / 2
    if "target_share" in first:
        axis.plot(centre, first["target_share"], color="black", marker="o",
                  label="held-out targets")
    axis.plot(centre, first["training_share"], color="grey", linestyle="--", marker=".",
              label="training interactions")
    axis.set_xticks(centre, [f"{10 * i}-{10 * (i + 1)}%" for i in range(bins)]
                    if bins == 10 else [str(i + 1) for i in range(bins)], fontsize=8)
    axis.set(title="popularity bias: exposure by item-popularity decile (most popular first)",
             xlabel="items by training popularity", ylabel="share")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)
