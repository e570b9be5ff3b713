"""The structured part of a run's model card: the ``model-index`` evaluation results the Hub
renders (built as ``huggingface_hub.EvalResult`` objects), their 95% intervals, and the
dataset's identity.

Every result is one test metric of ``metrics.json`` (NDCG@k, Recall@k and MRR@k at the run's
cut-offs) with:

- task: ``type: sequential-recommendation``, ``name: Sequential recommendation (next item)``.
  The Hub has no recommendation pipeline type; ``model-index`` accepts free task types (MTEB
  cards use ``Retrieval``), and this one says what the numbers measure;
- dataset: ``type`` the registry name (``amazon-beauty``), ``recsft-synthetic``,
  ``recsft-in-memory`` (events handed to ``recsft.train``) or the event file's name;
  ``name`` its description; ``split: test``; ``revision`` a fingerprint of the prepared data
  (:func:`data_revision`); ``args`` the protocol (leave-one-out, full ranking, history
  filtered, maximum length, users evaluated, items ranked);
- metric: ``type`` ``ndcg_at_10``-style ids (as retrieval cards on the Hub use), ``value`` the
  trainer's test figure, ``name`` ``NDCG@10 (95% CI 0.2511-0.2862)`` — the interval is in the
  name because the Hub renders name and value only —, ``args: {k: 10}``.

The intervals are percentile bootstraps over the evaluated users
(:func:`recsft.evaluation.statistics.bootstrap_interval`, seed 0) of a re-evaluation of the run
(:func:`recsft.runs.evaluate.evaluate_run`), which must reproduce ``metrics.json``'s figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsft.runs import Run

logger = logging.getLogger(__name__)

__all__ = ["INDEX_METRICS", "TASK_NAME", "TASK_TYPE", "data_revision", "dataset_identity",
           "card_intervals", "eval_results"]

TASK_TYPE = "sequential-recommendation"
TASK_NAME = "Sequential recommendation (next item)"
INDEX_METRICS = {"ndcg": "NDCG", "recall": "Recall", "mrr": "MRR"}


def dataset_identity(dataset: dict[str, Any], stats: dict[str, Any]) -> dict[str, str]:
    """``type`` and ``name`` of the data in ``model-index`` terms.

    Args:
        dataset: The card's description of the data (``kind``, ``name``, ``registry``).
        stats: ``metrics.json``'s ``dataset`` record.

    Returns:
        ``{"type", "name", "revision"}``.
    """
    if dataset["kind"] == "synthetic":
        kind, name = "recsft-synthetic", "Synthetic shop (recsft generator)"
    elif dataset["kind"] == "named":
        kind, name = dataset["registry"], dataset["title"]
    elif dataset["kind"] == "memory":
        kind, name = "recsft-in-memory", dataset["name"][:1].upper() + dataset["name"][1:]
    else:
        kind, name = dataset["filename"], f"Local event file {dataset['filename']}"
    return {"type": kind, "name": name, "revision": data_revision(kind, stats)}


def data_revision(kind: str, stats: dict[str, Any]) -> str:
    """A fingerprint of the prepared data: the first 12 hex digits of the SHA-256 of the
    dataset's type, its processing steps with their parameters and counts, and its user, item
    and interaction counts, as ``metrics.json`` records them. Two runs with the same revision
    were split from identically prepared data."""
    payload = {"type": kind, "steps": stats.get("steps") or [],
               "counts": [stats.get(key) for key in ("users", "items", "interactions")]}
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return "recsft-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def protocol_args(protocol: dict[str, Any]) -> dict[str, Any]:
    """The evaluation protocol as ``model-index`` dataset arguments."""
    keys = (("split", "protocol"), ("ranking", "ranking"), ("filter_seen", "filter_seen"),
            ("max_length", "max_length"), ("num_users", "users_evaluated"),
            ("num_items", "items_ranked"))
    return {label: protocol[key] for key, label in keys if protocol.get(key) is not None}


def card_intervals(run: Run | str, record: dict[str, Any], n_resamples: int = 1000,
                   evaluation: dict[str, Any] | None = None
                   ) -> tuple[dict[str, dict[str, float]], str | None]:
    """95% bootstrap intervals of the run's test metrics.

    Args:
        run: The run or its folder (re-evaluated when ``evaluation`` is not given).
        record: Its ``metrics.json``.
        n_resamples: Bootstrap resamples (0: no intervals).
        evaluation: A result of :func:`recsft.runs.evaluate.evaluate_run` on the test split
            with intervals (``recsft evaluate --output``), used instead of re-evaluating.

    Returns:
        ``(intervals, note)``: ``intervals[key] = {"ci95_low", "ci95_high", "n_resamples"}``,
        and ``None`` or, when there are none, one sentence saying why (for the card).
    """
    if evaluation is None:
        if n_resamples < 1:
            return {}, "No intervals were computed for this card (n_resamples=0)."
        from recsft.errors import RecsftError
        from recsft.runs.evaluate import evaluate_run

        try:
            evaluation = evaluate_run(run, split="test", n_resamples=n_resamples, seed=0)
        except (RecsftError, FileNotFoundError) as err:
            # The reason names local paths, which stay out of a card that may be published.
            logger.warning("model card: no intervals, re-evaluating the run failed: %s", err)
            return {}, ("No intervals: the run could not be re-evaluated where this card was "
                        f"written ({type(err).__name__}; `recsft evaluate` on the run says "
                        "why).")
    if evaluation.get("split") != "test" or not evaluation.get("intervals"):
        return {}, "No intervals: the evaluation given is not one of the test split with " \
                   "intervals."
    recorded = record.get("test") or {}
    for key, value in recorded.items():
        again = (evaluation.get("metrics") or {}).get(key)
        if again is None or not math.isclose(again, value, rel_tol=1e-9, abs_tol=1e-12):
            return {}, (f"No intervals: re-evaluation gave {key} {_fmt(again)}, but "
                        f"metrics.json records {_fmt(value)}; the run's data or code changed "
                        "since training.")
    intervals = {key: {"ci95_low": float(value["ci95_low"]),
                       "ci95_high": float(value["ci95_high"]),
                       "n_resamples": int(value.get("n_resamples", n_resamples))}
                 for key, value in evaluation["intervals"].items()}
    return intervals, None


def eval_results(record: dict[str, Any], identity: dict[str, str],
                 intervals: dict[str, dict[str, float]]) -> list[Any]:
    """``huggingface_hub.EvalResult`` for NDCG@k, Recall@k and MRR@k of the test split.

    Args:
        record: ``metrics.json``.
        identity: :func:`dataset_identity`.
        intervals: :func:`card_intervals` (may be empty).

    Returns:
        The results, ordered by k, then NDCG, Recall, MRR.
    """
    from huggingface_hub import EvalResult

    test = record.get("test") or {}
    args = protocol_args(record.get("protocol") or {})
    results = []
    keys = [key for key in test if key.partition("@")[0] in INDEX_METRICS
            and key.partition("@")[2].isdigit()]
    keys.sort(key=lambda key: (int(key.partition("@")[2]),
                               list(INDEX_METRICS).index(key.partition("@")[0])))
    for key in keys:
        base, _, k = key.partition("@")
        label = f"{INDEX_METRICS[base]}@{k}"
        if key in intervals:
            low, high = intervals[key]["ci95_low"], intervals[key]["ci95_high"]
            label += f" (95% CI {low:.4f}-{high:.4f})"
        results.append(EvalResult(
            task_type=TASK_TYPE, task_name=TASK_NAME,
            dataset_type=identity["type"], dataset_name=identity["name"], dataset_split="test",
            dataset_revision=identity["revision"], dataset_args=args or None,
            metric_type=f"{base}_at_{k}", metric_value=float(test[key]), metric_name=label,
            metric_args={"k": int(k)}))
    return results


def _fmt(value: Any) -> str:
    return f"{value:.6f}" if isinstance(value, (int, float)) else "nothing"
