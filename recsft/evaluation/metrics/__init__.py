"""Evaluation metrics shipped with recsft, usable offline (no Hugging Face Hub access).

Two ways to load one by its name (``"ranking"``, ``"classification"``, ``"probabilistic"``):

- ``load_metric("ranking")`` instantiates the shipped ``evaluate.Metric`` subclass directly;
- ``evaluate.load(metric_script_path("ranking"))``: each metric file is a self-contained
  ``evaluate`` script, and ``evaluate.load`` given the path of a local script loads it without
  any network access (it copies the script into its modules cache, ``HF_MODULES_CACHE``, and
  imports it from there, whether or not ``HF_HUB_OFFLINE`` is set).

``evaluate.load("ranking")`` (a bare name) is not one of them: evaluate 0.4 reads a bare name
as ``./ranking/ranking.py`` or else as the Hub module ``evaluate-metric/ranking``, which is
not recsft's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import evaluate

from .classification import ClassificationMetrics, classification_metrics
from .probabilistic import ProbabilisticMetrics, probabilistic_metrics
from .ranking import (
    RankingMetrics,
    compute_from_ranks,
    compute_ranking_metrics,
    ranking_metrics_per_user,
    ranking_metrics_per_user_from_ranks,
)

METRICS: dict[str, type[evaluate.Metric]] = {
    "ranking": RankingMetrics,
    "classification": ClassificationMetrics,
    "probabilistic": ProbabilisticMetrics,
}

_SCRIPTS: dict[str, str] = {"ranking": "ranking.py", "classification": "classification.py",
                            "probabilistic": "probabilistic.py"}


def _check_name(name: str) -> str:
    if name not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise ValueError(f"Unknown metric {name!r}; known metrics: {known}")
    return name


def load_metric(name: str, **kwargs: Any) -> evaluate.Metric:
    """Instantiate a shipped metric without touching the Hugging Face Hub.

    Args:
        name: Registry name, one of ``METRICS`` (``"ranking"``, ``"classification"``,
            ``"probabilistic"``).
        **kwargs: Forwarded to ``evaluate.Metric.__init__`` (e.g. ``keep_in_memory``,
            ``cache_dir``, ``experiment_id``, ``num_process``, ``process_id``).

    Returns:
        A fresh ``evaluate.Metric`` instance.

    Raises:
        ValueError: If ``name`` is not a known metric (the message lists the known names).
    """
    return METRICS[_check_name(name)](**kwargs)


def metric_script_path(name: str) -> str:
    """Absolute path of a shipped metric's script, for ``evaluate.load(path)``.

    Args:
        name: Registry name, one of ``METRICS``.

    Returns:
        Absolute filesystem path of the ``.py`` file.

    Raises:
        ValueError: If ``name`` is not a known metric (the message lists the known names).

    Example:
        >>> import evaluate
        >>> ranking = evaluate.load(metric_script_path("ranking"))   # doctest: +SKIP
    """
    return str(Path(__file__).resolve().parent / _SCRIPTS[_check_name(name)])


__all__ = [
    "METRICS",
    "ClassificationMetrics",
    "ProbabilisticMetrics",
    "RankingMetrics",
    "classification_metrics",
    "probabilistic_metrics",
    "compute_from_ranks",
    "compute_ranking_metrics",
    "load_metric",
    "metric_script_path",
    "ranking_metrics_per_user",
    "ranking_metrics_per_user_from_ranks",
]
