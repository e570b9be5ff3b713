"""Compare two run folders on the same users: per-metric differences, intervals and p-values.

Both runs are re-evaluated with their own evaluator (as ``recsft evaluate``); the comparison is
paired, so the two runs must have been evaluated on the same users with the same targets (the
same data, preprocessing and split). For every metric it reports B − A with a bootstrap interval,
the relative change, Cohen's d of the paired differences, and the p-values of the paired t-test,
the Wilcoxon signed-rank test and a sign-flip permutation test; each kind of p-value is also
Holm-adjusted over the metrics compared.

Example:
    >>> result = compare_runs("runs/gru4rec-beauty", "runs/sasrec-beauty")
    >>> result["metrics"]["ndcg@10"]["t_test_p_holm"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_METRICS = ("ndcg@10", "recall@10", "mrr@10")
TESTS = ("t_test_p", "wilcoxon_p", "permutation_p")


def compare_runs(
    run_a: str,
    run_b: str,
    split: str = "test",
    metrics: Sequence[str] = DEFAULT_METRICS,
    n_resamples: int = 1000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of run B against run A.

    Args:
        run_a: Reference run folder.
        run_b: Run folder compared with it.
        split: ``"test"`` or ``"valid"``.
        metrics: Metric keys to compare (the Holm family).
        n_resamples: Bootstrap resamples for the intervals.
        n_permutations: Sign flips of the permutation test.
        seed: Seed of the bootstrap and permutations.

    Returns:
        ``{"run_a", "run_b", "split", "protocol", "dataset", "metrics": {key: comparison}}``;
        see :func:`recsft.evaluation.statistics.paired_comparison` for a comparison's fields,
        plus ``<test>_holm`` for each p-value.

    Raises:
        ValueError: the runs were evaluated on different users or targets, under different
            protocols, or a metric is unknown.
    """
    from recsft.evaluation.ranking import model_scorer
    from recsft.evaluation.statistics import holm, paired_comparison
    from recsft.training.pipeline import load_run

    evaluated = {}
    for run in (run_a, run_b):
        model, evaluator, log = load_run(run, split)
        _, per_user = evaluator.evaluate_with_users(model_scorer(model))
        evaluated[run] = (evaluator, per_user, {"source": log.source, **log.stats()})
    (eval_a, users_a, data_a), (eval_b, users_b, data_b) = evaluated[run_a], evaluated[run_b]
    if eval_a.user_ids != eval_b.user_ids or eval_a.target_items != eval_b.target_items:
        raise ValueError(f"{run_a} and {run_b} were evaluated on different users or targets; a "
                         "paired comparison needs the same data, preprocessing and split")
    protocol_a, protocol_b = eval_a.protocol.to_dict(), eval_b.protocol.to_dict()
    differing = sorted(k for k in protocol_a if protocol_a[k] != protocol_b.get(k)
                       and k != "max_length")
    if differing:
        raise ValueError(f"{run_a} and {run_b} differ in evaluation protocol ({differing[0]}: "
                         f"{protocol_a[differing[0]]} vs {protocol_b.get(differing[0])})")
    unknown = [key for key in metrics if key not in users_a]
    if unknown:
        raise ValueError(f"unknown metric '{unknown[0]}'; expected some of {sorted(users_a)}")
    compared = {
        key: paired_comparison(users_a[key], users_b[key], n_resamples, n_permutations, seed)
        for key in metrics
    }
    for test in TESTS:
        for key, adjusted in holm({k: c[test] for k, c in compared.items()}).items():
            compared[key][f"{test}_holm"] = adjusted
    return {
        "run_a": run_a,
        "run_b": run_b,
        "split": split,
        "protocol": {"a": protocol_a, "b": protocol_b},
        "dataset": data_a if data_a == data_b else {"a": data_a, "b": data_b},
        "metrics": compared,
    }


def format_comparison(result: dict[str, Any]) -> str:
    """The comparison as a text table: one row per metric."""
    lines = [f"A = {result['run_a']}", f"B = {result['run_b']}",
             f"{result['split']} split, {next(iter(result['metrics'].values()))['n_users']:,} "
             "users, paired; p-values two-sided, Holm-adjusted over the metrics in brackets", ""]
    header = (f"{'metric':<12} {'A':>8} {'B':>8} {'B - A [95% CI]':>28} {'rel':>8} {'d':>7} "
              f"{'t-test p':>18} {'Wilcoxon p':>18} {'permutation p':>18}")
    lines.append(header)
    for key, c in result["metrics"].items():
        diff = c["difference"]
        interval = f"{diff['mean']:+.4f} [{diff['ci95_low']:+.4f}, {diff['ci95_high']:+.4f}]"
        rel = f"{c['relative_difference']:+.1%}" if c["relative_difference"] is not None else "-"
        tests = " ".join(f"{c[t]:>8.2g} [{c[t + '_holm']:.2g}]".rjust(18) for t in TESTS)
        lines.append(f"{key:<12} {c['mean_a']:>8.4f} {c['mean_b']:>8.4f} {interval:>28} "
                     f"{rel:>8} {c['effect_size']:>7.3f} {tests}")
    return "\n".join(lines)
