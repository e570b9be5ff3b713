"""Search evaluation: each search's targets ranked among all items, or among candidates.

Protocol (recorded beside every number, in the result's ``protocol``):

- **Full ranking** (:func:`evaluate_search`): for every search event of a split, a
  :class:`~recsft.search.scoring.SearchScorer` scores every item of its catalogue; the
  event's targets (a *set*: the items clicked / carted / bought after the query) are ranked
  among all of them. Scores are computed ``batch_size`` events at a time and each target's
  rank is *counted* (items scoring above it), so no ``(events × items)`` matrix of the split
  is held and no sort is done.
- **Ties** are broken against the targets: an item scoring the same as a target ranks above
  it; targets tied with each other keep catalogue order among themselves. A scorer that
  gives many items the same score (BM25 with no matching term) gets no credit for it.
- **Misses**: a target scored ``-inf`` (the scorer never returns it), outside the scorer's
  catalogue, or removed by ``filter_history`` is not found (rank infinite).
- **History items are not filtered by default**: a search's target may be an item of its
  history (a re-purchase), which a search engine must be able to return. With
  ``filter_history=True`` the history's items are removed from the ranking (the next-item
  convention); a target in the history then counts as a miss (``targets_in_history`` says
  how many).
- **Metrics per event** (kept in ``per_event`` for paired tests): ``recall@k`` = share of the
  targets in the top ``k``; ``ndcg@k`` with binary gains over the target set (ideal: all
  targets first); ``mrr`` = 1 / rank of the first target found (no cut-off; 0 when none is
  found). Means over events with percentile bootstrap intervals over events
  (:func:`recsft.evaluation.statistics.bootstrap_interval`).
- **Candidates** (:func:`evaluate_candidates`): the usual re-ranking protocol of the
  published work: targets ranked only within each event's candidate list (outside it: a
  miss); the first stage's candidate recall@100 is reported apart (``candidate_recall``).

:func:`compare_scorers` makes paired tests of a reference (the two-stage system) against each
baseline, Holm-adjusted over the family of all baselines × metrics.

Example:
    >>> result = evaluate_search(BM25Scorer(texts), events, ks=(10,))  # doctest: +SKIP
    >>> result["metrics"]["ndcg@10"]                           # doctest: +SKIP
    {'mean': 0.21, 'ci95_low': 0.19, 'ci95_high': 0.23}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError

if TYPE_CHECKING:
    from recsft.search.events import SearchEvents
    from recsft.search.scoring import SearchScorer

__all__ = ["compare_scorers", "evaluate_candidates", "evaluate_search", "target_ranks"]

TIES = "against the target (equal-scored items rank above it; tied targets in catalogue order)"
TESTS = ("t_test_p", "wilcoxon_p", "permutation_p")


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in one row of scores, ties broken against the targets.

    Args:
        scores: ``(n_items,)`` scores (``-inf``: never returned).
        targets: ``(m,)`` distinct column indices of the targets.

    Returns:
        ``(m,)`` float64 ranks; ``inf`` for a target scored ``-inf``.

    Raises:
        RecsftError: a score is NaN.

    Example:
        >>> target_ranks(np.array([1.0, 2.0, 2.0, 0.0]), np.array([2, 3]))
        array([1., 3.])
    """
    targets = np.asarray(targets, dtype=np.int64)
    if targets.size == 0:
        return np.zeros(0, dtype=np.float64)
    if np.isnan(scores).any():
        raise RecsftError("search scorer returned NaN scores; expected finite numbers or -inf")
    values = scores[targets]
    at_least = (scores[None, :] >= values[:, None]).sum(axis=1)
    tied = values[None, :] == values[:, None]                       # (m, m), self included
    tied_before = (tied & (targets[None, :] < targets[:, None])).sum(axis=1)
    ranks = (at_least - tied.sum(axis=1) + tied_before).astype(np.float64)
    ranks[np.isneginf(values)] = np.inf
    return ranks


def _event_metrics(ranks: np.ndarray, n_targets: int, ks: Sequence[int]) -> dict[str, float]:
    out = {}
    for k in ks:
        found = ranks[ranks < k]
        ideal = float((1.0 / np.log2(np.arange(min(n_targets, k)) + 2.0)).sum())
        out[f"recall@{k}"] = found.size / n_targets
        out[f"ndcg@{k}"] = float((1.0 / np.log2(found + 2.0)).sum()) / ideal
    first = ranks.min() if ranks.size else np.inf
    out["mrr"] = 0.0 if not np.isfinite(first) else 1.0 / (first + 1.0)
    return out


