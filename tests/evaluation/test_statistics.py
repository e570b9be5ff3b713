import numpy as np
import pytest

from recsft.evaluation.statistics import normal_interval


def test_normal_interval_matches_the_formula():
    values = np.array([0.0, 0.5, 1.0, 0.25, 0.75])
    result = normal_interval(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(5)
    assert result == pytest.approx({"mean": 0.5, "ci95_low": 0.5 - half, "ci95_high": 0.5 + half})
    with pytest.raises(ValueError, match="at least two values"):
        normal_interval(np.array([1.0]))
