"""Second-stage features of (search event, candidate item) pairs.

:class:`SearchSignals` holds what the features are read from, every part aligned to one
catalogue order ``items``: a :class:`~recsft.search.bm25.BM25Retriever`, a :class:`TextSpace`
(item text vectors and the query encoder: dense relevance and the HEM-style vector), a
:class:`BehaviourModel` (a recsft run's :class:`~recsft.retrieval.recommender.Recommender`: its
user vector of the history times its item matrix) and the items' training counts.
:meth:`SearchSignals.compute` gives, for a batch of search events, every item's score under
each source (:class:`Signals`, ``(b, n_items)`` matrices); :func:`pair_features` gathers the
features of candidate pairs from them, without a Python loop over pairs.

Features (:class:`FeatureConfig` chooses; names in :func:`feature_names`):

- ``bm25_score``, ``bm25_rank``; ``dense_score``, ``dense_rank``: the query–item relevance and
  the item's 0-based rank among all items (as ``log1p(rank)``).
- ``behaviour_score``, ``behaviour_rank``: the behaviour model's user–item score from the
  history (missing, NaN, when the model reads no item of the history or does not know the
  item).
- ``hem_cosine``: cosine of (query vector + mean history text vector) with the item's text
  vector (HEM-style; the query vector alone for an empty history).
- ``popularity``: ``log1p`` of the item's training count.
- ``history_position``: where the item last appears in the history counted from the end
  (1 = the newest event), NaN when absent; ``in_history`` 0/1. SearchEvents carry no per-event
  history times, so no seconds-since feature is made.
- ``count_<type>`` for each behaviour type (``view``, ``cart``, ``buy``, ``fav``) and
  ``count_all``: how often the item is in the history with that type.
- ``source_<name>``: 1 when the item is among that source's top-``n`` (the first stage's
  lists), else 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from recsft.errors import RecsftError

if TYPE_CHECKING:
    from recsft.retrieval.recommender import Recommender
    from recsft.search.bm25 import BM25Retriever
    from recsft.search.events import SearchEvents
    from recsft.text.encoder import TextEncoder

SOURCES = ("bm25", "dense", "behaviour")
BEHAVIOUR_TYPES = ("view", "cart", "buy", "fav")


@dataclass
class FeatureConfig:
    """Which features are made.

    Attributes:
        bm25: ``bm25_score`` and ``bm25_rank``.
        dense: ``dense_score`` and ``dense_rank``.
        behaviour: ``behaviour_score`` and ``behaviour_rank``.
        hem: ``hem_cosine``.
        popularity: ``popularity``.
        history: ``history_position`` and ``in_history``.
        behaviour_types: Event types counted (``count_<type>``, plus ``count_all``); empty
            for none.
        sources: First-stage sources flagged (``source_<name>``); empty for none.
    """

    bm25: bool = True
    dense: bool = True
    behaviour: bool = True
    hem: bool = True
    popularity: bool = True
    history: bool = True
    behaviour_types: tuple[str, ...] = BEHAVIOUR_TYPES
    sources: tuple[str, ...] = SOURCES

    def __post_init__(self) -> None:
        self.behaviour_types = tuple(str(t) for t in self.behaviour_types)
        self.sources = tuple(str(s) for s in self.sources)
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise RecsftError(f"FeatureConfig.sources: {unknown} unknown; expected some of "
                              f"{list(SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out = asdict(self)
        out["behaviour_types"] = list(self.behaviour_types)
        out["sources"] = list(self.sources)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "feature config"
                  ) -> FeatureConfig:
        """Settings written by :meth:`to_dict`.

        Raises:
            RecsftError: an unknown key or a bad value (naming ``where``).
        """
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(values) - known)
        if extra:
            raise RecsftError(f"{where}: unknown feature setting(s) {extra}; expected some of "
                              f"{sorted(known)}")
        kwargs = dict(values)
        for key in ("behaviour_types", "sources"):
            if key in kwargs:
                if not isinstance(kwargs[key], list):
                    raise RecsftError(f"{where}: {key} must be a list of strings")
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


def feature_names(config: FeatureConfig) -> list[str]:
    """The feature columns :func:`pair_features` makes under ``config``, in order."""
    names: list[str] = []
    for source in ("bm25", "dense", "behaviour"):
        if getattr(config, source):
            names += [f"{source}_score", f"{source}_rank"]
    if config.hem:
        names.append("hem_cosine")
    if config.popularity:
        names.append("popularity")
    if config.history:
        names += ["history_position", "in_history"]
    if config.behaviour_types:
        names += [f"count_{t}" for t in config.behaviour_types] + ["count_all"]
    names += [f"source_{s}" for s in config.sources]
    return names


class BehaviourModel(Protocol):
    """The behaviour model's user–item scores over a catalogue."""

    def scores(self, histories: Sequence[Sequence[str]],
               event_types: Sequence[Sequence[str]] | None) -> np.ndarray:
        """``(n, n_items)`` float32; NaN where the model cannot score (see module doc)."""
        ...


