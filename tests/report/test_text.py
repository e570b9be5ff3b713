"""Terminal tables (recsft.report.text): every line at most 100 columns, the numbers in their
cells, on realistic records."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recsft.report import text

KS = (1, 5, 10, 20, 50, 100)
NAMES = ("recall", "ndcg", "mrr", "hit_rate", "precision", "map")


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    # A terminal wider than the limit: the tables still stop at 100 columns.
    monkeypatch.setenv("COLUMNS", "220")


def _metrics(seed: int, ks=KS) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {f"{name}@{k}": float(rng.uniform(0, 0.3)) for k in ks for name in NAMES}


def _record(ks=KS, source="synthetic") -> dict:
    """A run's metrics.json record as the pipeline writes it (the keys the table reads)."""
    return {
        "dataset": {"source": source, "users": 22363, "items": 12101, "interactions": 198502},
        "protocol": {"split": "leave-one-out", "filter_seen": True, "num_users": 22363,
                     "num_items": 12101, "max_length": 50, "ranking": "full"},
        "test": _metrics(0, ks),
        "baselines": {"most_popular": {"test": _metrics(1, ks)}},
        "training": {"model_type": "lstm_attention"},
    }


def _lines(table: str) -> list[str]:
    return table.splitlines()


def _fits(table: str) -> None:
    too_wide = [line for line in _lines(table) if len(line) > 100]
    assert not too_wide, too_wide


@pytest.mark.parametrize("ks", [(5, 10, 20), KS])
def test_metrics_table_fits_100_columns(ks) -> None:
    record = _record(ks, source="/data/amazon/" + "very-long-folder-name/" * 6 + "Beauty.txt")
    table = text.format_metrics_table(record)
    _fits(table)
    # Metrics as rows, k as columns; the model next to its baseline.
    header = next(line for line in _lines(table) if line.startswith("metric"))
    assert header.split() == ["metric", "model", *(f"@{k}" for k in ks)]
    ndcg = next(line for line in _lines(table) if line.startswith("ndcg "))
    assert ndcg.split() == ["ndcg", "lstm_attention",
                            *(f"{record['test'][f'ndcg@{k}']:.4f}" for k in ks)]
    below = _lines(table)[_lines(table).index(ndcg) + 1]
    assert below.split() == ["most-popular", *(
        f"{record['baselines']['most_popular']['test'][f'ndcg@{k}']:.4f}" for k in ks)]
    # Only the four ranking metrics of the training table.
    assert not any(line.startswith(("precision", "map ")) for line in _lines(table))
    assert "test set: 22,363 users, 12,101 items, 198,502 interactions" in table


def test_the_old_table_was_wider_than_100_columns() -> None:
    """The problem this module solves: 12 metric columns side by side (~150 columns)."""
    keys = [f"{name}@{k}" for name in text.KEY_ORDER for k in (5, 10, 20)]
    old_header = f"{'model':<14}  " + "  ".join(f"{k:>11}" for k in keys)
    assert len(old_header) > 140
    _fits(text.format_metrics_table(_record((5, 10, 20))))


def _intervals(metrics: dict[str, float]) -> dict:
    return {key: {"mean": value, "ci95_low": value * 0.8, "ci95_high": value * 1.2,
                  "n_resamples": 1000} for key, value in metrics.items()}


@pytest.mark.parametrize("ks", [(5, 10, 20), KS])
def test_intervals_table(ks) -> None:
    metrics = _metrics(2, ks)
    result = {"split": "test", "protocol": _record()["protocol"], "metrics": metrics,
              "intervals": _intervals(metrics)}
    table = text.format_intervals(result)
    _fits(table)
    assert "bootstrap over users (1000 resamples)" in table
    # Each interval whole on one line: every metric's mean and bounds are there.
    cells = re.findall(r"(\d\.\d{4}) \[(\d\.\d{4}), (\d\.\d{4})\]", table)
    assert len(cells) == len(metrics)
    ndcg10 = metrics["ndcg@10"]
    assert (f"{ndcg10:.4f}", f"{ndcg10 * 0.8:.4f}", f"{ndcg10 * 1.2:.4f}") in cells
    rows = [line.split()[0] for line in _lines(table)[-len(metrics) // len(ks) * (
        1 if len(ks) == 3 else len(ks)):]]
    if len(ks) == 3:    # a column per k
        assert rows == ["recall", "ndcg", "mrr", "hit_rate", "map", "precision"]
    else:               # too many for one line: a row per metric and k
        assert rows[:len(ks)] == [f"recall@{k}" for k in ks]


def test_segments_variants_and_beyond_accuracy_fit() -> None:
    row = {m: {"mean": 0.1234, "ci95_low": 0.1, "ci95_high": 0.15} for m in
           ("ndcg@10", "recall@10", "mrr@10")}
    segments = {name: {"users": 12345, "share": 0.25, **row} for name in
                ("2-4", "5-9", "10-19", "20-49", "50+")}
    table = text.format_segments("history_length", segments)
    _fits(table)
    assert table.startswith("by history length:")
    assert "12,345" in table and "25.0%" in table

    interval = {"mean": 0.05, "ci95_low": 0.04, "ci95_high": 0.06}
    variants = {"summary": {k: {"mean": 0.05, "std": 0.01, "cv": 0.2, "min": 0.04,
                                "max": 0.06, "slope_per_window": 0.001}
                            for k in ("ndcg@10", "recall@10", "mrr@10")},
                "variants": {f"window {i}": {"users": 4000, "most_popular": {"ndcg@10": 0.01},
                                             "intervals": {k: interval for k in
                                                           ("ndcg@10", "recall@10", "mrr@10")},
                                             "drift": {"mean": 0.3}} for i in range(4)}}
    table = text.format_variants(variants)
    _fits(table)
    assert "window 3" in table and "slope +0.0010/window" in table

    beyond = {f"{name}@{k}": 0.5 for k in KS
              for name in ("coverage", "gini", "avg_popularity", "novelty", "ild")}
    table = text.format_beyond_accuracy(beyond)
    _fits(table)
    assert _lines(table)[0].split() == ["beyond", "accuracy", *(f"@{k}" for k in KS)]


def test_comparison_table_fits() -> None:
    metric = {"mean_a": 0.0412, "mean_b": 0.0455, "n_users": 22363,
              "difference": {"mean": 0.0043, "ci95_low": -0.0012, "ci95_high": 0.0101},
              "relative_difference": 0.104, "effect_size": 0.021,
              **{f"{t}{h}": p for t in ("t_test_p", "wilcoxon_p", "permutation_p")
                 for h, p in (("", 1.234e-5), ("_holm", 3.7e-5))}}
    result = {"run_a": "runs/" + "a" * 120, "run_b": "runs/b", "split": "test",
              "metrics": {key: metric for key in ("ndcg@10", "recall@10", "mrr@10")}}
    table = text.format_comparison(result)
    _fits(table)
    assert "+0.0043 [-0.0012, +0.0101]" in table and "1.2e-05 [3.7e-05]" in table


def test_stats_lines_fit() -> None:
    stats = {"users": 1, "items": 2, "interactions": 3, "density": 0.5,
             "sequence_length": {"min": 1, "mean": 2.5, "max": 4},
             "event_types": {f"type{i}": {"share": 0.05} for i in range(20)},
             "time_span": None}
    _fits(text.format_stats(stats))
