"""Metric tables for the terminal, at most 100 columns wide.

Tables are drawn by `rich <https://rich.readthedocs.io>`_ (no colour, plain text: they read the
same in a log file), at the terminal's width up to :data:`WIDTH`; where a table would be wider,
rich wraps the text of its cells instead of the line. Ranking metrics are laid out as rows
(``recall``, ``ndcg``, ...) with one column per cut-off ``k``, and intervals as
``0.0417 [0.0341, 0.0490]``. Machine-readable output (``--json``) does not pass through here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from recsft.progress import width

KEY_ORDER = ("recall", "ndcg", "mrr", "hit_rate")
#: Order of the metric names in a table of every metric (others after, by name).
ALL_ORDER = (*KEY_ORDER, "map", "precision")


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


def wrap(text: str, indent: str = "  ") -> str:
    """Each line of ``text`` folded to :func:`width` columns, continuation lines indented
    (a word longer than a line, such as a long path, is cut)."""
    return "\n".join(
        textwrap.fill(line, width(), subsequent_indent=indent, break_on_hyphens=False)
        if len(line) > width() else line
        for line in text.split("\n"))


def short_path(path: str, limit: int = 60) -> str:
    """``path`` as is, or its last components after ``.../`` when longer than ``limit``."""
    if len(path) <= limit:
        return path
    parts = path.replace("\\", "/").split("/")
    tail = parts[-1]
    for part in reversed(parts[:-1]):
        if len(part) + len(tail) + 5 > limit:
            break
        tail = f"{part}/{tail}"
    return f".../{tail}"


def table(*columns: str, labels: int = 1) -> Any:
    """An empty ``rich`` table with these column headers: the first ``labels`` left-aligned
    (row labels), the others right-aligned (numbers)."""
    from rich import box
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style=None)
    for n, name in enumerate(columns):
        grid.add_column(name, justify="left" if n < labels else "right", overflow="fold")
    return grid


def render(grid: Any) -> str:
    """A ``rich`` table as plain text, :func:`width` columns at most, trailing spaces off.

    Rich replaces its box lines with ASCII where stdout cannot encode them."""
    import sys

    from rich.console import Console

    console = Console(file=sys.stdout, width=width(), color_system=None, highlight=False,
                      emoji=False, markup=False, soft_wrap=False)
    with console.capture() as capture:
        console.print(grid)
    return "\n".join(line.rstrip() for line in capture.get().rstrip("\n").split("\n"))


def split_key(key: str) -> tuple[str, int | None]:
    """``"ndcg@10"`` → ``("ndcg", 10)``; ``"auc"`` → ``("auc", None)``."""
    name, at, k = key.partition("@")
    return (name, int(k)) if at and k.isdigit() else (key, None)


def _layout(keys: Iterable[str], order: Sequence[str]) -> tuple[list[str], list[int | None]]:
    """The metric names (rows, ``order`` first) and cut-offs (columns) of ``keys``."""
    names: list[str] = []
    ks: set[int | None] = set()
    for key in keys:
        name, k = split_key(key)
        if name not in names:
            names.append(name)
        ks.add(k)
    names.sort(key=lambda n: (order.index(n) if n in order else len(order), n))
    return names, sorted(ks, key=lambda k: -1 if k is None else k)


def _k_header(k: int | None) -> str:
    return "value" if k is None else f"@{k}"


def format_table(
    rows: Mapping[str, Mapping[str, float]], protocol: Mapping[str, Any] | None = None
) -> str:
    """Ranking metrics of one or more models: a row per metric (and model), a column per k.

    Args:
        rows: Model name -> metrics dict (``recall@10``, ...); Recall, NDCG, MRR and HitRate
            are shown.
        protocol: Printed above the table (split, ranking, filter_seen, users, items).
    """
    keys = [key for metrics in rows.values() for key in metrics
            if "@" in key and split_key(key)[0] in KEY_ORDER]
    names, ks = _layout(keys, KEY_ORDER)
    several = len(rows) > 1
    grid = table("metric", *(["model"] if several else []), *map(_k_header, ks),
                 labels=2 if several else 1)
    for name in names:
        for n, (model, metrics) in enumerate(rows.items()):
            cells = [_number(metrics.get(f"{name}@{k}")) for k in ks]
            label = name if n == 0 else ""
            grid.add_row(label, *([model] if several else []), *cells)
    lines = []
    if protocol:
        lines.append(wrap("protocol: " + ", ".join(f"{k}={v}" for k, v in protocol.items())))
    lines.append(render(grid))
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _interval(mean: float, low: float, high: float) -> str:
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def format_intervals(result: Mapping[str, Any]) -> str:
    """``recsft evaluate``'s result: each metric's mean with its 95% bootstrap interval, a row
    per metric and a column per k (a row per metric and k where that many columns would not
    fit in one line each)."""
    intervals = result["intervals"]
    names, ks = _layout(intervals, ALL_ORDER)

    def cell(key: str) -> str:
        if key not in intervals:
            return "-"
        i = intervals[key]
        return _interval(result["metrics"][key], i["ci95_low"], i["ci95_high"])

    if len(ks) * 26 + 12 <= width():
        grid = table("metric", *(f"{_k_header(k)} [95% CI]" for k in ks))
        for name in names:
            grid.add_row(name, *(cell(name if k is None else f"{name}@{k}") for k in ks))
    else:
        grid = table("metric", "mean [95% CI]")
        for name in names:
            for k in ks:
                key = name if k is None else f"{name}@{k}"
                if key in intervals:
                    grid.add_row(key, cell(key))
    resamples = next(iter(intervals.values()))["n_resamples"]
    protocol = result["protocol"]
    return "\n".join([
        wrap(f"{result['split']} split: " + ", ".join(f"{k}={v}" for k, v in protocol.items())),
        f"95% intervals: bootstrap over users ({resamples} resamples)",
        render(grid)])


def format_beyond_accuracy(values: Mapping[str, float]) -> str:
    """Beyond-accuracy measures (``coverage@10``, ``gini@10``, ...): a row per measure, a
    column per k."""
    names, ks = _layout(values, ("coverage", "gini", "avg_popularity", "novelty", "ild"))
    grid = table("beyond accuracy", *map(_k_header, ks))
    for name in names:
        grid.add_row(name, *(
            f"{values[key]:.4g}" if (key := name if k is None else f"{name}@{k}") in values
            else "-" for k in ks))
    return render(grid)


def format_segments(name: str, segments: Mapping[str, Mapping[str, Any]]) -> str:
    """One segment breakdown (see ``RankingEvaluator.segments``) as a table."""
    metrics = [k for k in next(iter(segments.values())) if k not in ("users", "share")]
    grid = table("segment", "users", "share", *(f"{m} [95% CI]" for m in metrics))
    for segment, row in segments.items():
        grid.add_row(str(segment), f"{row['users']:,}", f"{row['share']:.1%}", *(
            _interval(row[m]["mean"], row[m]["ci95_low"], row[m]["ci95_high"])
            for m in metrics))
    return f"by {name.replace('_', ' ')}:\n" + render(grid)


def format_cold_start(cold: Mapping[str, Any], model: str = "model") -> str:
    """The cold-start protocol's breakdown (``cold_start`` of ``metrics.json`` or ``recsft
    evaluate``): the model and each baseline on warm and on cold targets."""
    info = cold["protocol"]
    rows = {model: cold["model"]}
    rows.update({name.replace("_", "-"): values for name, values in cold["baselines"].items()})
    first = next(iter(next(iter(rows.values())).values()))
    metrics = [k for k in first if k not in ("users", "share")]
    grid = table("targets", "scores", "users", *(f"{m} [95% CI]" for m in metrics), labels=2)
    for segment in ("warm_targets", "cold_targets"):
        for name, values in rows.items():
            row = values.get(segment)
            if row is None:
                continue
            grid.add_row(segment.split("_")[0], name, f"{row['users']:,}", *(
                _interval(row[m]["mean"], row[m]["ci95_low"], row[m]["ci95_high"])
                for m in metrics))
    header = wrap(f"cold-start protocol: {info.get('items', 0):,} items "
                  f"({info.get('fraction', 0):g} of the log's) held out from training, seed "
                  f"{info.get('seed')}; {info.get('train_events_removed', 0):,} training events "
                  f"removed ({info.get('file', '')})")
    return header + "\n" + render(grid)


def format_variants(result: Mapping[str, Any]) -> str:
    """``recsft windows`` / ``recsft cv``: one row per variant, then the summary."""
    keys = list(result["summary"])
    grid = table("variant", "users", *(f"{k} [95% CI]" for k in keys), "most-pop ndcg@10",
                 "drift")
    for name, row in result["variants"].items():
        drift = row.get("drift", {}).get("mean")
        grid.add_row(str(name), f"{row['users']:,}", *(
            _interval(row["intervals"][k]["mean"], row["intervals"][k]["ci95_low"],
                      row["intervals"][k]["ci95_high"]) for k in keys),
            f"{row['most_popular']['ndcg@10']:.4f}", "-" if drift is None else f"{drift:.3f}")
    lines = [render(grid)]
    for key, stats in result["summary"].items():
        extra = (f", slope {stats['slope_per_window']:+.4f}/window"
                 if "slope_per_window" in stats else "")
        lines.append(wrap(f"{key}: mean {stats['mean']:.4f} ± {stats['std']:.4f} (std), "
                          f"cv {stats['cv']:.3f}, range [{stats['min']:.4f}, {stats['max']:.4f}]"
                          + extra))
    return "\n".join(lines)


def format_metrics_table(record: Mapping[str, Any]) -> str:
    """The table of a run's ``metrics.json`` record: the model next to its baselines."""
    rows = {record["training"]["model_type"]: record["test"]}
    for name, baseline in record.get("baselines", {}).items():
        rows[name.replace("_", "-")] = baseline["test"]
    dataset = record["dataset"]
    header = wrap(
        f"test set: {dataset['users']:,} users, {dataset['items']:,} items, "
        f"{dataset['interactions']:,} interactions ({short_path(str(dataset['source']))})"
    )
    return header + "\n" + format_table(rows, protocol=record["protocol"])