class RecommenderBehaviour:
    """A recsft run's :class:`~recsft.retrieval.recommender.Recommender` as a behaviour model:
    user vector (:meth:`~recsft.retrieval.recommender.Recommender.encode`) · item matrix.

    Args:
        recommender: The run's recommender.
        items: The catalogue order of the score columns; items the model does not know score
            NaN.
        batch_size: Histories encoded per model call.
    """

    def __init__(self, recommender: Recommender, items: Sequence[str],
                 batch_size: int = 256) -> None:
        self.recommender = recommender
        self.batch_size = int(batch_size)
        rows = {item: row for row, item in enumerate(recommender.tokenizer.item_ids)}
        self._columns = np.array([rows.get(str(i), -1) for i in items], dtype=np.int64)
        matrix = recommender.item_matrix()
        self._matrix = np.ascontiguousarray(matrix[np.maximum(self._columns, 0)].T)

    def scores(self, histories: Sequence[Sequence[str]],
               event_types: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """``(n, n_items)`` float32 scores; NaN rows for histories the model cannot read
        (:meth:`~recsft.retrieval.recommender.Recommender.reads`), NaN columns for items it
        does not know."""
        n = len(histories)
        out = np.full((n, len(self._columns)), np.nan, dtype=np.float32)
        readable = [r for r in range(n) if self.recommender.reads(histories[r])]
        for start in range(0, len(readable), self.batch_size):
            rows = readable[start:start + self.batch_size]
            types = None if event_types is None else [list(event_types[r]) for r in rows]
            users = self.recommender.encode([list(histories[r]) for r in rows], types)
            out[rows] = users @ self._matrix
        out[:, self._columns < 0] = np.nan
        return out


@dataclass
class TextSpace:
    """Item text vectors and the query encoder, for dense relevance and the HEM vector.

    Attributes:
        item_vectors: ``(n_items, dim)`` float32, L2-normalised, zero rows for items without
            text, in the catalogue order.
        encode_queries: Query texts to ``(n, dim)`` float32 vectors (normalised here).
    """

    item_vectors: np.ndarray
    encode_queries: Callable[[Sequence[str]], np.ndarray]

    def __post_init__(self) -> None:
        self.item_vectors = _normalise(np.asarray(self.item_vectors, dtype=np.float32))

    @classmethod
    def from_texts(cls, texts: Mapping[str, str], items: Sequence[str],
                   encoder: TextEncoder | None = None,
                   cache_folder: str | os.PathLike | None = None) -> TextSpace:
        """Encode ``{item_id: text}`` with the text encoder through the vector cache (as
        :class:`~recsft.search.dense.DenseRetriever`); ``None`` loads the default encoder."""
        from recsft.text.encoder import TextEncoder
        from recsft.text.items import normalise
        from recsft.text.vectors import TokenTexts

        encoder = encoder if encoder is not None else TextEncoder()
        vectors = TokenTexts.encode({str(i): t for i, t in texts.items()},
                                    [str(i) for i in items], encoder,
                                    cache_folder=cache_folder).vectors

        def encode(queries: Sequence[str]) -> np.ndarray:
            return encoder.encode([normalise(q) for q in queries], desc="encoding queries")

        return cls(vectors, encode)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


@dataclass
class Signals:
    """Every item's score under each source for ``b`` search events (``None``: not made).

    Attributes:
        bm25, dense, behaviour, hem: ``(b, n_items)`` float32 (NaN: no score).
    """

    bm25: np.ndarray | None = None
    dense: np.ndarray | None = None
    behaviour: np.ndarray | None = None
    hem: np.ndarray | None = None
    _ranks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def ranks(self, source: str) -> np.ndarray:
        """``(b, n_items)`` int64 0-based rank of each item by that source (unscored items
        last, ties in catalogue order), computed once."""
        if source not in self._ranks:
            keyed = self._keyed(source)
            order = np.argsort(-keyed, axis=1, kind="stable")
            ranks = np.empty_like(order)
            np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :], axis=1)
            self._ranks[source] = ranks
        return self._ranks[source]

    def _keyed(self, source: str) -> np.ndarray:
        """Scores with the items a source does not return at -inf (NaN; BM25: no shared
        term, score 0)."""
        scores = getattr(self, source)
        bad = np.isnan(scores) | ((scores <= 0) if source == "bm25" else False)
        return np.where(bad, -np.inf, scores)

    def listed(self, source: str, n: int) -> np.ndarray:
        """``(b, n_items)`` bool: the item is in that source's top-``n`` list."""
        return (self.ranks(source) < n) & np.isfinite(self._keyed(source))

    def top(self, source: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best columns of each row by ``source`` and their scores, best first
        (items the source does not return left out: their column is -1)."""
        keyed = self._keyed(source)
        n = min(int(n), keyed.shape[1])
        part = np.argpartition(-keyed, n - 1, axis=1)[:, :n]
        values = np.take_along_axis(keyed, part, axis=1)
        order = np.lexsort((part, -values), axis=1)
        cols = np.take_along_axis(part, order, axis=1)
        values = np.take_along_axis(values, order, axis=1)
        cols = np.where(np.isfinite(values), cols, -1)
        return cols, values


class SearchSignals:
    """The sources of the features, aligned to one catalogue.

    Args:
        items: The catalogue (the score columns), fixed order.
        bm25: Lexical relevance; items outside its index score 0.
        text: Item text vectors and query encoder (dense relevance, HEM).
        behaviour: The behaviour model (:class:`RecommenderBehaviour`).
        popularity: ``{item_id: training count}``; absent items count 0.

    Raises:
        RecsftError: an empty or repeated catalogue, or a text space of another size.
    """

    def __init__(self, items: Sequence[str], bm25: BM25Retriever | None = None,
                 text: TextSpace | None = None, behaviour: BehaviourModel | None = None,
                 popularity: Mapping[str, float] | None = None) -> None:
        self.items = [str(i) for i in items]
        if not self.items or len(set(self.items)) != len(self.items):
            raise RecsftError("SearchSignals: the catalogue must be non-empty with distinct "
                              "item ids")
        self.column = {item: c for c, item in enumerate(self.items)}
        self.bm25, self.text, self.behaviour = bm25, text, behaviour
        if text is not None and len(text.item_vectors) != len(self.items):
            raise RecsftError(f"SearchSignals: {len(text.item_vectors)} text vectors for "
                              f"{len(self.items)} items; expected one per catalogue item")
        if bm25 is not None:
            self._bm25_cols = np.array([self.column.get(i, -1) for i in bm25.item_ids])
        counts = popularity or {}
        self.log_popularity = np.log1p(np.array(
            [max(float(counts.get(i, 0.0)), 0.0) for i in self.items], dtype=np.float32))

    def available(self) -> dict[str, bool]:
        """Which score sources exist."""
        return {"bm25": self.bm25 is not None, "dense": self.text is not None,
                "behaviour": self.behaviour is not None, "hem": self.text is not None}

    def check(self, config: FeatureConfig) -> None:
        """Raise :class:`RecsftError` when ``config`` asks for a source that is missing."""
        have = self.available()
        wanted = [s for s in ("bm25", "dense", "behaviour", "hem") if getattr(config, s)]
        wanted += list(config.sources)
        missing = sorted({s for s in wanted if not have[s]})
        if missing:
            raise RecsftError(f"features need {missing} but no such source was given "
                              "(pass it to SearchSignals or turn it off in FeatureConfig)")

    def compute(self, events: SearchEvents, rows: Sequence[int]) -> Signals:
        """Every item's scores for the search events ``rows`` of ``events``."""
        rows = list(rows)
        queries = [events.queries[r] for r in rows]
        histories = [events.histories[r] for r in rows]
        out = Signals()
        if self.bm25 is not None:
            out.bm25 = np.zeros((len(rows), len(self.items)), dtype=np.float32)
            keep = self._bm25_cols >= 0
            for n, query in enumerate(queries):
                out.bm25[n, self._bm25_cols[keep]] = self.bm25.scores(query)[keep]
        if self.text is not None:
            vectors = self.text.item_vectors
            query_vectors = _normalise(np.asarray(self.text.encode_queries(queries),
                                                  dtype=np.float32))
            has_text = np.linalg.norm(vectors, axis=1) > 0
            out.dense = query_vectors @ vectors.T
            history_mean = np.zeros_like(query_vectors)
            for n, history in enumerate(histories):
                cols = [self.column[i] for i in history if i in self.column]
                if cols:
                    history_mean[n] = _normalise(vectors[cols].mean(axis=0))
            out.hem = _normalise(query_vectors + history_mean) @ vectors.T
            out.dense[:, ~has_text] = np.nan
            out.hem[:, ~has_text] = np.nan
        if self.behaviour is not None:
            types = [events.history_event_types[r] for r in rows]
            out.behaviour = np.asarray(self.behaviour.scores(histories, types),
                                       dtype=np.float32)
        return out


def _history_table(signals: SearchSignals, events: SearchEvents, rows: Sequence[int],
                   types: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened history entries: ``(key, position from the end, type code)`` with key =
    ``local row * n_items + column`` (entries of unknown items dropped; code -1 for a type
    not in ``types``)."""
    codes = {t: c for c, t in enumerate(types)}
    keys, positions, kinds = [], [], []
    n_items = len(signals.items)
    for local, r in enumerate(rows):
        history = events.histories[r]
        kind = events.history_event_types[r]
        size = len(history)
        for p, (item, t) in enumerate(zip(history, kind)):
            col = signals.column.get(item)
            if col is not None:
                keys.append(local * n_items + col)
                positions.append(size - p)
                kinds.append(codes.get(t, -1))
    return (np.asarray(keys, dtype=np.int64), np.asarray(positions, dtype=np.float32),
            np.asarray(kinds, dtype=np.int64))


def pair_features(signals: SearchSignals, computed: Signals, events: SearchEvents,
                  rows: Sequence[int], columns: Sequence[np.ndarray], config: FeatureConfig,
                  top_n: Mapping[str, int] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features of the pairs (search event ``rows[i]``, item column ``columns[i][j]``).

    Args:
        signals: The sources.
        computed: ``signals.compute(events, rows)``.
        events: The search events.
        rows: ``b`` event rows.
        columns: ``b`` int arrays of candidate columns (catalogue positions).
        config: Which features.
        top_n: ``{source: n}``, the first stage's list lengths, for ``source_<name>``
            (rank < n); required when ``config.sources`` is non-empty.

    Returns:
        ``(X, groups, names)``: float32 ``(sum(len(c)), n_features)`` (NaN: missing), int64
        ``(b,)`` group sizes, and the feature names.

    Raises:
        RecsftError: a needed source is missing, or ``top_n`` lacks a flagged source.
    """
    signals.check(config)
    rows = list(rows)
    if len(columns) != len(rows):
        raise RecsftError(f"pair_features: {len(rows)} events but {len(columns)} candidate "
                          "lists")
    groups = np.array([len(c) for c in columns], dtype=np.int64)
    local = np.repeat(np.arange(len(rows)), groups)
    cols = (np.concatenate([np.asarray(c, dtype=np.int64) for c in columns])
            if len(rows) else np.zeros(0, dtype=np.int64))
    out: list[np.ndarray] = []
    for source in ("bm25", "dense", "behaviour"):
        if getattr(config, source):
            scores = getattr(computed, source)
            out.append(scores[local, cols])
            rank = computed.ranks(source)[local, cols].astype(np.float32)
            out.append(np.where(np.isnan(scores[local, cols]), np.nan, np.log1p(rank)))
    if config.hem:
        out.append(computed.hem[local, cols])
    if config.popularity:
        out.append(signals.log_popularity[cols])
    if config.history or config.behaviour_types:
        n_items = len(signals.items)
        pair_keys = local * n_items + cols
        keys, positions, kinds = _history_table(signals, events, rows, config.behaviour_types)
        unique, inverse = np.unique(keys, return_inverse=True)
        where = np.searchsorted(unique, pair_keys)
        where = np.minimum(where, max(len(unique) - 1, 0))
        found = (unique[where] == pair_keys) if len(unique) else np.zeros(len(cols), bool)
        if config.history:
            newest = np.full(len(unique), np.inf, dtype=np.float32)
            np.minimum.at(newest, inverse, positions)
            position = np.where(found, newest[where] if len(unique) else np.nan, np.nan)
            out += [position.astype(np.float32), found.astype(np.float32)]
        if config.behaviour_types:
            for code in range(len(config.behaviour_types)):
                counts = np.bincount(inverse[kinds == code], minlength=len(unique))
                out.append(np.where(found, counts[where] if len(unique) else 0, 0))
            total = np.bincount(inverse, minlength=len(unique))
            out.append(np.where(found, total[where] if len(unique) else 0, 0))
    if config.sources:
        missing = [s for s in config.sources if not top_n or s not in top_n]
        if missing:
            raise RecsftError(f"pair_features: no first-stage list length for {missing}; "
                              "pass top_n={source: n}")
        for source in config.sources:
            out.append(computed.listed(source, top_n[source])[local, cols])
    names = feature_names(config)
    matrix = (np.stack([np.asarray(c, dtype=np.float32) for c in out], axis=1)
              if out else np.zeros((len(cols), 0), dtype=np.float32))
    return np.ascontiguousarray(matrix, dtype=np.float32), groups, names
