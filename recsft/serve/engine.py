"""The serving engine: one run folder's model answering a micro-batch with one model call.

An :class:`Engine` wraps the :class:`~recsft.retrieval.recommender.Recommender` of a run
(opened by ``Recommender.from_pretrained``: manifest, digests, weights from safetensors only,
index and popularity against the vocabulary) and, with the ``onnx`` backend, the run's ONNX
encoder (:class:`recsft.export.onnx.OnnxEncoder`) for the user vectors. A batch of requests
goes through :meth:`Recommender.rank <recsft.retrieval.recommender.Recommender.rank>`, the
step :meth:`~recsft.retrieval.recommender.Recommender.recommend_batch` takes too, so answers are
those of ``Recommender.recommend`` for the same histories: history exclusion, ``exclude``,
``filter``, the popularity fallback for a history the model cannot read, the index the run
holds (exact or HNSW).

Requests are checked against the engine that answers them (the model of a batch never changes
within it; a reload swaps the engine between batches): items must be known to the model (the
unknown ones are listed), ``k`` from 1 to ``min(max_k, catalogue)``, a user id must have state.
A refused request is a :class:`ServeError` (an HTTP status with a JSON body), the rest of its
batch is answered.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsft.errors import RecsftError, RunFolderError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from recsft.retrieval.recommender import Recommendations, Recommender
    from recsft.serve.state import StateStore, UserState

__all__ = ["Engine", "ServeError", "RecommendQuery", "SimilarQuery", "ONNX_FILE",
           "set_threads"]

logger = logging.getLogger(__name__)

#: The ONNX encoder ``recsft export onnx`` writes into a run folder.
ONNX_FILE = "encoder.onnx"
#: Largest difference between eager and ONNX user vectors accepted when an engine loads.
ONNX_TOLERANCE = 1e-3
#: Unknown ids quoted in an error, at most.
LISTED = 50


class ServeError(Exception):
    """A request the service refuses: an HTTP status and a JSON body
    ``{"error": ..., "detail": ...}``.

    Args:
        status: The HTTP status (4xx).
        error: One line saying what is wrong.
        detail: JSON-serialisable details (the field, the unknown ids, the bound).
        headers: Response headers (``WWW-Authenticate`` of a 401).
    """

    def __init__(self, status: int, error: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"error": self.error, "detail": self.detail}


@dataclass
class RecommendQuery:
    """One ``POST /recommend``: a stored user's history (``user_id``) or a given ``history``.

    Attributes:
        user_id: Read the history from the state store (then ``history`` is ``None``).
        history: Item ids, oldest first.
        event_types: Parallel to ``history``, or ``None``.
        timestamps: Parallel to ``history`` (seconds), or ``None``.
        k: Recommendations wanted.
        exclude: Items never to return (on top of the history).
        filter: Only return these items, or ``None``.
    """

    user_id: str | None = None
    history: list[str] | None = None
    event_types: list[str] | None = None
    timestamps: list[float] | None = None
    k: int = 10
    exclude: list[str] = field(default_factory=list)
    filter: list[str] | None = None


@dataclass
class SimilarQuery:
    """One ``POST /similar-items``."""

    item_id: str
    k: int = 10
    exclude: list[str] = field(default_factory=list)
    filter: list[str] | None = None


@dataclass
class SearchQuery:
    """One ``POST /search``: a query and a stored user's history (``user_id``) or a given
    ``history`` (the fields of :class:`RecommendQuery`, no timestamps: the search index reads
    none)."""

    query: str
    user_id: str | None = None
    history: list[str] | None = None
    event_types: list[str] | None = None
    k: int = 10
    exclude: list[str] = field(default_factory=list)
    filter: list[str] | None = None


def set_threads(threads: int | None) -> None:
    """Set the CPU threads of torch and FAISS once (in the worker thread); ``None`` keeps the
    libraries' defaults."""
    if threads is None:
        return
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


