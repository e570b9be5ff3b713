"""Random draws shared by the synthetic generator's steps: time gaps and categorical picks.

Each helper draws a fixed number of values from the generator it is given (or none, for a
zero mean), so the order of calls in the generator fixes the output.

Example:
    >>> import numpy as np
    >>> from recsft.data.synthetic.draws import _cdf_pick, _exp_seconds
    >>> rng = np.random.default_rng(0)
    >>> bool((_exp_seconds(rng, 60.0, 4, 5) >= 5).all())
    True
    >>> _cdf_pick(rng, np.array([0.0, 1.0]), 3).tolist()
    [1, 1, 1]
"""

from __future__ import annotations

import numpy as np


def _exp_seconds(rng: np.random.Generator, mean: float, size: int, floor: int) -> np.ndarray:
    """Integer gaps of ``floor + Exponential(mean)`` seconds (at least ``floor``).

    Args:
        rng: Generator; ``size`` exponential draws, none when ``mean <= 0``.
        mean: Mean of the exponential part, in seconds.
        size: Number of gaps.
        floor: Smallest gap, in seconds.

    Returns:
        int64 gaps, shape ``(size,)``.
    """
    if mean <= 0:
        return np.full(size, floor, dtype=np.int64)
    return floor + np.floor(rng.exponential(mean, size=size)).astype(np.int64)


def _cdf_pick(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from the distribution with cumulative probabilities ``cdf``.

    Args:
        rng: Generator; ``size`` uniform draws.
        cdf: Cumulative probabilities, shape ``(k,)``.
        size: Number of draws.

    Returns:
        Indices in ``[0, k)``, shape ``(size,)``.
    """
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), cdf.shape[0] - 1)
