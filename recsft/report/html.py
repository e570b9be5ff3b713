"""``recsft report``: one self-contained HTML page (no network: inline CSS, PNGs beside it) for
one run, or several runs side by side with paired significance against the first.

Contents: the protocol and dataset, the test metric table with 95 % bootstrap intervals,
training and validation curves, metrics by history length and by target popularity, the
popularity-bias chart, beyond-accuracy measures, and (with several runs) each run against the
first: difference with its interval and Holm-adjusted p-values.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any

__all__ = ["build_report", "REPORT_FILE"]

REPORT_FILE = "report.html"
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f5f5f5}
.muted{color:#666;font-size:.85rem}img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
.best{font-weight:600}.sig{color:#0a7a2f}.nsig{color:#999}
"""
_KEYS = ("ndcg@10", "recall@10", "mrr@10", "hit_rate@10", "ndcg@20", "recall@20")


def _escape(value: Any) -> str:
    return html.escape(str(value))


def _load_log(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, "training_log.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _metric_table(records: dict[str, dict]) -> str:
    keys = [k for k in _KEYS if all(k in r["metrics"] for r in records.values())]
    best = {k: max(r["metrics"][k] for r in records.values()) for k in keys}
    rows = ["<table><tr><th>run</th>" + "".join(f"<th>{_escape(k)}</th>" for k in keys)
            + "</tr>"]
    for name, record in records.items():
        cells = []
        for k in keys:
            value = record["metrics"][k]
            interval = record.get("intervals", {}).get(k)
            ci = (f"<br><span class='muted'>[{interval['ci95_low']:.4f}, "
                  f"{interval['ci95_high']:.4f}]</span>") if interval else ""
            css = " class='best'" if len(records) > 1 and value == best[k] else ""
            cells.append(f"<td{css}>{value:.4f}{ci}</td>")
        rows.append(f"<tr><td>{_escape(name)}</td>{''.join(cells)}</tr>")
    return "\n".join(rows) + "</table>"


def _beyond_table(records: dict[str, dict]) -> str:
    keys = [k for k in ("coverage@10", "gini@10", "avg_popularity@10", "novelty@10", "ild@10")
            if all(k in r.get("beyond_accuracy", {}) for r in records.values())]
    rows = ["<table><tr><th>run</th>" + "".join(f"<th>{_escape(k)}</th>" for k in keys)
            + "</tr>"]
    for name, record in records.items():
        rows.append(f"<tr><td>{_escape(name)}</td>" + "".join(
            f"<td>{record['beyond_accuracy'][k]:.4f}</td>" for k in keys) + "</tr>")
    return "\n".join(rows) + "</table>"


def _comparison_table(comparisons: dict[str, dict]) -> str:
    rows = ["<table><tr><th>run vs first</th><th>metric</th><th>first</th><th>run</th>"
            "<th>difference [95% CI]</th><th>relative</th><th>t-test p (Holm)</th>"
            "<th>Wilcoxon p (Holm)</th><th>permutation p (Holm)</th></tr>"]
    for name, result in comparisons.items():
        for key, c in result["metrics"].items():
            diff = c["difference"]
            significant = c["permutation_p_holm"] < 0.05
            rel = (f"{c['relative_difference']:+.1%}" if c["relative_difference"] is not None
                   else "–")
            tests = "".join(
                f"<td class='{'sig' if c[t + '_holm'] < 0.05 else 'nsig'}'>{c[t]:.2g} "
                f"({c[t + '_holm']:.2g})</td>" for t in ("t_test_p", "wilcoxon_p",
                                                          "permutation_p"))
            rows.append(
                f"<tr><td>{_escape(name)}</td><td>{_escape(key)}</td><td>{c['mean_a']:.4f}</td>"
                f"<td>{c['mean_b']:.4f}</td><td class='{'sig' if significant else 'nsig'}'>"
                f"{diff['mean']:+.4f} [{diff['ci95_low']:+.4f}, {diff['ci95_high']:+.4f}]</td>"
                f"<td>{rel}</td>{tests}</tr>")
    return "\n".join(rows) + "</table>"


def build_report(run_dirs: list[str], output_dir: str | None = None, n_resamples: int = 1000,
                 split: str = "test") -> str:
    """Evaluate the runs and write ``report.html`` with its PNGs into ``output_dir``.

    Args:
        run_dirs: One or more run folders (several: evaluated on the same users, compared
            pairwise with the first).
        output_dir: Target folder (default: ``<first run>/report``).
        n_resamples: Bootstrap resamples of the intervals and comparisons.
        split: ``test`` or ``valid``.

    Returns:
        The path of ``report.html``.
    """
    from recsft.errors import RecsftError
    from recsft.runs import Run

    if not run_dirs:
        raise RecsftError("give at least one run folder")
    runs = [Run.open(run_dir) for run_dir in run_dirs]     # checked before anything is written
    names = [os.path.basename(os.path.normpath(r)) for r in run_dirs]
    if len(set(names)) != len(names):
        names = [os.path.normpath(r) for r in run_dirs]
    from recsft.fileio import swap_in, temporary_folder
    from recsft.runs.guard import check_folder_output

    final = check_folder_output(output_dir or os.path.join(run_dirs[0], "report"), "--output",
                                _is_report_folder, "a report", inputs=tuple(run_dirs))
    work = temporary_folder(final.resolve().parent, final.name)
    try:
        _write_report(runs, run_dirs, names, str(work), n_resamples, split)
        swap_in(work, final)
    except BaseException:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        raise
    return str(final / "report.html")


def _is_report_folder(path: Any) -> bool:
    """A folder ``recsft report`` wrote: it holds ``report.json`` and ``report.html``."""
    return os.path.isfile(os.path.join(path, "report.json")) and os.path.isfile(
        os.path.join(path, "report.html"))


def _write_report(runs: list[Any], run_dirs: list[str], names: list[str], output_dir: str,
                  n_resamples: int, split: str) -> None:
    """Evaluate the runs and write the report's files into ``output_dir`` (a new folder)."""
    from recsft.fileio import atomic_write_text
    from recsft.report import plots
    from recsft.runs.compare import compare_results
    from recsft.runs.evaluate import evaluate_run

    # Each run is evaluated once; the comparisons pair the per-user values of those passes.
    records = {name: evaluate_run(run, split, n_resamples=n_resamples, segments=True,
                                  per_user=len(run_dirs) > 1)
               for name, run in zip(names, runs)}
    comparisons = {name: compare_results(run_dirs[0], records[names[0]], run_dir, records[name],
                                         n_resamples=n_resamples)
                   for name, run_dir in zip(names[1:], run_dirs[1:])}
    for record in records.values():
        record.pop("per_user", None)
        record.pop("users", None)
    logs = {name: _load_log(run_dir) for name, run_dir in zip(names, run_dirs)}
    figures = {
        "curves": plots.training_curves({n: rows for n, rows in logs.items() if rows},
                                        os.path.join(output_dir, "curves.png")),
        "metrics": plots.metric_bars(records, os.path.join(output_dir, "metrics.png")),
        "history": plots.segment_bars(records, "history_length",
                                      os.path.join(output_dir, "history_length.png"),
                                      title="NDCG@10 by history length (events)"),
        "popularity": plots.segment_bars(records, "target_popularity",
                                         os.path.join(output_dir, "target_popularity.png"),
                                         title="NDCG@10 by target-item popularity"),
        "exposure": plots.popularity_exposure_chart(
            records, os.path.join(output_dir, "popularity_bias.png")),
    }
    first = records[names[0]]
    protocol = first["protocol"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>recsft report: {_escape(', '.join(names))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>recsft report: {_escape(' vs '.join(names))}</h1>",
        f"<p class='muted'>dataset <b>{_escape(first['dataset'].get('source'))}</b>: "
        f"{first['dataset'].get('users', 0):,} users, {first['dataset'].get('items', 0):,} "
        f"items, {first['dataset'].get('interactions', 0):,} interactions · split "
        f"{_escape(protocol.get('split'))}, ranking {_escape(protocol.get('ranking', 'full'))}, "
        f"history filtered: {_escape(protocol.get('filter_seen'))}, "
        f"{protocol.get('num_users', 0):,} users × {protocol.get('num_items', 0):,} items · "
        f"intervals: 95% bootstrap over users ({n_resamples} resamples)</p>",
        "<h2>Test metrics</h2>", _metric_table(records),
        "<img src='metrics.png' alt='test metrics with intervals'>",
    ]
    if comparisons:
        parts += ["<h2>Against the first run (paired, same users)</h2>",
                  "<p class='muted'>green: Holm-adjusted p &lt; 0.05 over the metrics "
                  "compared.</p>", _comparison_table(comparisons)]
    parts += [
        "<h2>Training</h2>", "<img src='curves.png' alt='training and validation curves'>",
        "<h2>By history length</h2>", "<img src='history_length.png' alt='by history length'>",
        "<h2>By target popularity</h2>",
        "<p class='muted'>head: the most popular items holding 20% of training interactions; "
        "tail: the least popular; cold: no training interaction.</p>",
        "<img src='target_popularity.png' alt='by target popularity'>",
        "<h2>Popularity bias</h2>",
        "<p class='muted'>Share of the top-10 slots going to each popularity decile of the "
        "catalogue, against the held-out targets (what users actually picked) and training. "
        "Bars above the black line: over-exposure.</p>",
        "<img src='popularity_bias.png' alt='popularity bias'>",
        "<h2>Beyond accuracy</h2>", _beyond_table(records),
        f"<p class='muted'>runs: {_escape(', '.join(run_dirs))}</p></body></html>",
    ]
    atomic_write_text(os.path.join(output_dir, "report.json"), json.dumps(
        {"records": records, "comparisons": comparisons, "figures": figures}, indent=2,
        default=float))
    atomic_write_text(os.path.join(output_dir, "report.html"), "\n".join(parts))