class Engine:
    """A loaded run that answers batches of requests.

    Args:
        recommender: The run's recommender.
        backend: ``"eager"`` or ``"onnx"``.
        encoder: The ONNX encoder (``backend="onnx"``).
        max_k: Largest ``k`` accepted (and never more than the catalogue).

    Attributes:
        model: The first 12 hex digits of the SHA-256 of the run's weights (the model
            version every answer names).
        run: The run folder.
        loaded_at: When it was loaded (UNIX seconds).
    """

    def __init__(self, recommender: Recommender, backend: str = "eager", encoder: Any = None,
                 max_k: int = 1000) -> None:
        if backend == "onnx" and encoder is None:
            raise ValueError("the onnx backend needs its encoder")
        self.recommender = recommender
        self.backend = backend
        self.encoder = encoder
        self.max_k = max_k
        sha = recommender.run_model_sha256 or "unknown"
        self.model = sha[:12]
        self.run = str(recommender.run_folder) if recommender.run_folder is not None else ""
        self.loaded_at = time.time()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, run: str | os.PathLike, backend: str = "eager", max_k: int = 1000,
             threads: int | None = None) -> Engine:
        """Open a run folder and make it ready to answer (warmed up: the first request does
        not pay for lazy set-up).

        Args:
            run: The run folder (or a Hub repository id, as ``Recommender.from_pretrained``).
            backend: ``"eager"`` or ``"onnx"`` (the run's ``encoder.onnx``).
            max_k: Largest ``k`` accepted.
            threads: onnxruntime's intra-op threads (``None``: its default).

        Raises:
            RunFolderError: the run is incomplete, altered or inconsistent (manifest,
                digests, vocabulary), or the ONNX encoder is missing or does not match the
                model.
        """
        from recsft.retrieval.recommender import Recommender

        recommender = Recommender.from_pretrained(run)
        encoder = None
        if backend == "onnx":
            encoder = _onnx_encoder(recommender, threads)
        engine = cls(recommender, backend, encoder, max_k)
        engine.warm_up()
        return engine

    def warm_up(self) -> None:
        """One request of each kind, so that lazy set-up (the cosine index of similar items,
        the first model call) happens now rather than on a client's request."""
        items = self.recommender.tokenizer.item_ids
        self.recommender.rank([list(items[:3])], [1], exclude=[[]], allowed=[None],
                              encode=self._encode)
        self.recommender.similar_items(items[0], k=1)

    # ------------------------------------------------------------------ what it serves

    @property
    def num_items(self) -> int:
        """Items in the catalogue."""
        return self.recommender.tokenizer.num_items

    @property
    def window(self) -> int:
        """Events the model reads (its input length)."""
        return self.recommender.max_length

    def info(self) -> dict[str, Any]:
        """What ``/readyz`` and the metrics say about the model."""
        return {"model": self.model, "run": self.run, "backend": self.backend,
                "items": self.num_items, "loaded_at": self.loaded_at}

    def unknown(self, items: Sequence[str]) -> list[str]:
        """The ids of ``items`` the model does not know, each once, in order."""
        return list(dict.fromkeys(self.recommender.unknown_items(items)))

    def check_items(self, items: Sequence[str] | None, name: str) -> None:
        """Refuse unknown item ids.

        Raises:
            ServeError: 422 listing them (at most :data:`LISTED`) and their number.
        """
        if not items:
            return
        unknown = self.unknown(items)
        if unknown:
            raise ServeError(422, f"{name}: {len(unknown)} item id(s) unknown to the model",
                             {"field": name, "unknown": unknown[:LISTED],
                              "count": len(unknown)})

    def check_k(self, k: int) -> None:
        """Refuse ``k`` outside ``1..min(max_k, catalogue)``.

        Raises:
            ServeError: 422 naming the bound.
        """
        bound = min(self.max_k, self.num_items)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= bound:
            raise ServeError(422, f"k must be an integer from 1 to {bound} (the catalogue "
                             f"holds {self.num_items} items; at most {self.max_k} per request)",
                             {"field": "k", "value": k, "max": bound})

    # ------------------------------------------------------------------ answering

    @property
    def _encode(self) -> Callable[[dict[str, torch.Tensor]], np.ndarray] | None:
        """The user-vector function of the backend (``None``: the recommender's model)."""
        return self.encoder.encode if self.encoder is not None else None

    def answer(self, queries: Sequence[RecommendQuery | SimilarQuery | SearchQuery],
               store: StateStore | None, timings: dict[str, float]
               ) -> list[Recommendations | Exception]:
        """Answer a micro-batch: the stored histories read in one call, every recommendation
        with one model call (:meth:`Recommender.rank`), similar items from the cosine index.

        Args:
            queries: The batch.
            store: The user-state store (for queries by ``user_id``).
            timings: Seconds spent are added to ``"state"``, ``"encode"`` and ``"search"``.

        Returns:
            One ``[(item_id, score), ...]`` or :class:`ServeError` per query, in order (a
            query by user id gets the store's :class:`~recsft.serve.state.StateError` when the
            store fails; the other queries are answered).
        """
        results: list[Any] = [None] * len(queries)
        rows: list[int] = []
        for n, query in enumerate(queries):
            try:
                self._check(query)
            except ServeError as err:
                results[n] = err
                continue
            if isinstance(query, SimilarQuery):
                start = time.perf_counter()
                results[n] = self.recommender.similar_items(
                    query.item_id, query.k, exclude=query.exclude,
                    filter=None if query.filter is None else set(query.filter))
                timings["search"] = timings.get("search", 0.0) + time.perf_counter() - start
            else:
                rows.append(n)
        states = self._states([queries[n] for n in rows], store, timings)
        batch: list[tuple[int, list[str], list[str] | None, list[float] | None]] = []
        for n, state in zip(rows, states):
            query = queries[n]
            if isinstance(state, Exception):
                results[n] = state
            elif state is not None and not isinstance(query, SearchQuery):
                types = state.event_types
                times = state.timestamps
                batch.append((n, list(state.items),
                              None if all(t is None for t in types) else list(types),
                              list(times) if all(t is not None for t in times) else None))
            elif isinstance(query, SearchQuery):
                types = state.event_types if state is not None else query.event_types
                results[n] = self._search(query, list(
                    state.items if state is not None else query.history or []), types, timings)
                continue
            else:
                batch.append((n, list(query.history or []), query.event_types,
                              query.timestamps))
        if batch:
            answered = self._rank(queries, batch, timings)
            for (n, *_), recommendations in zip(batch, answered):
                results[n] = recommendations
        return results

    def _search(self, query: SearchQuery, history: list[str],
                types: Sequence[str | None] | None, timings: dict[str, float]
                ) -> Recommendations | ServeError:
        """``Recommender.search``'s answer with ``exclude`` and ``filter``
        (:meth:`recsft.search.index.SearchIndex.search`); 409 when the run has no search
        index, 422 for a query it refuses."""
        from recsft.search.index import search_index

        start = time.perf_counter()
        try:
            index = search_index(self.recommender)
            if types is not None and any(t is None for t in types):
                types = ["view" if t is None else t for t in types]
            return index.search(query.query, history, query.k, types,
                                exclude=query.exclude, filter=query.filter)
        except RecsftError as err:
            status = 422 if index_loaded(self.recommender) else 409
            return ServeError(status, str(err).splitlines()[0], {"field": "query"}
                              if status == 422 else {"how": "recsft search build"})
        finally:
            timings["search"] = timings.get("search", 0.0) + time.perf_counter() - start

    def _check(self, query: RecommendQuery | SimilarQuery | SearchQuery) -> None:
        self.check_k(query.k)
        if isinstance(query, SimilarQuery):
            if self.unknown([query.item_id]):
                raise ServeError(422, "item_id: unknown to the model",
                                 {"field": "item_id", "unknown": [query.item_id], "count": 1})
        else:
            self.check_items(query.history, "history")
        self.check_items(query.exclude, "exclude")
        self.check_items(query.filter, "filter")

    @staticmethod
    def _states(queries: Sequence[RecommendQuery], store: StateStore | None,
                timings: dict[str, float]) -> list[UserState | Exception | None]:
        """Each query's stored state (``None`` for a query carrying its history)."""
        wanted = [q.user_id for q in queries if q.user_id is not None]
        if not wanted:
            return [None] * len(queries)
        if store is None:
            return [ServeError(409, "no user-state store", {"field": "user_id"})
                    if q.user_id is not None else None for q in queries]
        from recsft.serve.state_base import StateError

        start = time.perf_counter()
        try:
            found = iter(store.get_many(wanted))
        except StateError as err:  # the store failed: the queries that need it fail (503)
            return [err if q.user_id is not None else None for q in queries]
        finally:
            timings["state"] = timings.get("state", 0.0) + time.perf_counter() - start
        states: list[UserState | Exception | None] = []
        for query in queries:
            if query.user_id is None:
                states.append(None)
                continue
            state = next(found)
            states.append(state if state is not None else ServeError(
                404, f"unknown user {query.user_id!r}: no events stored",
                {"field": "user_id", "user_id": query.user_id}))
        return states

    def _rank(self, queries: Sequence[Any],
              batch: list[tuple[int, list[str], list[str] | None, list[float] | None]],
              timings: dict[str, float]) -> list[Recommendations]:
        """One :meth:`Recommender.rank` call for the batch's recommendations."""
        from recsft.tokenization import UNK

        histories = [history for _, history, _, _ in batch]
        any_types = any(types is not None for _, _, types, _ in batch)
        any_times = any(times is not None for _, _, _, times in batch)
        event_types = [[UNK if t is None else t for t in types] if types is not None
                       else [UNK] * len(history) for _, history, types, _ in batch] \
            if any_types else None
        # A row without times reads as "times unknown" (an empty row), as Recommender does.
        timestamps = [list(times) if times is not None else [] for _, _, _, times in batch] \
            if any_times else None
        exclude = [history + list(queries[n].exclude) for n, history, _, _ in batch]
        allowed = [None if queries[n].filter is None else set(queries[n].filter)
                   for n, *_ in batch]
        return self.recommender.rank(
            histories, [queries[n].k for n, *_ in batch], event_types=event_types,
            timestamps=timestamps, exclude=exclude, allowed=allowed,
            batch_size=max(len(batch), 1), encode=self._encode, timings=timings)


