"""``recsft windows --mode incremental|frozen|compare``: the table and the plot of a rolling
evaluation (:func:`recsft.training.windows.rolling_windows`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recsft.report.text import render, table, wrap

#: PNG ``Software`` field of the plot (a plot recsft wrote may be replaced, nothing else).
PLOT_SOFTWARE = "recsft windows"
_COLOURS = {"retrain": "#1f77b4", "incremental": "#ff7f0e", "frozen": "#2ca02c"}


def _cell(row: Mapping[str, Any], key: str) -> str:
    interval = row["intervals"].get(key)
    if interval is None:
        return f"{row['test'][key]:.4f}"
    return f"{interval['mean']:.4f} [{interval['ci95_low']:.4f}, {interval['ci95_high']:.4f}]"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_rolling(result: Mapping[str, Any]) -> str:
    """One row per window and mode (NDCG@10 and Recall@10 with intervals, training seconds
    and sequences), the paired incremental-vs-retrain differences, then the summary."""
    grid = table("window", "mode", "ndcg@10 [95% CI]", "recall@10 [95% CI]", "train s",
                 "sequences", labels=2)
    for row in result["rows"]:
        for mode in result["modes"]:
            run = row["runs"][mode]
            grid.add_row(str(row["window"]), mode + (" (=w0)" if run.get("shared") else ""),
                         _cell(run, "ndcg@10"), _cell(run, "recall@10"),
                         f"{run['train_seconds']:.1f}", f"{run['train_sequences']:,}")
    lines = [render(grid)]
    if any("paired" in row for row in result["rows"]):
        pairs = table("window", "incr - retrain ndcg@10 [95% CI]", "p (perm, Holm)",
                      "incr - retrain recall@10", "p")
        for row in result["rows"][1:]:
            found = row["paired"]
            if "error" in found:
                pairs.add_row(str(row["window"]), found["error"][:60], "-", "-", "-")
                continue
            cells = []
            for key in ("ndcg@10", "recall@10"):
                d = found[key]["difference"]
                cells += [f"{d['mean']:+.4f} [{d['ci95_low']:+.4f}, {d['ci95_high']:+.4f}]",
                          f"{found[key]['permutation_p_holm']:.3g}"]
            pairs.add_row(str(row["window"]), *cells)
        lines += ["", render(pairs)]
    summary = result["summary"]
    seconds = ", ".join(f"{m} {s:.1f}" for m, s in summary["train_seconds"].items())
    lines.append(wrap(f"training seconds over the {summary['windows']} windows: {seconds}"))
    if "quality_ratio" in summary:
        ratio = summary["quality_ratio"]
        within = summary["incremental_ndcg@10_within_retrain_interval"][1:]
        lines.append(wrap(
            f"incremental / retrain after window 0: ndcg@10 {_number(ratio['ndcg@10']['mean'])}, "
            f"recall@10 {_number(ratio['recall@10']['mean'])}; training time "
            f"{_number(summary['train_seconds_ratio'])} (with window 0: "
            f"{_number(summary['train_seconds_ratio_total'])}); incremental ndcg@10 inside "
            f"retrain's interval in {sum(bool(w) for w in within)} of {len(within)} windows"))
    if "frozen_decay" in summary:
        decay = ", ".join(_number(v) for v in summary["frozen_decay"]["ndcg@10"])
        lines.append(wrap(f"frozen window-0 model, ndcg@10 relative to window 0: {decay}"))
    return "\n".join(lines)


def is_rolling_plot(path: Path) -> bool:
    """A PNG this command wrote (its ``Software`` text chunk names it)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and PLOT_SOFTWARE.encode() in head


def check_plot_output(path: str) -> None:
    """Refuse a ``--plot`` that is not a ``.png``, or an existing file this command did not
    write (checked before training too).

    Raises:
        RefusedError: either.
    """
    from recsft.errors import RefusedError
    from recsft.runs.guard import check_file_output

    if not path.lower().endswith(".png"):
        raise RefusedError(f"--plot {path}: expected a .png file")
    check_file_output(path, "--plot", is_rolling_plot)


def plot_rolling(result: Mapping[str, Any], path: str,
                 keys: tuple[str, ...] = ("ndcg@10", "recall@10")) -> str:
    """The modes' test metrics per window with their 95 % intervals, one panel per metric.

    Args:
        result: :func:`~recsft.training.windows.rolling_windows`'s result.
        path: PNG to write (an existing file only if this command wrote it).

    Raises:
        RefusedError: see :func:`check_plot_output`.
    """
    from recsft.fileio import atomic_save
    from recsft.report.plots import pyplot

    check_plot_output(path)
    plt = pyplot()
    figure, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
    windows = [row["window"] for row in result["rows"]]
    for axis, key in zip(axes[0], keys):
        for n, mode in enumerate(result["modes"]):
            runs = [row["runs"][mode] for row in result["rows"]]
            means = [r["test"][key] for r in runs]
            x = [w + (n - 1) * 0.06 for w in windows]
            if all(key in r["intervals"] for r in runs):
                low = [m - r["intervals"][key]["ci95_low"] for m, r in zip(means, runs)]
                high = [r["intervals"][key]["ci95_high"] - m for m, r in zip(means, runs)]
                axis.errorbar(x, means, yerr=[low, high], capsize=3, marker="o", markersize=4,
                              color=_COLOURS.get(mode), label=mode)
            else:
                axis.plot(x, means, marker="o", color=_COLOURS.get(mode), label=mode)
        axis.set(title=f"test {key} per window (95% bootstrap intervals)", xlabel="window",
                 ylabel=key)
        axis.set_xticks(windows)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    try:
        atomic_save(path, lambda tmp: figure.savefig(
            tmp, dpi=110, format="png", metadata={"Software": PLOT_SOFTWARE}))
    finally:
        plt.close(figure)
    return path
