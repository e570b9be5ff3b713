"""Confidence intervals of per-user metric averages.

Example:
    >>> normal_interval(np.array([0.0, 1.0, 1.0, 0.0]))["mean"]
    0.5
"""

from __future__ import annotations

import numpy as np


def normal_interval(values: np.ndarray, z: float = 1.96) -> dict[str, float]:
    """Mean of per-user values with a normal-approximation 95% interval.

    Args:
        values: ``(n_users,)`` per-user metric values, or per-user paired differences.
        z: Normal quantile (1.96 for 95%).

    Returns:
        ``{"mean", "ci95_low", "ci95_high"}``.

    Raises:
        ValueError: fewer than two values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        raise ValueError(f"an interval needs at least two values, got {values.size}")
    mean = float(values.mean())
    half = float(z * values.std(ddof=1) / np.sqrt(values.size))
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}
