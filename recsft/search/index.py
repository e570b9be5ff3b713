"""A run's search index: personalised search next to its recommendations.

``recsft search build --run R --events E`` (:func:`recsft.search.build.build_search_index`) fits a
:class:`~recsft.search.two_stage.TwoStageScorer` for the run and saves it in the run's
``search/`` folder (:data:`recsft.runs.files.SEARCH_DIR`) through
:func:`recsft.runs.update.updating`, so the manifest records every file::

    search/search.json                 catalogue, text source, encoder, counts (this module)
    search/item_vectors.safetensors    (n_items, dim) text vectors of the catalogue
    search/bm25/...                    the BM25 index (:meth:`BM25Retriever.save`, no pickle)
    search/reranker/...                re-ranker + feature config (LightGBM text / JSON)

The catalogue is the run's items (its tokenizer's ids). Item texts come from the run's own
``data.item_table`` / ``data.item_text`` (or its named dataset's), else from ``item_table``
and ``item_text`` given here (given ones win); they are encoded with the run's
``data.text_encoder`` through the text-vector cache. The re-ranker is fitted on the search
events' ``train`` split and early-stopped / tuned on ``valid``
(:func:`recsft.search.events.search_events`: a log with a ``query`` column).

:func:`search_index` loads it for a :class:`~recsft.retrieval.recommender.Recommender` once
(the behaviour source is that recommender); :meth:`SearchIndex.search` answers ``recsft
search``, :meth:`Recommender.search <recsft.retrieval.recommender.Recommender.search>` and
``POST /search`` alike.

Example:
    >>> from recsft.search.build import build_search_index
    >>> build_search_index("runs/demo", "searches.csv")              # doctest: +SKIP
    >>> search_index(Recommender.from_pretrained("runs/demo")).search("navy hoodie", [], 5)
    ... # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError
from recsft.runs import files as F

if TYPE_CHECKING:
    from recsft.retrieval.recommender import Recommender
    from recsft.search.two_stage import TwoStageScorer

INFO_FILE = "search.json"
VECTORS_FILE = "item_vectors.safetensors"
BM25_DIR = "bm25"
RERANKER_DIR = "reranker"
FORMAT = 1


def how_to_build(run: str | os.PathLike) -> str:
    """The command that builds a run's search index (for error messages)."""
    return f"recsft search build --run {run} --events <search log with a query column>"


def has_search_index(run: str | os.PathLike) -> bool:
    """Whether the run folder has a search index (``search/search.json``)."""
    return (Path(run) / F.SEARCH_DIR / INFO_FILE).is_file()


def _behaviour(recommender: Recommender, items: Sequence[str]) -> Any:
    from recsft.search.features import RecommenderBehaviour

    return RecommenderBehaviour(recommender, items)


@dataclass
class SearchIndex:
    """A loaded search index (module doc).

    Attributes:
        scorer: The two-stage scorer over the catalogue.
        info: The ``search.json`` record.
        folder: The ``search/`` folder it was read from.
    """

    scorer: TwoStageScorer
    info: dict[str, Any]
    folder: Path

    @property
    def items(self) -> list[str]:
        """The catalogue."""
        return self.scorer.items

    @classmethod
    def load(cls, recommender: Recommender, run: str | os.PathLike | None = None
             ) -> SearchIndex:
        """Load the index of ``run`` (default: the recommender's run folder), with
        ``recommender`` as its behaviour source.

        Raises:
            RecsftError: no run folder, no search index (saying how to build one), or a
                damaged one.
        """
        from safetensors.numpy import load_file

        from recsft.fileio import read_json
        from recsft.search.bm25 import BM25Retriever
        from recsft.search.features import SearchSignals, TextSpace
        from recsft.search.two_stage import TwoStageScorer
        from recsft.text.encoder import TextEncoder
        from recsft.text.items import normalise

        run = run if run is not None else recommender.run_folder
        if run is None:
            raise RecsftError("search: this recommender was not opened from a run folder, so "
                              "it has no search index (Recommender.from_pretrained(run))")
        folder = Path(run) / F.SEARCH_DIR
        if not has_search_index(run):
            raise RecsftError(f"{run}: the run has no search index; build one with "
                              f"'{how_to_build(run)}'")
        info = read_json(folder / INFO_FILE, "search index record")
        if not isinstance(info, dict) or info.get("format") != FORMAT or \
                not isinstance(info.get("items"), list):
            raise RecsftError(f"{folder / INFO_FILE}: not a search index record of format "
                              f"{FORMAT}; build it again with '{how_to_build(run)}'")
        items = [str(i) for i in info["items"]]
        vectors = load_file(str(folder / VECTORS_FILE)).get("item_vectors")
        if vectors is None or vectors.shape[0] != len(items):
            raise RecsftError(f"{folder / VECTORS_FILE}: expected 'item_vectors' with one row "
                              f"per catalogue item ({len(items)})")
        encoder = TextEncoder(info["text_encoder"])

        def encode(queries: Sequence[str]) -> np.ndarray:
            return encoder.encode([normalise(q) for q in queries], desc="encoding queries")

        popularity = recommender.popularity
        counts = {i: float(popularity.count(i)) for i in items} if popularity else None
        signals = SearchSignals(items, bm25=BM25Retriever.load(folder / BM25_DIR),
                                text=TextSpace(vectors, encode),
                                behaviour=_behaviour(recommender, items), popularity=counts)
        return cls(TwoStageScorer.load(folder / RERANKER_DIR, signals), info, folder)

    def search(self, query: str, history: Sequence[str] = (), k: int = 10,
               event_types: Sequence[str] | None = None, exclude: Collection[str] = (),
               filter: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best items for a query and a history (oldest first), best first.

        Scores are :meth:`TwoStageScorer.score`'s (history items not filtered); items in
        ``exclude``, or outside ``filter`` when given, are never returned, so fewer than ``k``
        items come back only when fewer are allowed.

        Raises:
            RecsftError: a query that is not a non-empty string, a history given as one
                string, ``k`` outside ``1..catalogue size``, event types of another length.
        """
        from recsft.search.events import SearchEvents

        if not isinstance(query, str) or not query.strip():
            raise RecsftError(f"search: query {query!r}; expected a non-empty string")
        if isinstance(history, str):
            raise RecsftError("search: history must be a list of item ids, not one string")
        n = len(self.items)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            raise RecsftError(f"search: k={k!r}, expected an integer from 1 to {n}")
        history = [str(i) for i in history]
        types = [str(t) for t in event_types] if event_types is not None else \
            ["view"] * len(history)
        if len(types) != len(history):
            raise RecsftError(f"search: {len(history)} history items but {len(types)} event "
                              "types")
        one = SearchEvents(["user"], [query], np.zeros(1, np.int64), [history], [types],
                           [["?"]], ["test"])
        scores = self.scorer.score(one, [0])[0].astype(np.float64)
        column = self.scorer.signals.column
        if exclude:
            scores[[column[i] for i in exclude if i in column]] = -np.inf
        if filter is not None:
            allowed = np.zeros(n, dtype=bool)
            allowed[[column[i] for i in filter if i in column]] = True
            scores[~allowed] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.items[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


def search_index(recommender: Recommender) -> SearchIndex:
    """The recommender's search index, loaded from its run folder on first use and kept on
    it (module doc).

    Raises:
        RecsftError: see :meth:`SearchIndex.load`.
    """
    cached = getattr(recommender, "_search_index", None)
    if cached is None:
        cached = SearchIndex.load(recommender)
        recommender._search_index = cached
    return cached