def format_comparison(result: Mapping[str, Any]) -> str:
    """``recsft compare``'s result (:func:`recsft.runs.compare.compare_runs`): the differences
    (a row per metric), then the p-values of the three tests (two-sided, Holm-adjusted over
    the metrics in brackets)."""
    from recsft.runs.compare import TESTS

    tests = tuple(zip(TESTS, ("t-test p [Holm]", "Wilcoxon p [Holm]", "permutation p [Holm]")))
    first = next(iter(result["metrics"].values()))
    differences = table("metric", "A", "B", "B - A [95% CI]", "relative", "effect d")
    tested = table("metric", *(header for _, header in tests))
    for key, c in result["metrics"].items():
        diff = c["difference"]
        rel = c["relative_difference"]
        differences.add_row(
            key, f"{c['mean_a']:.4f}", f"{c['mean_b']:.4f}",
            f"{diff['mean']:+.4f} [{diff['ci95_low']:+.4f}, {diff['ci95_high']:+.4f}]",
            "-" if rel is None else f"{rel:+.1%}", f"{c['effect_size']:.3f}")
        tested.add_row(key, *(f"{c[t]:.2g} [{c[t + '_holm']:.2g}]" for t, _ in tests))
    return "\n".join([
        wrap(f"A = {result['run_a']}"), wrap(f"B = {result['run_b']}"),
        wrap(f"{result['split']} split, {first['n_users']:,} users, paired; p-values two-sided, "
             "Holm-adjusted over the metrics in brackets"),
        "", render(differences), "", render(tested)])


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
    return "\n".join(wrap(line, indent=" " * 14) for line in lines)
