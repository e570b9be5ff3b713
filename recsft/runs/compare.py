"""Paired comparison of two runs on the same users: differences with intervals, three tests,
Holm's adjustment over the metrics.

:func:`compare_results` takes two per-user evaluations (``evaluate_run(..., per_user=True)``),
so a caller that already evaluated its runs (the report) does not evaluate them again;
:func:`compare_runs` evaluates two run folders and compares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recsft.errors import RecsftError

DEFAULT_METRICS = ("ndcg@10", "recall@10", "mrr@10")
TESTS = ("t_test_p", "wilcoxon_p", "permutation_p")


def compare_runs(run_a: str, run_b: str, split: str = "test",
                 metrics: Sequence[str] = DEFAULT_METRICS, n_resamples: int = 1000,
                 n_permutations: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of run B against run A (see :func:`compare_results`).

    Args:
        run_a: Reference run folder.
        run_b: Run folder compared with it.
        split: ``"test"`` or ``"valid"``.
        metrics: Metric keys to compare (the Holm family).
        n_resamples: Bootstrap resamples for the intervals.
        n_permutations: Sign flips of the permutation test.
        seed: Seed of the bootstrap and permutations.
    """
    from recsft.runs.evaluate import evaluate_run

    results = [evaluate_run(run, split, n_resamples=0, per_user=True) for run in (run_a, run_b)]
    return compare_results(run_a, results[0], run_b, results[1], metrics, n_resamples,
                           n_permutations, seed)


def compare_results(name_a: str, result_a: dict[str, Any], name_b: str,
                    result_b: dict[str, Any], metrics: Sequence[str] = DEFAULT_METRICS,
                    n_resamples: int = 1000, n_permutations: int = 10_000, seed: int = 0
                    ) -> dict[str, Any]:
    """Paired comparison of two per-user evaluations.

    Args:
        name_a: How the reference is named in the result.
        result_a: ``evaluate_run(..., per_user=True)`` of the reference.
        name_b: How the other run is named.
        result_b: The same for it.
        metrics: Metric keys to compare (the Holm family).
        n_resamples: Bootstrap resamples for the intervals.
        n_permutations: Sign flips of the permutation test.
        seed: Seed of the bootstrap and permutations.

    Returns:
        ``{"run_a", "run_b", "split", "protocol", "dataset", "metrics": {key: comparison}}``;
        see :func:`recsft.evaluation.statistics.paired_comparison` for a comparison's fields,
        plus ``<test>_holm`` for each p-value.

    Raises:
        RecsftError: the runs were evaluated on different users or targets, under different
            protocols, or a metric is unknown.
    """
    from recsft.evaluation.statistics import holm, paired_comparison

    users_a, users_b = result_a["per_user"], result_b["per_user"]
    if result_a["users"] != result_b["users"]:
        raise RecsftError(f"{name_a} and {name_b} were evaluated on different users or "
                          "targets; a paired comparison needs the same data, preprocessing "
                          "and split")
    protocol_a, protocol_b = result_a["protocol"], result_b["protocol"]
    differing = sorted(k for k in protocol_a if protocol_a[k] != protocol_b.get(k)
                       and k != "max_length")
    if differing:
        raise RecsftError(f"{name_a} and {name_b} differ in evaluation protocol "
                          f"({differing[0]}: {protocol_a[differing[0]]} vs "
                          f"{protocol_b.get(differing[0])})")
    unknown = [key for key in metrics if key not in users_a]
    if unknown:
        raise RecsftError(f"--metric: unknown metric '{unknown[0]}'; expected some of "
                          f"{sorted(users_a)}")
    compared = {
        key: paired_comparison(users_a[key], users_b[key], n_resamples, n_permutations, seed)
        for key in metrics
    }
    for test in TESTS:
        for key, adjusted in holm({k: c[test] for k, c in compared.items()}).items():
            compared[key][f"{test}_holm"] = adjusted
    data_a, data_b = result_a["dataset"], result_b["dataset"]
    return {
        "run_a": name_a,
        "run_b": name_b,
        "split": result_a["split"],
        "protocol": {"a": protocol_a, "b": protocol_b},
        "dataset": data_a if data_a == data_b else {"a": data_a, "b": data_b},
        "metrics": compared,
    }

