import itertools

import numpy as np
import pytest

from recsft.evaluation.statistics import (
    bootstrap_interval,
    holm,
    normal_interval,
    paired_comparison,
    permutation_p_value,
)


def test_normal_interval_matches_the_formula():
    values = np.array([0.0, 0.5, 1.0, 0.25, 0.75])
    result = normal_interval(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(5)
    assert result == pytest.approx({"mean": 0.5, "ci95_low": 0.5 - half, "ci95_high": 0.5 + half})
    with pytest.raises(ValueError, match="at least two values"):
        normal_interval(np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        normal_interval(np.array([1.0, np.nan]))


def test_bootstrap_interval_is_seeded_and_agrees_with_the_normal_one_on_many_users():
    rng = np.random.default_rng(0)
    values = (rng.random(5000) < 0.1).astype(float)  # hit rates of 5,000 users
    boot = bootstrap_interval(values, n_resamples=2000, seed=1)
    assert boot == bootstrap_interval(values, n_resamples=2000, seed=1)
    normal = normal_interval(values)
    assert boot["mean"] == normal["mean"]
    assert boot["ci95_low"] < boot["mean"] < boot["ci95_high"]
    assert boot["ci95_low"] == pytest.approx(normal["ci95_low"], abs=0.002)
    assert boot["ci95_high"] == pytest.approx(normal["ci95_high"], abs=0.002)


def test_permutation_p_value_matches_exact_enumeration():
    differences = np.array([0.3, 0.1, -0.05, 0.2, 0.25, 0.0, 0.15, -0.1])
    observed = abs(differences.mean())
    flips = np.array(list(itertools.product([-1, 1], repeat=differences.size)))
    exact = np.mean(np.abs(flips @ differences) / differences.size >= observed - 1e-12)
    assert permutation_p_value(differences, n_permutations=20_000, seed=3) == pytest.approx(
        exact, abs=0.01)


def test_paired_comparison_against_scipy_and_in_the_edge_cases():
    from scipy import stats

    rng = np.random.default_rng(4)
    a = rng.random(300)
    b = a + rng.normal(0.05, 0.2, size=300)
    result = paired_comparison(a, b, n_permutations=2000)
    assert result["t_test_p"] == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert result["wilcoxon_p"] == pytest.approx(stats.wilcoxon(b - a).pvalue)
    assert result["effect_size"] == pytest.approx((b - a).mean() / (b - a).std(ddof=1))
    assert result["difference"]["mean"] == pytest.approx((b - a).mean())
    assert result["t_test_p"] < 0.01 and result["permutation_p"] < 0.01

    same = paired_comparison(a, a.copy(), n_permutations=100)
    assert same["t_test_p"] == same["wilcoxon_p"] == 1.0 and same["effect_size"] == 0.0
    with pytest.raises(ValueError, match="the same users"):
        paired_comparison(a, b[:-1])


def test_holm_adjustment():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert list(adjusted) == ["a", "b", "c"]
    assert holm({"x": 0.7, "y": 0.9}) == {"x": 1.0, "y": 1.0}


def test_seed_interval_is_a_student_t_interval():
    from recsft.evaluation.statistics import seed_interval

    values = np.array([0.050, 0.053, 0.056])
    result = seed_interval(values)
    half = 4.302653 * values.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert result["mean"] == pytest.approx(0.053)
    assert result["ci95_low"] == pytest.approx(0.053 - half, rel=1e-5)
    assert result["ci95_high"] == pytest.approx(0.053 + half, rel=1e-5)
    assert result["n"] == 3 and result["std"] == pytest.approx(0.003)
    with pytest.raises(ValueError, match="at least two values"):
        seed_interval([0.05])
