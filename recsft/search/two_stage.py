"""Personalised search in two stages: candidates from the query and the history, then a
learned re-ranker.

First stage: the BM25 top-``n``, the dense (text encoder) top-``n`` and the behaviour model's
top-``n`` of each search, merged by :func:`~recsft.search.candidates.union_candidates` (each
candidate keeps its sources). Second stage: :func:`~recsft.search.features.pair_features` of
every candidate, scored by a :class:`~recsft.search.reranker.Reranker`.

:class:`TwoStageScorer` implements the ``SearchScorer`` interface
(:mod:`recsft.search.scoring`): a full ranking of the catalogue, where every candidate is
scored by the re-ranker and every other item scores below all candidates: ``min(candidate
scores) - 2 + f`` with ``f`` in ``[0, 1)`` the item's fallback score (dense, else BM25, else
the behaviour model, else popularity) rescaled over the non-candidates of that event.
History items are not filtered (a search target may be a re-purchase).

Example:
    >>> signals = SearchSignals(items, bm25=BM25Retriever(texts), text=TextSpace.from_texts(
    ...     texts, items), behaviour=RecommenderBehaviour(recommender, items),
    ...     popularity=counts)
    >>> scorer = TwoStageScorer.fit(signals, events, kind="lightgbm")   # train / valid
    >>> scorer.score(events, test_rows)          # (len(test_rows), len(items)) float32
    >>> scorer.search("shirt", ["i3", "i9"], k=10)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recsft.errors import RecsftError
from recsft.search.candidates import Candidate, Ranked, union_candidates
from recsft.search.events import SearchEvents
from recsft.search.features import (
    SOURCES,
    FeatureConfig,
    SearchSignals,
    Signals,
    pair_features,
)
from recsft.search.reranker import Reranker, load_reranker, make_reranker

DEFAULT_TOP_N = 100


def _rows(events: SearchEvents, rows: Sequence[int]) -> list[int]:
    out = [int(row) for row in rows]
    bad = next((row for row in out if not 0 <= row < len(events)), None)
    if bad is not None:
        raise RecsftError(f"two-stage search: event row {bad} is out of range "
                          f"0..{len(events) - 1}")
    return out


class TwoStageScorer:
    """Candidates from several sources, re-ranked by learned features (module doc).

    Args:
        signals: The sources, aligned to the catalogue.
        reranker: A fitted re-ranker whose feature names match ``config``.
        config: The features (default: from the re-ranker's saved feature config).
        top_n: ``{source: n}`` per first-stage source (``"bm25"``, ``"dense"``,
            ``"behaviour"``), or one ``n`` for every source the signals have.
        name: How results name the scorer.
        batch_size: Search events scored at once (the ``(batch, n_items)`` score matrices).

    Attributes:
        items: The catalogue (score columns).

    Raises:
        RecsftError: a source in ``top_n`` is missing, or the re-ranker's features differ.
    """

    def __init__(self, signals: SearchSignals, reranker: Reranker,
                 config: FeatureConfig | None = None,
                 top_n: int | Mapping[str, int] = DEFAULT_TOP_N, name: str = "two-stage",
                 batch_size: int = 128) -> None:
        self.signals, self.reranker = signals, reranker
        self.items = signals.items
        self.name = name
        self.batch_size = int(batch_size)
        self.config = config if config is not None else \
            FeatureConfig.from_dict(reranker.feature_config, "the re-ranker's feature config")
        self.top_n = _top_n(signals, top_n)
        signals.check(self.config)
        from recsft.search.features import feature_names

        if feature_names(self.config) != reranker.feature_names:
            raise RecsftError(f"two-stage search: the re-ranker was fitted on features "
                              f"{reranker.feature_names}, the config makes "
                              f"{feature_names(self.config)}")

    # ------------------------------------------------------------------ first stage

    def _candidates(self, computed: Signals) -> list[list[Candidate]]:
        tops = {source: computed.top(source, n) for source, n in self.top_n.items()}
        out = []
        for local in range(len(next(iter(tops.values()))[0])):
            lists = []
            for source, (cols, values) in tops.items():
                keep = cols[local] >= 0
                lists.append(Ranked(source, [self.items[c] for c in cols[local][keep]],
                                    values[local][keep].tolist()))
            out.append(union_candidates(*lists))
        return out

    def candidates(self, events: SearchEvents, rows: Sequence[int]) -> list[list[Candidate]]:
        """The first stage's union for each search event ``rows[i]`` (each candidate with its
        sources' ranks and scores), in union order."""
        rows = _rows(events, rows)
        out: list[list[Candidate]] = []
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            out += self._candidates(self.signals.compute(events, part))
        return out

    def features(self, events: SearchEvents, rows: Sequence[int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
        """Candidate features of ``rows``: ``(X, groups, labels, candidate ids)`` (labels 1
        for a candidate among the event's targets), as the re-ranker is fitted on."""
        xs, groups, labels, ids = [], [], [], []
        rows = _rows(events, rows)
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            x, g, cols, _ = self._batch(events, part)
            xs.append(x)
            groups.append(g)
            for r, c in zip(part, cols):
                names = [self.items[i] for i in c]
                wanted = set(events.targets[r])
                labels.append(np.array([n in wanted for n in names], dtype=np.float32))
                ids.append(names)
        width = len(self.reranker.feature_names)
        return (np.concatenate(xs) if xs else np.zeros((0, width), np.float32),
                np.concatenate(groups) if groups else np.zeros(0, np.int64),
                np.concatenate(labels) if labels else np.zeros(0, np.float32), ids)

    def _batch(self, events: SearchEvents, part: list[int]
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], Signals]:
        computed = self.signals.compute(events, part)
        unions = self._candidates(computed)
        cols = [np.array([self.signals.column[c.item_id] for c in union], dtype=np.int64)
                for union in unions]
        x, groups, _ = pair_features(self.signals, computed, events, part, cols, self.config,
                                     self.top_n)
        return x, groups, cols, computed

    # ------------------------------------------------------------------ second stage

    def _fallback(self, computed: Signals, count: int) -> np.ndarray:
        for source in ("dense", "bm25", "behaviour"):
            scores = getattr(computed, source)
            if scores is not None:
                return np.where(np.isnan(scores), -np.inf, scores)
        return np.broadcast_to(self.signals.log_popularity, (count, len(self.items)))

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32: candidates by the re-ranker, every other item
        below all of them by its fallback score (module doc); no ``-inf``."""
        rows = _rows(events, rows)
        out = np.zeros((len(rows), len(self.items)), dtype=np.float32)
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            x, groups, cols, computed = self._batch(events, part)
            predicted = self.reranker.predict(x)
            fallback = self._fallback(computed, len(part))
            offsets = np.r_[0, np.cumsum(groups)]
            for local, c in enumerate(cols):
                mine = predicted[offsets[local]:offsets[local + 1]]
                row = np.asarray(fallback[local], dtype=np.float64).copy()
                rest = np.ones(len(self.items), dtype=bool)
                rest[c] = False
                finite = np.isfinite(row) & rest
                low, high = (row[finite].min(), row[finite].max()) if finite.any() else (0, 0)
                scaled = np.where(finite, (row - low) / (high - low + 1e-12) * 0.999, 0.0)
                floor = float(mine.min()) if len(mine) else 0.0
                line = floor - 2.0 + scaled
                line[c] = mine
                out[start + local] = line
        return out

    def search(self, query: str, history: Sequence[str], k: int = 10,
               event_types: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best items for one query and history (oldest first): ``[(item, score),
        ...]``, best first (history items not filtered)."""
        if not isinstance(query, str):
            raise RecsftError(f"search: query is {type(query).__name__}, expected a string")
        if isinstance(history, str):
            raise RecsftError("search: history must be a list of item ids, not one string")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self.items):
            raise RecsftError(f"search: k={k!r}, expected an integer from 1 to "
                              f"{len(self.items)}")
        history = [str(i) for i in history]
        types = list(event_types) if event_types is not None else ["view"] * len(history)
        if len(types) != len(history):
            raise RecsftError(f"search: {len(history)} history items but {len(types)} event "
                              "types")
        one = SearchEvents(["user"], [query], np.zeros(1, np.int64), [history], [types],
                           [["?"]], ["test"])
        scores = self.score(one, [0])[0]
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.items[i], float(scores[i])) for i in top]

    # ------------------------------------------------------------------ fitting and files

    @classmethod
    def fit(cls, signals: SearchSignals, events: SearchEvents, kind: str = "lightgbm",
            config: FeatureConfig | None = None,
            top_n: int | Mapping[str, int] = DEFAULT_TOP_N, name: str | None = None,
            batch_size: int = 128, **params: Any) -> TwoStageScorer:
        """Fit the re-ranker on the ``"train"`` events' candidates, stopped / tuned on the
        ``"valid"`` events' (:mod:`recsft.search.reranker`).

        Args:
            signals: The sources.
            events: Search events with splits; only ``train`` and ``valid`` are read.
            kind: ``"lightgbm"`` (lambdarank) or ``"linear"`` (logistic fusion).
            config: The features (default: every feature the signals allow).
            top_n: First-stage list lengths.
            name: The scorer's name (default ``"two-stage-<kind>"``).
            batch_size: Search events per batch.
            **params: The re-ranker's own parameters.
        """
        config = config if config is not None else default_config(signals)
        from recsft.search.features import feature_names

        reranker = make_reranker(kind, feature_names(config), config.to_dict(), **params)
        scorer = cls(signals, reranker, config, top_n, name or f"two-stage-{kind}", batch_size)
        train = [i for i, s in enumerate(events.splits) if s == "train"]
        valid = [i for i, s in enumerate(events.splits) if s == "valid"]
        if not train or not valid:
            raise RecsftError(f"two-stage search: {len(train)} train and {len(valid)} valid "
                              "search events; the re-ranker needs both")
        x, groups, labels, _ = scorer.features(events, train)
        xv, groups_v, labels_v, _ = scorer.features(events, valid)
        reranker.fit(x, labels, groups, xv, labels_v, groups_v)
        reranker.info["top_n"] = scorer.top_n
        return scorer

    def save(self, folder: str | os.PathLike) -> None:
        """Write the re-ranker (with its feature config and ``top_n``) to ``folder``."""
        self.reranker.info["top_n"] = self.top_n
        self.reranker.save(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, signals: SearchSignals,
             name: str | None = None, batch_size: int = 128) -> TwoStageScorer:
        """A scorer of ``signals`` with the re-ranker saved in ``folder``."""
        reranker = load_reranker(folder)
        top_n = reranker.info.get("top_n", DEFAULT_TOP_N)
        return cls(signals, reranker, None, top_n, name or f"two-stage-{reranker.kind}",
                   batch_size)


def default_config(signals: SearchSignals) -> FeatureConfig:
    """Every feature the signals allow."""
    have = signals.available()
    return FeatureConfig(bm25=have["bm25"], dense=have["dense"],
                         behaviour=have["behaviour"], hem=have["hem"],
                         sources=tuple(s for s in SOURCES if have[s]))


def _top_n(signals: SearchSignals, top_n: int | Mapping[str, int]) -> dict[str, int]:
    have = signals.available()
    if isinstance(top_n, Mapping):
        out = {str(k): int(v) for k, v in top_n.items()}
    else:
        out = {s: int(top_n) for s in SOURCES if have[s]}
    bad = sorted(s for s in out if s not in SOURCES or not have[s])
    if bad:
        raise RecsftError(f"two-stage search: first-stage source(s) {bad} not available; "
                          f"have {[s for s in SOURCES if have[s]]}")
    if not out or any(n < 1 for n in out.values()):
        raise RecsftError(f"two-stage search: top_n={out}; expected n >= 1 for at least one "
                          "source")
    return out
