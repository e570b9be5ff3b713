"""Markdown tables of benchmark results, kept current in the docs by the scripts.

A benchmark script writes JSON under ``benchmarks/results/``; :func:`refresh_quality_tables`
then rewrites every generated table in a Markdown file from those JSON files. A generated table
sits between two markers, named after the dataset version it shows::

    <!-- generated:quality amazon-beauty -->
    ... (rewritten; edits here are lost) ...
    <!-- /generated:quality amazon-beauty -->

Only records written with several-seed support (a ``summary`` key, see
``scripts/benchmark_quality.py``) are tabulated; each row gives the mean over seeds with its
95 % interval (over seeds when there are several, else over users), beside the published
figures of the same dataset version and the most-popular baseline on the same split.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "ndcg@5", "recall@5")
_MARKER = re.compile(r"(<!-- generated:quality (?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                     r"(<!-- /generated:quality (?P=name) -->)", re.DOTALL)


def _interval(value: Mapping[str, Any]) -> str:
    interval = value["seeds"] or value["users"]
    return f"{value['mean']:.4f} [{interval['ci95_low']:.4f}, {interval['ci95_high']:.4f}]"


def quality_table(records: Sequence[Mapping[str, Any]]) -> str:
    """One dataset version's records as a Markdown table (best NDCG@10 last).

    Args:
        records: ``quality_<name>.json`` records of one dataset version, with ``summary``.
    """
    if not records:
        return "(no results yet)\n"
    first = records[0]
    header = ("| model (config) | seeds | " + " | ".join(COLUMNS)
              + " | epochs (best) | wall s per seed |")
    lines = [header, "|" + "---|" * (len(COLUMNS) + 4)]
    popular = first["baselines"]["most_popular"]["test"]
    lines.append("| most popular (recsft, same split) | | " + " | ".join(
        f"{popular[key]:.4f}" if key in popular else "" for key in COLUMNS) + " | | |")
    for row in first.get("published", {}).get("results", []):
        cells = [f"{row['metrics'][key]:.4f}" if key in row["metrics"] else "" for key in COLUMNS]
        lines.append(f"| {row['model']} (published: {row['source']}) | | "
                     + " | ".join(cells) + " | | |")
    ordered = sorted(records, key=lambda record: record["summary"]["ndcg@10"]["mean"])
    for record in ordered:
        summary, seeds = record["summary"], record["seeds"]
        epochs = ", ".join(f"{s['training']['epochs_run']} ({s['training']['best_epoch']})"
                           for s in seeds)
        wall = sum(s["training"]["wall_seconds"] for s in seeds) / len(seeds)
        cells = [_interval(summary[key]) if key in summary else "" for key in COLUMNS]
        model = record["config"]["model"]["model_type"]
        if all("transitions" in seed for seed in seeds):
            chosen = [seed["transitions"] for seed in seeds]
            weights = ", ".join(f"{c['weight']:g}/{c.get('smoothing', 0):g}/"
                                f"{c.get('temperature', 1):g}" for c in chosen)
            model += f" + item transitions (weight/smoothing/temperature {weights})"
        lines.append(f"| {model} (`{record['name']}`) | {len(seeds)} | " + " | ".join(cells)
                     + f" | {epochs} | {wall:,.0f} |")
    interval = "seeds (Student t)" if any(len(r["seeds"]) > 1 for r in records) else "users"
    lines.append("")
    lines.append(f"Mean over seeds [95 % interval over {interval}; over users (bootstrap) for "
                 f"single-seed rows]. Protocol: {first['published'].get('protocol', '')}; max "
                 f"length {first['protocol']['max_length']}; {first['dataset']['users']:,} users"
                 f" / {first['dataset']['items']:,} items / "
                 f"{first['dataset']['interactions']:,} interactions.")
    return "\n".join(lines) + "\n"


def standard_protocol(record: Mapping[str, Any]) -> bool:
    """Whether a record trained on every user's training events: not the cold-start protocol
    (``data.cold_items``) nor a share of the users (``data.train_users``), whose figures are
    not comparable with the published ones (docs/text.md reports them)."""
    data = (record.get("config") or {}).get("data") or {}
    return not data.get("cold_items") and data.get("train_users", 1.0) == 1.0


def load_quality_records(results_dir: str) -> dict[str, list[dict[str, Any]]]:
    """Several-seed quality records under ``results_dir`` of the standard protocol
    (:func:`standard_protocol`), by dataset version (or source)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "quality_*.json"))):
        with open(path) as handle:
            record = json.load(handle)
        if "summary" not in record or not standard_protocol(record):
            continue
        key = record.get("dataset_version") or os.path.basename(record["dataset"]["source"])
        groups.setdefault(key, []).append(record)
    return groups


def refresh_quality_tables(markdown_path: str, results_dir: str) -> list[str]:
    """Rewrite every generated quality table of ``markdown_path``; the names rewritten.

    The file is written through a temporary name and renamed, and only when a table changed.
    """
    with open(markdown_path, encoding="utf-8") as handle:
        text = handle.read()
    groups = load_quality_records(results_dir)
    names: list[str] = []

    def render(match: re.Match) -> str:
        names.append(match["name"])
        return match.group(1) + quality_table(groups.get(match["name"], [])) + match.group(4)

    updated = _MARKER.sub(render, text)
    if updated != text:
        from recsft.fileio import atomic_write_text

        atomic_write_text(markdown_path, updated)
    return names
