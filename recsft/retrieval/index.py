"""Nearest-neighbour item retrieval over FAISS.

:class:`ItemIndex` maps external string item ids to the labels of a FAISS index and answers
top-k queries, optionally excluding per-query item ids (for example items the user already
interacted with) and restricting results to an allow-list (``filter``). The index kind is chosen
by name with its parameters (:mod:`recsft.retrieval.kinds`): exact ``flat``, ``hnsw``,
``ivf_flat`` or ``ivf_pq``.

Missing results: when fewer than ``k`` items are available for a query (``k`` larger than the
number of items, most items excluded or filtered out, or an approximate index that found fewer),
the trailing slots hold score ``-inf`` and item id ``None`` (label ``-1`` from
:meth:`ItemIndex.search_positions`). FAISS itself pads with ``-FLT_MAX`` / ``-1``; this module
converts the padding to ``-inf`` so it can never be mistaken for a real score.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from recsft.retrieval.index_files import FORMAT_VERSION, METRICS
from recsft.retrieval.index_files import uses_explicit_labels as _uses_explicit_labels
from recsft.retrieval.kinds import KINDS, IndexConfig, index_config

__all__ = ["ItemIndex", "INDEX_FILENAME", "METADATA_FILENAME", "METRICS", "KINDS"]

INDEX_FILENAME = "item_index.faiss"
METADATA_FILENAME = "item_index.json"


def _as_float32_matrix(array: Any, name: str) -> np.ndarray:
    """Validate dtype and cast a float32/float64 array to C-contiguous float32.

    Args:
        array: Array to check.
        name: Argument name used in error messages.

    Returns:
        The array as C-contiguous float32 (same number of dimensions as the input).

    Raises:
        TypeError: If ``array`` is not a NumPy array or its dtype is not float32/float64.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {array.dtype}; "
            f"convert explicitly (e.g. {name}.astype(np.float32)) if this is intended"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_finite_rows(matrix: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming the first row of ``matrix`` with a NaN or infinite value.

    Args:
        matrix: Float32 array of shape ``(n, d)``.
        name: Argument name used in error messages.
    """
    finite_rows = np.isfinite(matrix).all(axis=1)
    if not finite_rows.all():
        bad = int(np.flatnonzero(~finite_rows)[0])
        raise ValueError(
            f"{name} contains non-finite values (NaN or inf, possibly after conversion to "
            f"float32); first bad row is {bad}"
        )


def _l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Return rows scaled to unit L2 norm; all-zero rows stay zero.

    Norms are computed in float64 so large finite float32 values do not overflow.

    Args:
        matrix: Float32 array of shape ``(n, d)``.

    Returns:
        Float32 C-contiguous array of shape ``(n, d)``.
    """
    wide = matrix.astype(np.float64)
    norms = np.linalg.norm(wide, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return np.ascontiguousarray(wide / norms, dtype=np.float32)


class ItemIndex:
    """Top-k item retrieval by inner product or cosine similarity, exact or approximate.

    Item ``item_ids[i]`` gets FAISS label ``i``. With ``metric="cosine"`` item vectors are
    L2-normalised when added and query vectors when searched (all-zero vectors stay zero, so
    they score 0 against everything).

    Args:
        embeddings: Item vectors, shape ``(n_items, d)``, dtype float32 (float64 is cast to
            float32). All values must be finite.
        item_ids: External item ids, ``len(item_ids) == n_items``, unique strings.
        metric: ``"ip"`` (inner product) or ``"cosine"``.
        kind: ``"flat"`` (exact), ``"hnsw"``, ``"ivf_flat"`` or ``"ivf_pq"``.
        **params: Parameters of that kind (:mod:`recsft.retrieval.kinds`), e.g. ``m=48`` or
            ``nlist=1024``; an unknown name is an error.

    Raises:
        TypeError: If ``embeddings`` is not a float32/float64 array, an id is not a string,
            or a parameter is unknown for the kind.
        ValueError: On wrong shape, non-finite values (naming the first bad row), id count
            mismatch, duplicate ids (naming one), an unknown metric or kind, or too few items
            to train an IVF index.

    Example:
        >>> import numpy as np
        >>> emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], dtype=np.float32)
        >>> index = ItemIndex(emb, ["a", "b", "c"])
        >>> scores, ids = index.search(np.array([1.0, 0.2], dtype=np.float32), k=2,
        ...                            exclude=[["a"]])
        >>> ids.tolist()
        [['c', 'b']]
        >>> ItemIndex(emb, ["a", "b", "c"], kind="hnsw", m=8).kind
        'hnsw'
    """

    def __init__(self, embeddings: np.ndarray, item_ids: Sequence[str], metric: str = "ip",
                 kind: str = "flat", **params: Any) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
        config = index_config(kind, **params)
        matrix = self._checked_vectors(embeddings, "embeddings", dim=None)
        ids = self._validate_ids(item_ids, matrix.shape[0])
        if metric == "cosine":
            matrix = _l2_normalise(matrix)
        config = config.resolved(int(matrix.shape[1]), int(matrix.shape[0]))
        index = config.build(int(matrix.shape[1]), int(matrix.shape[0]))
        self._train(index, config, matrix)
        self._setup(index, [], metric, config)
        self._append(matrix, ids)

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _checked_vectors(array: Any, name: str, dim: int | None) -> np.ndarray:
        matrix = _as_float32_matrix(array, name)
        if matrix.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_items, d), got shape {tuple(matrix.shape)}")
        if matrix.shape[1] < 1:
            raise ValueError(f"{name} must have dimension d >= 1, got d = 0")
        if dim is not None and matrix.shape[1] != dim:
            raise ValueError(f"{name} have the wrong dimension: expected dimension {dim}, "
                             f"got {matrix.shape[1]}")
        _check_finite_rows(matrix, name)
        return matrix

    @staticmethod
    def _train(index: faiss.Index, config: IndexConfig, matrix: np.ndarray) -> None:
        """Train an IVF index on a seeded sample of the item vectors (sizes: ``config``,
        resolved for this catalogue so that FAISS's k-means has enough vectors per centroid;
        :mod:`recsft.retrieval.kinds`)."""
        if index.is_trained:
            return
        n_train = config.training_size(matrix.shape[0])
        cells = getattr(index, "nlist", 1)
        needed = config.training_minimum(matrix.shape[0])
        if n_train < needed:
            raise ValueError(
                f"a {config.kind!r} index with {cells} cells needs at least {needed} item vectors "
                f"to train, got {matrix.shape[0]}; lower nlist/nbits or use kind='flat'")
        rows = np.random.default_rng(0).choice(matrix.shape[0], n_train, replace=False)
        sample = np.ascontiguousarray(matrix[np.sort(rows)])
        if cells == 1 and index.quantizer.ntotal == 0:
            # One cell: its centroid is the mean (k-means with one centroid ends there), and
            # FAISS skips k-means for a quantizer that already holds nlist centroids.
            index.quantizer.add(sample.mean(axis=0, keepdims=True))
        index.train(sample)

    @staticmethod
    def _validate_ids(item_ids: Sequence[str], n_items: int) -> list[str]:
        if isinstance(item_ids, str):
            raise TypeError("item_ids must be a sequence of strings, not a single string")
        ids = list(item_ids)
        if len(ids) != n_items:
            raise ValueError(
                f"got {len(ids)} item ids for {n_items} embedding rows; counts must match"
            )
        for pos, item_id in enumerate(ids):
            if not isinstance(item_id, str):
                raise TypeError(
                    f"item ids must be str; item_ids[{pos}] is {type(item_id).__name__}"
                )
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise ValueError(f"item ids must be unique; duplicate id {item_id!r}")
            seen.add(item_id)
        return ids

    def _setup(self, index: faiss.Index, labels: list[str | None], metric: str,
               config: IndexConfig) -> None:
        self._index = index
        self._metric = metric
        self._config = config
        self._source: str | None = None  # the metadata file it was loaded from
        self._ids_array = np.empty(len(labels), dtype=object)
        self._ids_array[:] = labels
        self._reindex()

    def _reindex(self) -> None:
        self._positions = {item_id: label for label, item_id in enumerate(self._ids_array)
                           if item_id is not None}

    def _append(self, matrix: np.ndarray, ids: list[str]) -> None:
        """Add normalised, checked vectors under new labels."""
        first = len(self._ids_array)
        if matrix.shape[0]:
            if _uses_explicit_labels(self.kind):
                labels = np.arange(first, first + matrix.shape[0], dtype=np.int64)
                self._index.add_with_ids(matrix, labels)
            else:
                self._index.add(matrix)
        grown = np.empty(first + len(ids), dtype=object)
        grown[:first] = self._ids_array
        grown[first:] = ids
        self._ids_array = grown
        self._positions.update({item_id: first + i for i, item_id in enumerate(ids)})

    # ------------------------------------------------------------------ properties

    def __len__(self) -> int:
        """Number of indexed items."""
        return int(self._index.ntotal)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._positions

    def __repr__(self) -> str:
        return (
            f"ItemIndex(n_items={len(self)}, dim={self.dim}, metric={self._metric!r}, "
            f"kind={self.kind!r}, params={self.params})"
        )

    @property
    def dim(self) -> int:
        """Vector dimension ``d``."""
        return int(self._index.d)

    @property
    def metric(self) -> str:
        """Similarity metric: ``"ip"`` or ``"cosine"``."""
        return self._metric

    @property
    def kind(self) -> str:
        """Index structure: ``"flat"`` (exact), ``"hnsw"``, ``"ivf_flat"`` or ``"ivf_pq"``."""
        return self._config.kind

    @property
    def params(self) -> dict[str, Any]:
        """The kind's parameters, as built (defaults filled in for this catalogue's size)."""
        return self._config.to_dict()

    @property
    def item_ids(self) -> tuple[str, ...]:
        """External item ids in label order."""
        return tuple(i for i in self._ids_array if i is not None)

    def position(self, item_id: str) -> int:
        """Return the FAISS label of ``item_id``.

        Args:
            item_id: External item id.

        Returns:
            The label (for flat and HNSW indexes: the row, ``0 <= label < len(self)``).

        Raises:
            KeyError: If the id is not indexed.
        """
        try:
            return self._positions[item_id]
        except KeyError:
            raise KeyError(f"unknown item id {item_id!r}") from None

    # ------------------------------------------------------------------ updates

    def add(self, embeddings: np.ndarray, item_ids: Sequence[str]) -> None:
        """Add items without rebuilding (every kind; IVF cells keep their trained centroids).

        Args:
            embeddings: ``(n_new, d)`` float32/float64 vectors, finite.
            item_ids: ``n_new`` new, unique string ids.

        Raises:
            ValueError: wrong dimension, non-finite rows, or an id already indexed.
        """
        matrix = self._checked_vectors(embeddings, "embeddings", dim=self.dim)
        ids = self._validate_ids(item_ids, matrix.shape[0])
        present = [i for i in ids if i in self._positions]
        if present:
            raise ValueError(f"item id {present[0]!r} is already indexed; remove it first")
        if self._metric == "cosine":
            matrix = _l2_normalise(matrix)
        self._append(matrix, ids)

    def remove(self, item_ids: Sequence[str]) -> int:
        """Remove items without rebuilding (flat and IVF kinds).

        Args:
            item_ids: Indexed ids to remove.

        Returns:
            How many vectors were removed.

        Raises:
            KeyError: an id is not indexed.
            ValueError: the kind cannot remove in place (HNSW); rebuild, or keep the items out
                of results with ``search(..., filter=...)``.
        """
        if isinstance(item_ids, str):
            raise TypeError("item_ids must be a sequence of strings, not a single string")
        if not self._config.supports_remove:
            raise ValueError(
                f"a {self.kind!r} index cannot remove items in place (FAISS HNSW graphs do not "
                f"support deletion); build a new ItemIndex, or pass filter= to search")
        labels = np.array(sorted({self.position(i) for i in item_ids}), dtype=np.int64)
        if labels.size == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(labels)))
        if _uses_explicit_labels(self.kind):
            self._ids_array[labels] = None
        else:  # a flat index compacts its rows, keeping their order
            keep = np.ones(len(self._ids_array), dtype=bool)
            keep[labels] = False
            self._ids_array = self._ids_array[keep]
        self._reindex()
        return removed

    # ------------------------------------------------------------------ search

    def _prepare_queries(self, queries: np.ndarray) -> np.ndarray:
        matrix = _as_float32_matrix(queries, "queries")
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2:
            raise ValueError(
                f"queries must have shape (n_queries, d) or (d,), got {tuple(queries.shape)}"
            )
        if matrix.shape[1] != self.dim:
            raise ValueError(
                f"queries have the wrong dimension: expected dimension {self.dim}, "
                f"got {matrix.shape[1]}"
            )
        _check_finite_rows(matrix, "queries")
        if self._metric == "cosine":
            matrix = _l2_normalise(matrix)
        return matrix

    def _excluded_positions(
        self, exclude: Sequence[Sequence[str]] | None, n_queries: int
    ) -> list[np.ndarray] | None:
        if exclude is None:
            return None
        if isinstance(exclude, str) or len(exclude) != n_queries:
            got = "a string" if isinstance(exclude, str) else f"{len(exclude)} entries"
            raise ValueError(
                f"exclude must hold one sequence of item ids per query: expected "
                f"{n_queries} entries, got {got}"
            )
        result: list[np.ndarray] = []
        for q, ids in enumerate(exclude):
            if isinstance(ids, str):
                raise TypeError(
                    f"exclude[{q}] must be a sequence of item ids, not a single string "
                    f"({ids!r}); wrap it in a list"
                )
            known = {self._positions[i] for i in ids if i in self._positions}
            result.append(np.fromiter(sorted(known), dtype=np.int64, count=len(known)))
        return result

    def _selector(self, allowed: Collection[str] | None) -> tuple[Any, int]:
        """An ``IDSelectorBatch`` of the allowed labels and how many there are."""
        if allowed is None:
            return None, len(self)
        if isinstance(allowed, str):
            raise TypeError("filter must be a collection of item ids, not a single string")
        labels = np.array(sorted({self._positions[i] for i in allowed if i in self._positions}),
                          dtype=np.int64)
        return faiss.IDSelectorBatch(labels), int(labels.size)

    def search_positions(
        self,
        queries: np.ndarray,
        k: int,
        exclude: Sequence[Sequence[str]] | None = None,
        filter: Collection[str] | None = None,
        **search_params: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k search returning FAISS labels instead of external ids.

        Same contract as :meth:`search`, except that the second array holds int64 labels
        (``-1`` for missing slots).

        Returns:
            ``(scores, labels)``: float32 ``(n_queries, k)`` and int64 ``(n_queries, k)``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        overrides = self._config.check_search_overrides(search_params)
        matrix = self._prepare_queries(queries)
        n_queries = matrix.shape[0]
        excluded = self._excluded_positions(exclude, n_queries)
        n_extra = max((len(e) for e in excluded), default=0) if excluded is not None else 0
        selector, available = self._selector(filter)

        k_search = min(k + n_extra, available)
        if n_queries == 0 or k_search == 0:
            scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
            return scores, np.full((n_queries, k), -1, dtype=np.int64)

        params = self._config.search_parameters(selector, k_search, overrides)
        raw_scores, raw_pos = self._index.search(matrix, k_search, params=params)
        keep = raw_pos >= 0
        if excluded is not None:
            for q, positions in enumerate(excluded):
                if positions.size:
                    keep[q] &= ~np.isin(raw_pos[q], positions)
        # Move kept results to the front of each row, preserving FAISS order (stable sort).
        order = np.argsort(~keep, axis=1, kind="stable")
        width = min(k, k_search)
        order = order[:, :width]
        kept = np.take_along_axis(keep, order, axis=1)
        out_pos = np.full((n_queries, k), -1, dtype=np.int64)
        out_scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
        out_pos[:, :width] = np.where(kept, np.take_along_axis(raw_pos, order, axis=1), -1)
        out_scores[:, :width] = np.where(
            kept, np.take_along_axis(raw_scores, order, axis=1), -np.inf
        )
        return out_scores, out_pos

    def search(
        self,
        queries: np.ndarray,
        k: int,
        exclude: Sequence[Sequence[str]] | None = None,
        filter: Collection[str] | None = None,
        **search_params: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` best items for each query, best first.

        Exclusion is exact: the index is searched for ``k`` plus the largest number of known
        excluded items of any query, excluded items are dropped, and the first ``k`` remain.
        ``filter`` restricts every query to an allow-list inside FAISS (an ``IDSelector``). Ties
        keep FAISS order. Approximate kinds may return items other than the exact top-k, and
        with a very selective filter an HNSW search may find fewer than ``k``.

        Args:
            queries: Query vectors, shape ``(n_queries, d)`` or ``(d,)``; a 1-D query is
                treated as ``n_queries = 1`` and results still have shape ``(1, k)``. Dtype
                float32 or float64; values must be finite.
            k: Number of results per query, ``k >= 1``.
            exclude: Optional, ``len(exclude) == n_queries``; ``exclude[q]`` are external
                item ids never returned for query ``q``. Unknown ids are ignored.
            filter: Optional allow-list of item ids for all queries (unknown ids ignored).
            **search_params: Search-time parameters of the kind for this search only
                (``ef_search`` for HNSW, ``nprobe`` for IVF); others are an error.

        Returns:
            ``(scores, item_ids)``: ``scores`` float32 ``(n_queries, k)`` sorted descending per
            row; ``item_ids`` object ``(n_queries, k)`` of ``str``. Slots with no result have
            score ``-inf`` and id ``None``.

        Raises:
            TypeError: On a non-float query dtype, non-int ``k``, a bare string in
                ``exclude`` or as ``filter``, or an unknown search parameter.
            ValueError: On wrong query shape/dimension ("expected dimension d, got d'"),
                non-finite queries, ``k < 1``, or ``len(exclude) != n_queries``.

        Example:
            >>> import numpy as np
            >>> index = ItemIndex(np.eye(3, dtype=np.float32), ["x", "y", "z"])
            >>> scores, ids = index.search(np.eye(3, dtype=np.float32)[:1], k=4)
            >>> ids.tolist()[0][0], ids.tolist()[0][3], float(scores[0, 3])
            ('x', None, -inf)
        """
        scores, positions = self.search_positions(queries, k, exclude, filter, **search_params)
        ids = np.full(positions.shape, None, dtype=object)
        valid = positions >= 0
        ids[valid] = self._ids_array[positions[valid]]
        return scores, ids

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``item_index.faiss`` and ``item_index.json`` into ``directory``.

        Both files are written whole under temporary names before either is renamed into place
        (:mod:`recsft.fileio`), so no half-written file is ever left under the final names.
        The directory is created if needed.

        Args:
            directory: Target directory.

        Example:
            >>> import tempfile, numpy as np
            >>> index = ItemIndex(np.eye(2, dtype=np.float32), ["a", "b"], metric="cosine")
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     index.save(tmp)
            ...     ItemIndex.load(tmp).item_ids
            ('a', 'b')
        """
        from recsft.fileio import atomic_save, atomic_write_text, make_folder

        root = Path(directory)
        make_folder(root)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "params": self.params,
            "metric": self._metric,
            "dim": self.dim,
            "n_items": len(self),
            "faiss_version": faiss.__version__,
            # By label; ``null`` marks a removed item of an IVF index.
            "item_ids": self._ids_array.tolist(),
        }
        text = json.dumps(meta, ensure_ascii=False)

        def write_both(tmp_index: str) -> None:
            # The metadata is renamed in place only once the index is written in full.
            faiss.write_index(self._index, tmp_index)
            atomic_write_text(root / METADATA_FILENAME, text)

        atomic_save(root / INDEX_FILENAME, write_both)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ItemIndex:
        """Read an index written by :meth:`save`, checking both files
        (:mod:`recsft.retrieval.index_files`).

        Args:
            directory: Directory holding ``item_index.faiss`` and ``item_index.json``.

        Returns:
            The loaded :class:`ItemIndex`, giving identical search results.

        Raises:
            FileNotFoundError: If either file is missing.
            RunFolderError: If a file is unreadable, truncated or malformed, or the two files
                disagree (id count vs ``ntotal``, dimension, kind, metric, stored labels); one
                line naming the offending file.
        """
        from recsft.retrieval.index_files import read_faiss_index, read_metadata

        root = Path(directory)
        index_path = root / INDEX_FILENAME
        meta_path = root / METADATA_FILENAME
        for path in (meta_path, index_path):
            if not path.exists():
                raise FileNotFoundError(f"missing index file {path}")
        meta = read_metadata(meta_path)
        index = read_faiss_index(index_path, meta, meta_path)
        # Search-time parameters live in the config; the stored structure keeps its own.
        obj = cls.__new__(cls)
        obj._setup(index, meta.labels, meta.metric, meta.config)
        obj._source = str(meta_path)
        return obj

    def check_ids(self, expected_item_ids: Sequence[str],
                  source: str | os.PathLike[str] | None = None) -> None:
        """Refuse an index that does not hold exactly the run's items.

        Args:
            expected_item_ids: The run's item ids (its tokenizer's items).
            source: The file named in the message (default: the metadata file it was loaded
                from, else "item index").

        Raises:
            RunFolderError: an item is missing or extra (one named, shortened).
        """
        from recsft.retrieval.id_check import check_same_items

        check_same_items(self.item_ids, expected_item_ids,
                         source or self._source or "item index", "the item index",
                         "rebuild it with 'recsft index build --run DIR'")
