"""Recommender: a trained run folder as a next-item recommendation service.

It encodes a history with the run's model and searches the run's FAISS item index, never
returning an item of the history. A history becomes model inputs by the one rule of
:func:`recsft.scoring.inputs.model_inputs`, as in training and evaluation: the newest events of
the model's window, a ``[MASK]`` appended for BERT4Rec (the model's vector for the query
position is the user vector), time gaps for models trained with them, and items unknown to the
model read as ``[UNK]`` (logged, never an error). A history holding no item the model knows
(empty, or only unknown items) gets the most popular items of training instead. With the run's
item transitions (``transitions=True``, after ``recsft transitions``) the scores are the log of
the model's softmax mixed with them (:class:`~recsft.scoring.mixture.MixtureScorer`, its
weight, smoothing and temperature chosen on validation), ranked over every indexed item the
model knows.

Example:
    >>> from recsft import Recommender
    >>> rec = Recommender.from_pretrained("runs/demo")
    >>> rec.recommend(["i0042", "i0107", "i0311"], k=10)
    [('i0312', 9.71), ...]
    >>> rec.recommend_batch([["i0042"], []], k=3, filter={"i0001", "i0002", "i0312"})
    >>> rec.similar_items("i0042", k=5)
    >>> rec.explain(["i0042", "i0107", "i0311"], "i0312")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np
import torch

from recsft.retrieval.explain import METHODS, HistoryWeight, attention_weights, occlusion_weights
from recsft.retrieval.index import ItemIndex
from recsft.retrieval.mixture_search import check_mixture_parts, mixture_search
from recsft.retrieval.popularity import Popularity
from recsft.scoring.inputs import check_parallel, model_inputs
from recsft.tokenization import BehaviorTokenizer

if TYPE_CHECKING:
    import pandas as pd

    from recsft.modeling.transitions import ItemTransitions
    from recsft.scoring.content import ContentScorer

__all__ = ["Recommender", "ItemFilter"]

logger = logging.getLogger(__name__)

# An allow-list of item ids, or a predicate on an item id (applied to every indexed item).
ItemFilter = Collection[str] | Callable[[str], bool]
Recommendations = list[tuple[str, float]]


class Recommender:
    """Next-item recommendations, similar items and explanations from a trained model.

    Args:
        model: A sequence model with ``encode_sequences`` and ``item_embeddings``.
        tokenizer: The run's tokenizer.
        index: FAISS index over ``model.item_embeddings()`` (exact inner product if not given).
        popularity: Item id → training interactions, the answer for a history the model
            cannot read (see :class:`~recsft.retrieval.popularity.Popularity`); with
            transitions chosen with a new-item prior, it tells which items are new (none or
            zero interactions, and every item added since).
        transitions: Item transitions with a chosen mixture weight: scores are then the log of
            the mixture (full ranking over the model's items that are in ``index``).
        content: The text similarity of the items to a history
            (:class:`~recsft.scoring.content.ContentScorer`), added to the mixture with the
            transitions' ``content_weight``; ``None``: the transitions' content weight must be
            0.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: BehaviorTokenizer,
        index: ItemIndex | None = None,
        popularity: Popularity | Mapping[str, float] | None = None,
        transitions: ItemTransitions | None = None,
        content: ContentScorer | None = None,
    ) -> None:
        check_mixture_parts(len(tokenizer.item_ids), transitions, content,
                            has_popularity=popularity is not None)
        self.transitions = transitions
        self.content = content
        self.model = model.eval()
        self.tokenizer = tokenizer
        self._items: np.ndarray | None = None
        if index is None:
            index = ItemIndex(self.item_matrix(), tokenizer.item_ids, metric="ip")
        self.index = index
        if popularity is not None and not isinstance(popularity, Popularity):
            popularity = Popularity(popularity)
        self.popularity = popularity
        self._vocab = tokenizer.get_vocab()
        self._item_rows = {item: row for row, item in enumerate(tokenizer.item_ids)}
        self._similarity: ItemIndex | None = None
        self._new_items: torch.Tensor | None = None
        #: The run folder it was opened from (:meth:`from_pretrained`), whether that folder is
        #: local (then :meth:`add_items` writes it), the digest of the weights it loaded and
        #: the separate index folder it searches, if any.
        self.run_folder: Path | None = None
        self.writes_run = False
        self.run_model_sha256: str | None = None
        self.index_folder: Path | None = None

    @classmethod
    def from_pretrained(cls, run_dir: str | os.PathLike,
                        index_dir: str | os.PathLike | None = None,
                        transitions: bool = False, *, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None,
                        token: str | bool | None = None) -> Recommender:
        """Load the model, tokenizer, FAISS index and item popularity of a run.

        Args:
            run_dir: A run folder, or the id of a Hub model repository that ``recsft push``
                wrote (``user/name``): its manifest's files are downloaded once into the
                Hugging Face cache (safetensors, JSON, YAML, the FAISS index; never a pickle
                file) and read from there afterwards (:func:`recsft.hub.download.resolve_run`).
                An existing local path wins over a repository of the same name.
            index_dir: Where the index lives if not in ``run_dir`` (``recsft index build
                --output``).
            transitions: Also load its item transitions (``transitions.safetensors``) and
                score with the mixture.
            revision: Branch, tag or commit of a Hub repository (default ``main``).
            cache_dir: Hugging Face cache folder for a Hub repository (default
                ``HF_HUB_CACHE``).
            token: Hub token for a private repository (default ``HF_TOKEN`` or the saved
                login).

        The folder is opened as a :class:`recsft.runs.Run` (manifest and digests checked,
        weights from safetensors only, every id-bearing file against the tokenizer).

        Raises:
            RunFolderError: the run is incomplete, altered or unsafe, the index was built for
                another model, ``transitions`` and the run has none, or ``run_dir`` is neither
                a folder nor a repository id.
            HubError: the repository cannot be downloaded (not found, refused, offline and
                not cached).
        """
        from recsft.hub.download import resolve_run
        from recsft.runs import Run

        folder = resolve_run(run_dir, revision=revision, cache_dir=cache_dir, token=token)
        run = Run.open(folder)
        recommender = run.recommender(index_dir=index_dir, transitions=transitions)
        recommender.run_folder, recommender.run_model_sha256 = run.path, run.model_sha256
        recommender.writes_run = folder == Path(run_dir)  # a local folder, not a Hub download
        if index_dir is not None and Path(index_dir).resolve() != run.path.resolve():
            recommender.index_folder = Path(index_dir)
        return recommender

    def add_items(self, table: str | os.PathLike | pd.DataFrame,
                  template: str | None = None) -> list[str]:
        """Make new items recommendable at once, without retraining (a model trained with
        ``model.item_representation`` ``"text"`` or ``"id+text"`` scores them from their text).

        The items of ``table`` the model does not know are encoded with the run's text encoder
        and appended to the model, tokenizer, index and popularity; opened from a local run
        folder, the folder is updated too (:func:`recsft.runs.items.add_recommender_items`).

        Args:
            table: An item table (CSV / TSV / Parquet / JSON lines) or a DataFrame, keyed by
                ``item_id``.
            template: The text template over its columns (default: the run's
                ``data.item_text``).

        Returns:
            The added item ids (known items are skipped).

        Raises:
            RecsftError: the model reads no text, or a bad table or template.
        """
        from recsft.runs import add_recommender_items

        return add_recommender_items(self, table, template).added

    def items_changed(self) -> None:
        """Forget what was computed from the item vocabulary (after items were added)."""
        self._items, self._similarity, self._new_items = None, None, None
        self._vocab = self.tokenizer.get_vocab()
        self._item_rows = {item: row for row, item in enumerate(self.tokenizer.item_ids)}

    def new_item_mask(self) -> torch.Tensor:
        """``(num_items,)`` bool in the tokenizer's item order: the items without training
        interactions (none in the popularity, or added since), those the mixture's new-item
        prior lifts. Computed once per vocabulary."""
        if self._new_items is None:
            counts = self.popularity
            self._new_items = torch.tensor([counts is None or counts.count(item) == 0
                                            for item in self.tokenizer.item_ids])
        return self._new_items

    @property
    def max_length(self) -> int:
        """The model's input length (an appended ``[MASK]`` included), from its config."""
        return int(self.model.config.max_position_embeddings)

    @property
    def append_mask(self) -> bool:
        """Whether the model reads a history with an appended ``[MASK]``, from its config."""
        return bool(self.model.config.uses_mask_token)

    def search(self, query: str, history: Sequence[str] = (), k: int = 10,
               event_types: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Personalised search: ``[(item_id, score), ...]`` best first for a query and a history
        (oldest first), from the run's search index (``recsft search build``), loaded on first
        use (:mod:`recsft.search.index`). Raises RecsftError: no run folder or no index."""
        from recsft.search.index import search_index

        return search_index(self).search(query, history, k, event_types)

    def item_matrix(self) -> np.ndarray:
        """The model's item vectors ``(num_items, dim)`` as float32 NumPy, computed once."""
        if self._items is None:
            with torch.no_grad():
                self._items = self.model.item_embeddings().detach().float().cpu().numpy()
        return self._items

    def unknown_items(self, history: Sequence[str]) -> list[str]:
        """Items of ``history`` the model does not know (read as ``[UNK]``)."""
        return [item for item in history if item not in self._vocab]

    def item_vector(self, item_id: str) -> np.ndarray:
        """The model's vector ``(dim,)`` of ``item_id`` (its row of the output layer).

        Raises:
            KeyError: the item is unknown to the model.
        """
        row = self._item_rows.get(item_id)
        if row is None:
            raise KeyError(f"unknown item id {item_id!r}: not among the model's "
                           f"{len(self._item_rows)} items")
        return self.item_matrix()[row]

    def _allowed(self, filter: ItemFilter | None) -> Collection[str] | None:
        if filter is None:
            return None
        if isinstance(filter, str):
            raise TypeError("filter must be a collection of item ids or a predicate, "
                            "not a single string")
        if callable(filter):
            return {item for item in self.index.item_ids if filter(item)}
        return filter if isinstance(filter, (set, frozenset, dict)) else set(filter)

    # ------------------------------------------------------------------ encoding

    @torch.no_grad()
    def encode(
        self,
        histories: Sequence[Sequence[str]],
        event_types: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
    ) -> np.ndarray:
        """User vectors ``(n, dim)`` float32 for histories (oldest first).

        The histories become inputs by :func:`~recsft.scoring.inputs.model_inputs` (items
        unknown to the model read as ``[UNK]``). A model trained with time gaps reads them
        from ``timestamps`` (seconds); without timestamps every gap is "unknown", the input of
        a history whose times are not known.

        Args:
            histories: ``n`` item-id sequences, oldest first.
            event_types: Optional, one list of event types per history, parallel to it.
            timestamps: Optional, one list of times (seconds) per history, parallel to it.

        Raises:
            ValueError: ``event_types`` or ``timestamps`` are not parallel to ``histories``.
        """
        return self._user_vectors(self.model_inputs(histories, event_types, timestamps))

    @torch.no_grad()
    def _user_vectors(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        """``(n, dim)`` float32 user vectors of :meth:`model_inputs`' tensors."""
        return self.model.encode_sequences(**inputs).float().cpu().numpy()

    def model_inputs(
        self,
        histories: Sequence[Sequence[str]],
        event_types: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The model's ``(n, L)`` input tensors for histories, on the model's device, by
        :func:`~recsft.scoring.inputs.model_inputs` (see :meth:`encode`).

        Raises:
            ValueError: ``event_types`` or ``timestamps`` are not parallel to ``histories``.
        """
        check_parallel(histories, event_types, timestamps, empty_times=False)
        return self._inputs(histories, event_types, timestamps)

    # ------------------------------------------------------------------ recommendations

    def recommend(
        self,
        history: Sequence[str],
        k: int = 10,
        *,
        event_types: Sequence[str] | None = None,
        timestamps: Sequence[int | float] | None = None,
        exclude: Collection[str] = (),
        filter: ItemFilter | None = None,
        exclude_history: bool = True,
    ) -> Recommendations:
        """Top-``k`` next items for one history.

        Args:
            history: External item ids, oldest first (may be empty).
            k: Number of recommendations.
            event_types: Optional parallel event types.
            timestamps: Optional parallel event times in seconds (read by models trained
                with time gaps).
            exclude: Items never to return (on top of the history).
            filter: Only return these items: a collection of ids, or a predicate on an id.
            exclude_history: Never return an item of the history (default).

        Returns:
            ``[(item_id, score), ...]``, best first: model scores, or training interaction
            counts when the history holds no item the model knows (popularity fallback).
        """
        return self.recommend_batch(
            [history], k,
            event_types=None if event_types is None else [event_types],
            timestamps=None if timestamps is None else [timestamps],
            exclude=[exclude], filter=filter, exclude_history=exclude_history,
        )[0]

    def recommend_batch(
        self,
        histories: Sequence[Sequence[str]],
        k: int = 10,
        *,
        event_types: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
        exclude: Sequence[Collection[str]] | None = None,
        filter: ItemFilter | None = None,
        exclude_history: bool = True,
        batch_size: int = 256,
    ) -> list[Recommendations]:
        """Top-``k`` next items for many histories, encoded ``batch_size`` at a time.

        Args:
            histories: ``n`` histories, oldest first.
            k: Recommendations per history.
            event_types: Optional, one row per history, parallel to it.
            timestamps: Optional, one row per history, parallel to it.
            exclude: Optional, one collection of item ids per history never to return.
            filter: Only return these items (a collection of ids or a predicate), for all.
            exclude_history: Never return an item of the history (default).
            batch_size: Histories encoded per model call.

        Returns:
            One ``[(item_id, score), ...]`` list per history, as :meth:`recommend`.

        Raises:
            ValueError: ``k`` not in ``1..catalogue size`` (checked before anything is
                allocated), rows not parallel to ``histories``, or a history the model cannot
                read and no item popularity to fall back on.
        """
        self._check_k(k)
        for row, history in enumerate(histories):
            if isinstance(history, str):
                raise TypeError(f"histories[{row}] must be a sequence of item ids, not a "
                                f"single string ({history!r}); wrap it in a list")
        if exclude is not None and len(exclude) != len(histories):
            raise ValueError(f"exclude must hold one collection per history: expected "
                             f"{len(histories)}, got {len(exclude)}")
        check_parallel(histories, event_types, timestamps, empty_times=False)
        allowed = self._allowed(filter)
        unknown = sorted({item for history in histories for item in self.unknown_items(history)})
        if unknown:
            logger.warning("read %d item id(s) unknown to the model as [UNK], e.g. %s",
                           len(unknown), unknown[:5])
        excluded = [(list(history) if exclude_history else [])
                    + (list(exclude[row]) if exclude is not None else [])
                    for row, history in enumerate(histories)]
        return self.rank(histories, [k] * len(histories), event_types=event_types,
                         timestamps=timestamps, exclude=excluded,
                         allowed=[allowed] * len(histories), batch_size=batch_size)

    def reads(self, history: Sequence[str]) -> bool:
        """Whether the model can read ``history`` (it holds an item the model knows); the
        others get the popularity fallback."""
        return any(item in self._vocab for item in history)

    def rank(
        self,
        histories: Sequence[Sequence[str]],
        ks: Sequence[int],
        *,
        event_types: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
        exclude: Sequence[Collection[str]],
        allowed: Sequence[Collection[str] | None],
        batch_size: int = 256,
        encode: Callable[[dict[str, torch.Tensor]], np.ndarray] | None = None,
        timings: dict[str, float] | None = None,
    ) -> list[Recommendations]:
        """Top-``ks[row]`` items of each history, its input already checked: the step
        :meth:`recommend_batch` and ``recsft serve`` share.

        The histories the model can read (:meth:`reads`) are encoded ``batch_size`` at a time
        (one model call each) and searched in the index (or ranked by the mixture with the
        item transitions), rows with the same ``k`` and the same ``allowed`` object together;
        the others get the most popular items.

        Args:
            histories: ``n`` histories, oldest first.
            ks: ``n`` numbers of recommendations, each from 1 to the catalogue size.
            event_types: Optional, one row per history, parallel to it.
            timestamps: Optional, one row per history, parallel to it or empty (times
                unknown).
            exclude: ``n`` collections of items never to return (the history included where
                it must not be recommended).
            allowed: ``n`` allow-lists (``None``: every item); rows sharing one object are
                searched together.
            batch_size: Histories encoded per model call.
            encode: The model inputs (:meth:`model_inputs`' tensors) to ``(b, dim)`` float32
                user vectors; default the model (``recsft serve --backend onnx`` passes its
                ONNX encoder).
            timings: If given, seconds spent are added to its ``"encode"`` (inputs and model
                call) and ``"search"`` (index search, mixture, popularity) entries.

        Returns:
            One ``[(item_id, score), ...]`` list per history, as :meth:`recommend`.
        """
        encode = encode or self._user_vectors
        spent = {"encode": 0.0, "search": 0.0}
        results: list[Recommendations] = [[] for _ in histories]
        start_time = perf_counter()
        warm = [row for row, history in enumerate(histories) if self.reads(history)]
        for row in sorted(set(range(len(histories))) - set(warm)):
            results[row] = self._popular(ks[row], exclude[row], allowed[row])
        spent["search"] += perf_counter() - start_time
        for start in range(0, len(warm), batch_size):
            start_time = perf_counter()
            rows = warm[start:start + batch_size]
            inputs = self._inputs(
                [histories[r] for r in rows],
                None if event_types is None else [event_types[r] for r in rows],
                None if timestamps is None else [timestamps[r] for r in rows],
            )
            queries = encode(inputs)
            encoded = perf_counter()
            spent["encode"] += encoded - start_time
            groups: dict[tuple[int, int], list[int]] = {}
            for n, row in enumerate(rows):
                groups.setdefault((ks[row], id(allowed[row])), []).append(n)
            for members in groups.values():
                first = rows[members[0]]
                k, allow = ks[first], allowed[first]
                everyone = len(members) == len(rows)
                group_queries = queries if everyone else queries[members]
                group_exclude = [exclude[rows[n]] for n in members]
                if self.transitions is None:
                    scores, ids = self.index.search(group_queries, k, exclude=group_exclude,
                                                    filter=allow)
                else:
                    input_ids = inputs["input_ids"].cpu()
                    scores, ids = mixture_search(
                        self, input_ids if everyone else input_ids[members], group_queries, k,
                        group_exclude, allow)
                for m, n in enumerate(members):
                    results[rows[n]] = [(i, float(s)) for i, s in zip(ids[m], scores[m])
                                        if i is not None]
            spent["search"] += perf_counter() - encoded
        if timings is not None:
            for key, seconds in spent.items():
                timings[key] = timings.get(key, 0.0) + seconds
        return results

    def _inputs(self, histories: Sequence[Sequence[str]],
                event_types: Sequence[Sequence[str]] | None,
                timestamps: Sequence[Sequence[int | float]] | None) -> dict[str, torch.Tensor]:
        """:func:`~recsft.scoring.inputs.model_inputs` on the model's device (rows already
        checked; a row of timestamps may be empty)."""
        batch = model_inputs(self.tokenizer, self.model.config, histories, event_types,
                             timestamps)
        device = next(self.model.parameters()).device
        return {key: value.to(device) for key, value in batch.items()}

    def _popular(self, k: int, exclude: Collection[str],
                 allowed: Collection[str] | None) -> Recommendations:
        if self.popularity is None:
            raise ValueError(
                "the history holds no item the model knows, and this recommender has no item "
                "popularity to fall back on: pass popularity= or load a run folder with "
                "item_popularity.json (written by recsft train)")
        index = self.index  # items removed from the index are not recommended either

        def keep(item: str) -> bool:
            return item in index and (allowed is None or item in allowed)

        return self.popularity.top(k, exclude, keep)

    # ------------------------------------------------------------------ items and explanations

    def _check_k(self, k: object) -> None:
        """``k`` must be an integer from 1 to the catalogue size.

        Raises:
            ResourceError: naming the value and the bound.
        """
        from recsft.errors import ResourceError

        size = self.tokenizer.num_items  # (item_ids sorts the vocabulary)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= size:
            from recsft.errors import shorten

            raise ResourceError(f"k must be an integer from 1 to the catalogue size ({size:,} "
                                f"items), got {shorten(k)}")

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude: Collection[str] = (),
        filter: ItemFilter | None = None,
    ) -> Recommendations:
        """The ``k`` items whose model vectors are closest in cosine similarity.

        The first call builds an exact cosine index over the model's item vectors (one more
        copy of the item matrix in memory).

        Args:
            item_id: A known item.
            k: Number of similar items (the item itself is never returned).
            exclude: Items never to return.
            filter: Only return these items (a collection of ids or a predicate).

        Returns:
            ``[(item_id, cosine), ...]``, most similar first.

        Raises:
            KeyError: ``item_id`` is unknown to the model.
            ResourceError: ``k`` not in ``1..catalogue size``.
        """
        self._check_k(k)
        vector = self.item_vector(item_id)
        if self._similarity is None:
            self._similarity = ItemIndex(self.item_matrix(), self.tokenizer.item_ids,
                                         metric="cosine")
        scores, ids = self._similarity.search(vector, k, exclude=[[item_id, *exclude]],
                                              filter=self._allowed(filter))
        return [(i, float(s)) for i, s in zip(ids[0], scores[0]) if i is not None]

    def explain(
        self,
        history: Sequence[str],
        item_id: str,
        *,
        event_types: Sequence[str] | None = None,
        timestamps: Sequence[int | float] | None = None,
        method: str = "occlusion",
    ) -> list[HistoryWeight]:
        """Which history events weighed most in recommending ``item_id``.

        Args:
            history: External item ids, oldest first.
            item_id: The recommended item (read by ``"occlusion"``; attention does not depend
                on it).
            event_types: Optional parallel event types.
            timestamps: Optional parallel event times in seconds.
            method: ``"occlusion"`` (score drop without each event; any model) or
                ``"attention"`` (last-layer attention; transformer models). See
                :mod:`recsft.retrieval.explain`.

        Returns:
            ``[HistoryWeight(position, item_id, weight), ...]``, largest weight first.

        Raises:
            KeyError: ``item_id`` is unknown to the model.
            ValueError: an unknown method, or attention asked of a recurrent model.
        """
        if method == "occlusion":
            return occlusion_weights(self.model, self.tokenizer, history,
                                     self.item_vector(item_id), event_types, timestamps)
        if method == "attention":
            self.item_vector(item_id)
            return attention_weights(self.model, self.tokenizer, history, event_types,
                                     timestamps)
        raise ValueError(f"unknown explanation method {method!r}; choose one of {list(METHODS)}")