def _check_ks(ks: Sequence[int]) -> list[int]:
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    out = [int(k) for k in ks]
    if not out or any(k < 1 for k in out):
        raise RecsftError(f"ks={list(ks)}: expected one or more cut-offs >= 1")
    return sorted(set(out))


def _split_rows(events: SearchEvents, split: str) -> list[int]:
    from recsft.search.events import SPLITS

    if split not in SPLITS:
        raise RecsftError(f"split={split!r}: expected one of {', '.join(SPLITS)}")
    rows = [row for row, label in enumerate(events.splits) if label == split]
    if not rows:
        raise RecsftError(f"no search event in the {split!r} split "
                          f"(counts: {events.counts()})")
    return rows


def _fingerprint(events: SearchEvents, rows: Sequence[int]) -> str:
    """Digest of the evaluated events (user, query, targets): results of the same events
    pair up."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([events.user_ids[row], events.queries[row],
                                  events.targets[row]], ensure_ascii=False).encode())
    return digest.hexdigest()


def _summaries(per_event: Mapping[str, list[float]], n_resamples: int, seed: int
               ) -> dict[str, dict[str, float | None]]:
    from recsft.evaluation.statistics import bootstrap_interval

    out: dict[str, dict[str, float | None]] = {}
    for key, values in per_event.items():
        if n_resamples > 0 and len(values) >= 2:
            out[key] = bootstrap_interval(values, n_resamples, seed=seed)
        else:
            out[key] = {"mean": float(np.mean(values)), "ci95_low": None, "ci95_high": None}
    return out


def _base_protocol(events: SearchEvents, rows: Sequence[int], split: str, ks: Sequence[int],
                   filter_history: bool) -> dict[str, Any]:
    n_targets = [len(events.targets[row]) for row in rows]
    in_history = sum(len(set(events.targets[row]) & set(events.histories[row])) for row in rows)
    return {"split": split, "searches": len(rows),
            "users": len({events.user_ids[row] for row in rows}),
            "targets": int(sum(n_targets)), "mean_targets": float(np.mean(n_targets)),
            "ks": list(ks), "filter_history": bool(filter_history),
            "targets_in_history": int(in_history), "ties": TIES,
            "metrics": "recall@k = share of targets in the top k; ndcg@k binary gains over "
                       "the target set; mrr = 1/rank of the first target (no cut-off)",
            "events_sha256": _fingerprint(events, rows)}


def evaluate_search(scorer: SearchScorer, events: SearchEvents, split: str = "test",
                    ks: Sequence[int] = (10,), filter_history: bool = False,
                    n_resamples: int = 1000, batch_size: int = 256, seed: int = 0
                    ) -> dict[str, Any]:
    """Full-ranking evaluation of a search scorer over the events of one split.

    Args:
        scorer: Any :class:`~recsft.search.scoring.SearchScorer`.
        events: The search events (all splits; ``split`` picks the evaluated ones).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        ks: Cut-offs of ``recall@k`` and ``ndcg@k``.
        filter_history: Remove each event's history items from its ranking (default: keep
            them; see the module docstring).
        n_resamples: Bootstrap resamples of the intervals (0: means only).
        batch_size: Events scored per ``scorer.score`` call.
        seed: The bootstrap's seed.

    Returns:
        ``{"scorer", "protocol", "metrics": {key: {"mean", "ci95_low", "ci95_high"}},
        "per_event": {key: [value per event]}}``; keys ``recall@k``, ``ndcg@k``, ``mrr``.
        ``protocol`` holds ``ranking: "full"``, the split, counts (searches, users, targets,
        items, targets outside the catalogue / in the history), ``filter_history``, the tie
        rule and ``events_sha256`` (what :func:`compare_scorers` pairs on).

    Raises:
        RecsftError: no event in the split, bad ``ks`` or ``batch_size``, or the scorer's
            scores have the wrong shape or hold NaN.
    """
    ks = _check_ks(ks)
    rows = _split_rows(events, split)
    if batch_size < 1:
        raise RecsftError(f"batch_size={batch_size}: expected an integer >= 1")
    columns = {item: column for column, item in enumerate(scorer.items)}
    n_items = len(columns)
    per_event: dict[str, list[float]] = {}
    outside = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        scores = np.asarray(scorer.score(events, chunk))
        if scores.shape != (len(chunk), n_items):
            raise RecsftError(f"scorer {scorer.name!r} returned scores of shape "
                              f"{scores.shape}; expected ({len(chunk)}, {n_items})")
        for position, row in enumerate(chunk):
            line = scores[position]
            if filter_history:
                removed = [columns[i] for i in events.histories[row] if i in columns]
                if removed:
                    line = line.copy()
                    line[removed] = -np.inf
            targets = events.targets[row]
            known = np.asarray([columns[t] for t in targets if t in columns], dtype=np.int64)
            outside += len(targets) - known.size
            ranks = np.concatenate([target_ranks(line, known),
                                    np.full(len(targets) - known.size, np.inf)])
            for key, value in _event_metrics(ranks, len(targets), ks).items():
                per_event.setdefault(key, []).append(value)
    protocol = {"ranking": "full", "items": n_items, **_base_protocol(
        events, rows, split, ks, filter_history), "targets_outside_catalogue": outside}
    return {"scorer": scorer.name, "protocol": protocol,
            "metrics": _summaries(per_event, n_resamples, seed), "per_event": per_event}


def _lists_for_split(lists: Sequence[Sequence[str | None]], events: SearchEvents,
                     rows: Sequence[int], what: str) -> list[list[str]]:
    if len(lists) == len(events):
        picked = [lists[row] for row in rows]
    elif len(lists) == len(rows):
        picked = list(lists)
    else:
        raise RecsftError(f"{what}: {len(lists)} lists; expected one per event "
                          f"({len(events)}) or one per event of the split ({len(rows)})")
    return [list(dict.fromkeys(str(getattr(i, "item_id", i)) for i in items if i is not None))
            for items in picked]


def evaluate_candidates(candidate_lists: Sequence[Sequence[str | None]] | None,
                        events: SearchEvents, split: str = "test", ks: Sequence[int] = (10,),
                        scorer: SearchScorer | None = None,
                        first_stage: Sequence[Sequence[str | None]] | None = None,
                        recall_k: int = 100, filter_history: bool = False,
                        n_resamples: int = 1000, batch_size: int = 256, seed: int = 0,
                        name: str | None = None) -> dict[str, Any]:
    """Re-ranking evaluation: each event's targets ranked only within its candidate list.

    Args:
        candidate_lists: One list of candidate item ids per event (of all ``events`` or of
            the split's events, in order), best first; ``None`` entries and repeats are
            skipped; :class:`~recsft.search.candidates.Candidate` objects are read by their
            ``item_id`` (``TwoStageScorer.candidates``). ``None``: ``events.candidates``
            (JDsearch's displayed candidates).
        events: The search events.
        split: The evaluated split.
        ks: Cut-offs of ``recall@k`` and ``ndcg@k``.
        scorer: If given, the candidates are ordered by its scores (a candidate outside its
            catalogue or scored ``-inf`` is never ranked; ties against the targets); else
            the lists' own order is the ranking.
        first_stage: The first stage's candidate lists (same layout) whose recall is
            reported apart; default ``candidate_lists``.
        recall_k: Depth of the candidate recall (share of targets in the first
            ``recall_k`` first-stage candidates).
        filter_history: Remove history items from the candidate lists.
        n_resamples: Bootstrap resamples of the intervals.
        batch_size: Events per ``scorer.score`` call.
        seed: The bootstrap's seed.
        name: The result's name (default the scorer's, or ``"candidates"``).

    Returns:
        As :func:`evaluate_search` (``protocol["ranking"] == "candidates"``, with the mean
        candidate count and ``candidates_sha256``), plus ``candidate_recall``:
        ``{"metrics": {"recall@<recall_k>": interval}, "per_event": {...}}``.

    Raises:
        RecsftError: no event in the split, lists not one per event, ``candidate_lists`` is
            ``None`` and the events have no candidates, or bad ``ks`` / ``recall_k``.
    """
    ks = _check_ks(ks)
    rows = _split_rows(events, split)
    if recall_k < 1:
        raise RecsftError(f"recall_k={recall_k}: expected an integer >= 1")
    if candidate_lists is None:
        if not events.candidates:
            raise RecsftError("evaluate_candidates: no candidate lists given and the search "
                              "events carry none (events.candidates is empty)")
        candidate_lists = events.candidates
    lists = _lists_for_split(candidate_lists, events, rows, "candidate_lists")
    firsts = lists if first_stage is None else _lists_for_split(first_stage, events, rows,
                                                                "first_stage")
    columns = {} if scorer is None else {item: c for c, item in enumerate(scorer.items)}
    per_event: dict[str, list[float]] = {}
    recall: list[float] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        scores = None if scorer is None else np.asarray(scorer.score(events, chunk))
        if scores is not None and scores.shape != (len(chunk), len(columns)):
            raise RecsftError(f"scorer {scorer.name!r} returned scores of shape "
                              f"{scores.shape}; expected ({len(chunk)}, {len(columns)})")
        for position, row in enumerate(chunk):
            index = start + position
            candidates = lists[index]
            if filter_history:
                history = set(events.histories[row])
                candidates = [c for c in candidates if c not in history]
            if scores is None:
                values = -np.arange(len(candidates), dtype=np.float64)
            else:
                values = np.asarray([scores[position, columns[c]] if c in columns else -np.inf
                                     for c in candidates], dtype=np.float64)
            slots = {c: s for s, c in enumerate(candidates)}
            targets = events.targets[row]
            known = np.asarray([slots[t] for t in targets if t in slots], dtype=np.int64)
            ranks = np.concatenate([target_ranks(values, known),
                                    np.full(len(targets) - known.size, np.inf)])
            for key, value in _event_metrics(ranks, len(targets), ks).items():
                per_event.setdefault(key, []).append(value)
            first = set(firsts[index][:recall_k])
            recall.append(sum(t in first for t in targets) / len(targets))
    digest = hashlib.sha256(json.dumps([sorted(c) for c in lists],  # the sets, any order
                                    ensure_ascii=False).encode()).hexdigest()
    protocol = {"ranking": "candidates", **_base_protocol(events, rows, split, ks,
                                                          filter_history),
                "mean_candidates": float(np.mean([len(c) for c in lists])),
                "order": "list order" if scorer is None else "scorer",
                "candidates_sha256": digest}
    key = f"recall@{recall_k}"
    return {"scorer": name or (scorer.name if scorer is not None else "candidates"),
            "protocol": protocol, "metrics": _summaries(per_event, n_resamples, seed),
            "per_event": per_event,
            "candidate_recall": {"first_stage": "given" if first_stage is not None
                                 else "candidate_lists",
                                 "metrics": _summaries({key: recall}, n_resamples, seed),
                                 "per_event": {key: recall}}}


def compare_scorers(results_by_name: Mapping[str, Mapping[str, Any]], reference: str,
                    metrics: Sequence[str] | None = None, n_resamples: int = 1000,
                    n_permutations: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Paired tests of the reference against each other result, on the same search events.

    Each comparison is :func:`recsft.evaluation.statistics.paired_comparison` with the
    baseline as A and the reference as B (``difference`` = reference − baseline); each
    test's p-values are Holm-adjusted (:func:`recsft.evaluation.statistics.holm`) over the
    whole family of baselines × metrics (``<test>_holm``).

    Args:
        results_by_name: ``{name: evaluate_search(...) or evaluate_candidates(...)}``, the
            reference among them.
        reference: The name of the reference (the two-stage system).
        metrics: Per-event keys compared (default: all of the reference's).
        n_resamples: Bootstrap resamples of the difference's interval.
        n_permutations: Sign flips of the permutation test.
        seed: Seed of the bootstrap and permutations.

    Returns:
        ``{"reference", "split", "protocol", "family", "comparisons": {baseline: {metric:
        comparison}}}``.

    Raises:
        RecsftError: the reference is missing, no baseline, or the results were computed on
            different events or under different protocols, or an unknown metric.
    """
    from recsft.evaluation.statistics import holm, paired_comparison

    if reference not in results_by_name:
        raise RecsftError(f"compare_scorers: reference {reference!r} is not among the "
                          f"results {sorted(results_by_name)}")
    baselines = [name for name in results_by_name if name != reference]
    if not baselines:
        raise RecsftError("compare_scorers: no baseline to compare the reference with")
    ref = results_by_name[reference]
    protocol = ref["protocol"]
    for name in baselines:
        other = results_by_name[name]["protocol"]
        differing = sorted(k for k in set(protocol) | set(other)
                           if k != "order" and protocol.get(k) != other.get(k))
        if differing:
            key = differing[0]
            raise RecsftError(f"compare_scorers: {reference!r} and {name!r} differ in "
                              f"{key} ({protocol.get(key)} vs {other.get(key)}); a paired "
                              "comparison needs the same events and protocol")
    keys = list(ref["per_event"]) if metrics is None else list(metrics)
    unknown = [key for key in keys if key not in ref["per_event"]]
    if unknown:
        raise RecsftError(f"compare_scorers: unknown metric {unknown[0]!r}; expected some "
                          f"of {sorted(ref['per_event'])}")
    comparisons = {name: {key: paired_comparison(results_by_name[name]["per_event"][key],
                                                 ref["per_event"][key], n_resamples,
                                                 n_permutations, seed)
                          for key in keys}
                   for name in baselines}
    for test in TESTS:
        adjusted = holm({(name, key): comparisons[name][key][test]
                         for name in baselines for key in keys})
        for (name, key), value in adjusted.items():
            comparisons[name][key][f"{test}_holm"] = value
    return {"reference": reference, "split": protocol["split"], "protocol": protocol,
            "family": len(baselines) * len(keys), "comparisons": comparisons}
