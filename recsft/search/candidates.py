"""First-stage candidates of a search: query retrievers, their recall, and the union of several
sources for the re-ranker.

Every retriever answers ``search(queries, k) -> (scores, item_ids)``: ``scores`` float32
``(n_queries, k)`` sorted descending per row, ``item_ids`` a list of ``n_queries`` lists of
``k`` ids; a slot with no result (fewer than ``k`` items match) has score ``-inf`` and id
``None``. The retrievers: :class:`~recsft.search.bm25.BM25Retriever` (lexical) and
:class:`~recsft.search.dense.DenseRetriever` (the pretrained text encoder).

Example:
    >>> retriever = BM25Retriever({"a": "red glue", "b": "blue tape"})
    >>> retriever.search(["glue"], k=2)[1]
    [['a', None]]
    >>> [c.item_id for c in union_candidates(Ranked("bm25", ["a", "b"]),
    ...                                      Ranked("model", ["c", "a"]), k=10)]
    ['a', 'c', 'b']
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from recsft.errors import RecsftError
from recsft.search.bm25 import BM25Retriever
from recsft.search.dense import DenseRetriever

__all__ = ["BM25Retriever", "Candidate", "DenseRetriever", "Ranked", "Retriever",
           "candidate_recall", "ranked_rows", "union_candidates"]


class Retriever(Protocol):
    """What :func:`candidate_recall` and the search pipeline call."""

    def search(self, queries: Sequence[str], k: int
               ) -> tuple[np.ndarray, list[list[str | None]]]:
        """``(scores (n, k) float32, item_ids n lists of k)``, best first."""
        ...


class Ranked(NamedTuple):
    """One source's ranked list for one query.

    Attributes:
        source: The source's name (``"bm25"``, ``"dense"``, ``"behaviour"``...).
        item_ids: Best first; ``None`` entries (empty slots) are skipped.
        scores: The source's score of each entry, or ``None``.
    """

    source: str
    item_ids: Sequence[str | None]
    scores: Sequence[float] | None = None


@dataclass
class Candidate:
    """One item of a union, with where it came from.

    Attributes:
        item_id: The item.
        ranks: ``{source: 0-based rank in that source's list}`` for every source that has it.
        scores: ``{source: score}`` for the sources that gave scores.
    """

    item_id: str
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """The sources that proposed the item, in the order of the union's arguments."""
        return list(self.ranks)


def ranked_rows(source: str, scores: np.ndarray, item_ids: Sequence[Sequence[str | None]]
                ) -> list[Ranked]:
    """A retriever's answer as one :class:`Ranked` per query."""
    return [Ranked(source, list(ids), [float(s) for s in row])
            for row, ids in zip(np.asarray(scores), item_ids)]


def union_candidates(*ranked_lists: Ranked, k: int | None = None) -> list[Candidate]:
    """Merge one query's candidate lists, keeping each candidate's sources.

    Candidates are taken rank by rank across the sources (every source's first, then every
    source's second, ... in argument order), so each source is represented when the union is
    cut at ``k``; an item proposed twice appears once. Every kept candidate records its rank
    (and score) in *each* list that holds it, also beyond the cut, for the re-ranker.

    Args:
        *ranked_lists: One :class:`Ranked` per source, distinct source names.
        k: The most candidates kept; ``None`` for all.

    Returns:
        The candidates, in the order taken.

    Raises:
        RecsftError: two lists share a source name, a list's scores differ in length from its
            ids, or ``k < 1``.
    """
    names = [ranked.source for ranked in ranked_lists]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RecsftError(f"union_candidates: source {repeated[0]!r} is given twice; each "
                          "list needs its own source name")
    if k is not None and k < 1:
        raise RecsftError(f"union_candidates: k={k}, expected k >= 1 or None")
    for ranked in ranked_lists:
        if ranked.scores is not None and len(ranked.scores) != len(ranked.item_ids):
            raise RecsftError(f"union_candidates: source {ranked.source!r} has "
                              f"{len(ranked.item_ids)} ids but {len(ranked.scores)} scores")
    found: dict[str, Candidate] = {}
    for ranked in ranked_lists:
        for rank, item in enumerate(ranked.item_ids):
            if item is None:
                continue
            candidate = found.setdefault(item, Candidate(item))
            if ranked.source not in candidate.ranks:
                candidate.ranks[ranked.source] = rank
                if ranked.scores is not None:
                    candidate.scores[ranked.source] = float(ranked.scores[rank])
    order = {ranked.source: position for position, ranked in enumerate(ranked_lists)}
    taken = sorted(found.values(), key=lambda c: min((rank, order[source])
                                                     for source, rank in c.ranks.items()))
    for candidate in taken:
        candidate.ranks = dict(sorted(candidate.ranks.items(), key=lambda kv: order[kv[0]]))
    return taken if k is None else taken[:k]


def candidate_recall(retriever: Retriever, queries: Sequence[str],
                     targets: Sequence[Collection[str]], k: int = 100, batch_size: int = 256,
                     n_resamples: int = 1000, seed: int = 0) -> dict[str, object]:
    """How often the first stage holds what the searcher wanted, over search events.

    Args:
        retriever: Any :class:`Retriever`.
        queries: One query per search event.
        targets: Each event's target items (clicked / carted / bought after the query); at
            least one each.
        k: Candidates per query.
        batch_size: Queries per ``search`` call.
        n_resamples: Bootstrap resamples of the intervals (over events).
        seed: The bootstrap's seed.

    Returns:
        ``{"k", "events", "hit": {...}, "target_recall": {...}}``: ``hit`` is the share of
        events with at least one target among the top ``k``, ``target_recall`` the mean share
        of an event's targets found; each ``{"mean", "ci95_low", "ci95_high"}``
        (:func:`recsft.evaluation.statistics.bootstrap_interval`).

    Raises:
        RecsftError: fewer than two events, ``len(queries) != len(targets)``, an event
            without targets, or ``k < 1``.
    """
    from recsft.evaluation.statistics import bootstrap_interval

    if len(queries) != len(targets):
        raise RecsftError(f"candidate_recall: {len(queries)} queries but {len(targets)} "
                          "target sets; expected one per search event")
    if len(queries) < 2:
        raise RecsftError(f"candidate_recall: {len(queries)} search events; an interval "
                          "needs at least two search events")
    if k < 1:
        raise RecsftError(f"candidate_recall: k={k}, expected k >= 1")
    wanted = [{str(t) for t in event} for event in targets]
    empty = next((i for i, event in enumerate(wanted) if not event), None)
    if empty is not None:
        raise RecsftError(f"candidate_recall: search event {empty} has no target items; "
                          "expected at least one")
    hits = np.zeros(len(queries), dtype=np.float64)
    shares = np.zeros(len(queries), dtype=np.float64)
    for start in range(0, len(queries), batch_size):
        _, ids = retriever.search(list(queries[start:start + batch_size]), k)
        for offset, row in enumerate(ids):
            event = wanted[start + offset]
            found = len(event.intersection(i for i in row if i is not None))
            hits[start + offset] = found > 0
            shares[start + offset] = found / len(event)
    return {"k": int(k), "events": len(queries),
            "hit": bootstrap_interval(hits, n_resamples=n_resamples, seed=seed),
            "target_recall": bootstrap_interval(shares, n_resamples=n_resamples, seed=seed)}