def index_loaded(recommender: Recommender) -> bool:
    """Whether the recommender's search index is loaded (a failure after that is the
    query's)."""
    return getattr(recommender, "_search_index", None) is not None


def _onnx_encoder(recommender: Recommender, threads: int | None) -> Any:
    """The run's ONNX encoder (:meth:`OnnxEncoder.for_run <recsft.export.onnx.OnnxEncoder.
    for_run>`: listed in the manifest, exported from these weights), checked once more on a
    probe batch (the newest and the oldest items) against the eager model.

    Raises:
        RunFolderError: no ``encoder.onnx`` in the run, one exported from other weights, or
            one whose user vectors differ from the model's.
    """
    import numpy as np

    from recsft.export.onnx import OnnxEncoder
    from recsft.runs import Run

    folder = Path(recommender.run_folder or ".")
    encoder = OnnxEncoder.for_run(Run.open(folder, verify=False), threads=threads)
    items = recommender.tokenizer.item_ids
    probe = [list(items[-5:]), list(items[:3]), list(items[-1:])]
    try:
        got = encoder.encode(recommender.model_inputs(probe))
    except RecsftError as err:
        raise RunFolderError(f"{folder / ONNX_FILE}: the ONNX encoder cannot read this run's "
                             f"items ({err}); export it again with 'recsft export onnx --run "
                             f"{folder}'") from None
    expected = recommender.encode(probe)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=ONNX_TOLERANCE,
                                                      rtol=ONNX_TOLERANCE):
        raise RunFolderError(f"{folder / ONNX_FILE}: the ONNX encoder's user vectors differ "
                             f"from the model's; export it again with 'recsft export onnx "
                             f"--run {folder}'")
    return encoder
