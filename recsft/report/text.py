"""Plain-text metric tables for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY_ORDER = ("recall", "ndcg", "mrr", "hit_rate")


def write_benchmark_result(root: str, name: str, record: Mapping[str, Any]) -> str:
    """Write ``<root>/benchmarks/results/<name>.json`` through a temporary file; its path."""
    import json
    import os

    from recsft.fileio import atomic_write_text, make_folder

    out_dir = os.path.join(root, "benchmarks", "results")
    make_folder(out_dir)
    out = os.path.join(out_dir, f"{name}.json")
    atomic_write_text(out, json.dumps(record, indent=2, default=str))
    return out


def format_table(
    rows: Mapping[str, Mapping[str, float]], protocol: Mapping[str, Any] | None = None
) -> str:
    """A table of ranking metrics, one row per model, columns like ``ndcg@10``.

    Args:
        rows: Model name -> metrics dict.
        protocol: Printed above the table (split, ranking, filter_seen, users, items).
    """
    keys: list[str] = []
    for metrics in rows.values():
        for key in metrics:
            if key not in keys and "@" in key and key.split("@")[0] in KEY_ORDER:
                keys.append(key)
    keys.sort(key=lambda k: (KEY_ORDER.index(k.split("@")[0]), int(k.split("@")[1])))
    width = max([len(name) for name in rows] + [5])
    lines = []
    if protocol:
        lines.append(
            "protocol: " + ", ".join(f"{k}={v}" for k, v in protocol.items())
        )
    lines.append(f"{'model':<{width}}  " + "  ".join(f"{k:>11}" for k in keys))
    for name, metrics in rows.items():
        cells = "  ".join(f"{metrics.get(k, float('nan')):>11.4f}" for k in keys)
        lines.append(f"{name:<{width}}  {cells}")
    return "\n".join(lines)


def format_intervals(result: Mapping[str, Any]) -> str:
    """``recsft evaluate``'s result: one row per metric, mean and 95% bootstrap interval."""
    intervals = result["intervals"]
    order = (*KEY_ORDER, "map", "precision")
    keys = sorted(intervals, key=lambda k: (
        order.index(k.split("@")[0]) if k.split("@")[0] in order else len(order),
        k.split("@")[0], int(k.split("@")[1]) if "@" in k else 0))
    protocol = result["protocol"]
    lines = [
        f"{result['split']} split: " + ", ".join(f"{k}={v}" for k, v in protocol.items()),
        f"95% intervals: bootstrap over users ({next(iter(intervals.values()))['n_resamples']} "
        "resamples)",
        f"{'metric':<14} {'mean':>8}  {'95% CI':>18}",
    ]
    for key in keys:
        i = intervals[key]
        lines.append(f"{key:<14} {result['metrics'][key]:>8.4f}  "
                     f"[{i['ci95_low']:.4f}, {i['ci95_high']:.4f}]")
    return "\n".join(lines)


def format_segments(name: str, table: Mapping[str, Mapping[str, Any]]) -> str:
    """One segment breakdown (see ``RankingEvaluator.segments``) as text."""
    metrics = [k for k in next(iter(table.values())) if k not in ("users", "share")]
    lines = [f"by {name.replace('_', ' ')}:",
             f"{'segment':<10} {'users':>8} {'share':>7}  " + "  ".join(
                 f"{m + ' [95% CI]':>26}" for m in metrics)]
    for segment, row in table.items():
        cells = "  ".join(
            f"{row[m]['mean']:.4f} [{row[m]['ci95_low']:.4f}, {row[m]['ci95_high']:.4f}]".rjust(26)
            for m in metrics)
        lines.append(f"{segment:<10} {row['users']:>8,} {row['share']:>7.1%}  {cells}")
    return "\n".join(lines)


def format_variants(result: Mapping[str, Any]) -> str:
    """``recsft windows`` / ``recsft cv``: one row per variant, then the summary."""
    keys = list(result["summary"])
    lines = [f"{'variant':<10} {'users':>7}  " + "  ".join(
        f"{k + ' [95% CI]':>26}" for k in keys) + f"  {'most-pop ndcg@10':>16}  drift"]
    for name, row in result["variants"].items():
        cells = "  ".join(
            f"{row['intervals'][k]['mean']:.4f} [{row['intervals'][k]['ci95_low']:.4f}, "
            f"{row['intervals'][k]['ci95_high']:.4f}]".rjust(26) for k in keys)
        drift = row.get("drift", {}).get("mean")
        lines.append(f"{name:<10} {row['users']:>7,}  {cells}  "
                     f"{row['most_popular']['ndcg@10']:>16.4f}  "
                     + (f"{drift:.3f}" if drift is not None else "-"))
    for key, stats in result["summary"].items():
        extra = (f", slope {stats['slope_per_window']:+.4f}/window"
                 if "slope_per_window" in stats else "")
        lines.append(f"{key}: mean {stats['mean']:.4f} ± {stats['std']:.4f} (std), "
                     f"cv {stats['cv']:.3f}, range [{stats['min']:.4f}, {stats['max']:.4f}]"
                     + extra)
    return "\n".join(lines)


def format_metrics_table(record: Mapping[str, Any]) -> str:
    """The table of a run's ``metrics.json`` record: the model next to its baselines."""
    rows = {record["training"]["model_type"]: record["test"]}
    for name, baseline in record.get("baselines", {}).items():
        rows[name.replace("_", "-")] = baseline["test"]
    dataset = record["dataset"]
    header = (
        f"test set: {dataset['users']} users, {dataset['items']} items, "
        f"{dataset['interactions']} interactions ({dataset['source']})"
    )
    return header + "\n" + format_table(rows, protocol=record["protocol"])


def format_stats(stats: Mapping[str, Any]) -> str:
    """A dataset's statistics (see :func:`recsft.data.prepare.dataset_stats`) as text."""
    lengths = stats["sequence_length"]
    lines = [
        f"users         {stats['users']:,}",
        f"items         {stats['items']:,}",
        f"interactions  {stats['interactions']:,}",
        f"density       {stats['density']:.6f}",
        "length        " + "  ".join(f"{k} {v:g}" for k, v in lengths.items()),
    ]
    mix = ", ".join(f"{k} {v['share']:.1%}" for k, v in stats["event_types"].items())
    lines.append(f"event types   {mix}")
    span = stats.get("time_span")
    lines.append(
        f"time span     {span['first']} -> {span['last']} ({span['days']} days)"
        if span else "time span     order only (no timestamps)"
    )
    published = stats.get("published")
    if published and published.get("published"):
        verdict = "matches" if published["matches"] else "DIFFERS FROM"
        source = published["published"].get("source", "")
        lines.append(f"published     {verdict} the published statistics ({source})")
    return "\n".join(lines)
