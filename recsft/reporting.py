"""Plain-text metric tables for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY_ORDER = ("recall", "ndcg", "mrr", "hit_rate")


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
