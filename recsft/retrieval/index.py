"""Nearest-neighbour item retrieval over FAISS.

:class:`ItemIndex` maps external string item ids to rows of a FAISS index and answers top-k
queries, optionally excluding per-query item ids (for example items the user already
interacted with). Only exact (flat) search is implemented for now; the on-disk metadata carries
a ``kind`` field so that approximate kinds (HNSW, IVF) can be added later without changing the
file layout.

Missing results: when fewer than ``k`` items are available for a query (``k`` larger than the
number of items, or most items excluded), the trailing slots hold score ``-inf`` and item id
``None`` (position ``-1`` from :meth:`ItemIndex.search_positions`). FAISS itself pads with
``-FLT_MAX`` / ``-1``; this module converts the padding to ``-inf`` so it can never be mistaken
for a real score.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

__all__ = ["ItemIndex", "INDEX_FILENAME", "METADATA_FILENAME", "METRICS", "KINDS"]

INDEX_FILENAME = "item_index.faiss"
METADATA_FILENAME = "item_index.json"
METRICS: tuple[str, ...] = ("ip", "cosine")
KINDS: tuple[str, ...] = ("flat",)
_FORMAT_VERSION = 1


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


def _atomic_write(path: Path, write: Any) -> Path:
    """Write to a temporary file next to ``path`` and return the temp path (not yet renamed).

    Args:
        path: Final destination; the temp file is created in the same directory.
        write: Callable receiving the temp path as ``str``.

    Returns:
        Path of the fully written temporary file.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp_name)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name)


class ItemIndex:
    """Exact top-k item retrieval by inner product or cosine similarity.

    Items are stored in a ``faiss.IndexFlatIP``; internal position ``i`` corresponds to
    ``item_ids[i]``. With ``metric="cosine"`` item vectors are L2-normalised when added and
    query vectors when searched (all-zero vectors stay zero, so they score 0 against
    everything).

    Args:
        embeddings: Item vectors, shape ``(n_items, d)``, dtype float32 (float64 is cast to
            float32). All values must be finite.
        item_ids: External item ids, ``len(item_ids) == n_items``, unique strings.
        metric: ``"ip"`` (exact inner product) or ``"cosine"``.

    Raises:
        TypeError: If ``embeddings`` is not a float32/float64 array or an id is not a string.
        ValueError: On wrong shape, non-finite values (naming the first bad row), id count
            mismatch, duplicate ids (naming one) or an unknown metric.

    Example:
        >>> import numpy as np
        >>> emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], dtype=np.float32)
        >>> index = ItemIndex(emb, ["a", "b", "c"])
        >>> scores, ids = index.search(np.array([1.0, 0.2], dtype=np.float32), k=2,
        ...                            exclude=[["a"]])
        >>> ids.tolist()
        [['c', 'b']]
        >>> scores.shape
        (1, 2)
    """

    def __init__(self, embeddings: np.ndarray, item_ids: Sequence[str], metric: str = "ip") -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
        matrix = _as_float32_matrix(embeddings, "embeddings")
        if matrix.ndim != 2:
            raise ValueError(
                f"embeddings must be 2-D (n_items, d), got shape {tuple(matrix.shape)}"
            )
        if matrix.shape[1] < 1:
            raise ValueError("embeddings must have dimension d >= 1, got d = 0")
        _check_finite_rows(matrix, "embeddings")
        ids = self._validate_ids(item_ids, matrix.shape[0])
        if metric == "cosine":
            matrix = _l2_normalise(matrix)
        index = faiss.IndexFlatIP(int(matrix.shape[1]))
        if matrix.shape[0]:
            index.add(matrix)
        self._setup(index, ids, metric, kind="flat")

    # ------------------------------------------------------------------ construction helpers

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

    def _setup(self, index: faiss.Index, ids: list[str], metric: str, kind: str) -> None:
        self._index = index
        self._metric = metric
        self._kind = kind
        self._ids: tuple[str, ...] = tuple(ids)
        self._ids_array = np.empty(len(ids), dtype=object)
        self._ids_array[:] = ids
        self._positions = {item_id: pos for pos, item_id in enumerate(ids)}

    # ------------------------------------------------------------------ properties

    def __len__(self) -> int:
        """Number of indexed items."""
        return int(self._index.ntotal)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._positions

    def __repr__(self) -> str:
        return (
            f"ItemIndex(n_items={len(self)}, dim={self.dim}, metric={self._metric!r}, "
            f"kind={self._kind!r})"
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
        """Index structure; currently always ``"flat"`` (exact search)."""
        return self._kind

    @property
    def item_ids(self) -> tuple[str, ...]:
        """External item ids in internal-position order."""
        return self._ids

    def position(self, item_id: str) -> int:
        """Return the internal position of ``item_id``.

        Args:
            item_id: External item id.

        Returns:
            Row of the item in the index, ``0 <= position < len(self)``.

        Raises:
            KeyError: If the id is not indexed.
        """
        try:
            return self._positions[item_id]
        except KeyError:
            raise KeyError(f"unknown item id {item_id!r}") from None

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

    def search_positions(
        self,
        queries: np.ndarray,
        k: int,
        exclude: Sequence[Sequence[str]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k search returning internal positions instead of external ids.

        Same contract as :meth:`search`, except that the second array holds int64 positions
        (``-1`` for missing slots).

        Args:
            queries: Query vectors, shape ``(n_queries, d)`` or ``(d,)`` (one query).
            k: Number of results per query, ``k >= 1``.
            exclude: Optional, one sequence of external item ids per query.

        Returns:
            ``(scores, positions)``: float32 ``(n_queries, k)`` and int64 ``(n_queries, k)``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        matrix = self._prepare_queries(queries)
        n_queries = matrix.shape[0]
        excluded = self._excluded_positions(exclude, n_queries)
        n_extra = max((len(e) for e in excluded), default=0) if excluded is not None else 0

        k_search = min(k + n_extra, len(self))
        if n_queries == 0 or k_search == 0:
            scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
            return scores, np.full((n_queries, k), -1, dtype=np.int64)

        raw_scores, raw_pos = self._index.search(matrix, k_search)
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
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` best items for each query, best first.

        Exclusion is exact: the index is searched for ``k`` plus the largest number of known
        excluded items of any query, excluded items are dropped, and the first ``k`` remain.
        Ties keep FAISS order.

        Args:
            queries: Query vectors, shape ``(n_queries, d)`` or ``(d,)``; a 1-D query is
                treated as ``n_queries = 1`` and results still have shape ``(1, k)``. Dtype
                float32 or float64; values must be finite.
            k: Number of results per query, ``k >= 1``.
            exclude: Optional, ``len(exclude) == n_queries``; ``exclude[q]`` are external
                item ids never returned for query ``q``. Unknown ids are ignored.

        Returns:
            ``(scores, item_ids)``: ``scores`` float32 ``(n_queries, k)`` sorted descending per
            row; ``item_ids`` object ``(n_queries, k)`` of ``str``. Slots with no result (``k``
            larger than the number of available items) have score ``-inf`` and id ``None``.

        Raises:
            TypeError: On a non-float query dtype, non-int ``k``, or a bare string in
                ``exclude``.
            ValueError: On wrong query shape/dimension ("expected dimension d, got d'"),
                non-finite queries, ``k < 1``, or ``len(exclude) != n_queries``.

        Example:
            >>> import numpy as np
            >>> index = ItemIndex(np.eye(3, dtype=np.float32), ["x", "y", "z"])
            >>> scores, ids = index.search(np.eye(3, dtype=np.float32)[:1], k=4)
            >>> ids.tolist()[0][0], ids.tolist()[0][3], float(scores[0, 3])
            ('x', None, -inf)
        """
        scores, positions = self.search_positions(queries, k, exclude)
        ids = np.full(positions.shape, None, dtype=object)
        valid = positions >= 0
        ids[valid] = self._ids_array[positions[valid]]
        return scores, ids

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``item_index.faiss`` and ``item_index.json`` into ``directory``.

        Both files are written to temporary names in ``directory`` first and then moved into
        place with :func:`os.replace`, so no half-written file is ever left under the final
        names. The directory is created if needed.

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
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": _FORMAT_VERSION,
            "kind": self._kind,
            "metric": self._metric,
            "dim": self.dim,
            "n_items": len(self),
            "faiss_version": faiss.__version__,
            "item_ids": list(self._ids),
        }

        def write_json(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(meta, handle, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())

        index_path = root / INDEX_FILENAME
        meta_path = root / METADATA_FILENAME
        tmp_index = _atomic_write(index_path, lambda tmp: faiss.write_index(self._index, tmp))
        try:
            tmp_meta = _atomic_write(meta_path, write_json)
        except BaseException:
            tmp_index.unlink(missing_ok=True)
            raise
        os.replace(tmp_index, index_path)
        os.replace(tmp_meta, meta_path)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ItemIndex:
        """Read an index written by :meth:`save`.

        Args:
            directory: Directory holding ``item_index.faiss`` and ``item_index.json``.

        Returns:
            The loaded :class:`ItemIndex`, giving identical search results.

        Raises:
            FileNotFoundError: If either file is missing.
            ValueError: If a file is unreadable or the two files disagree (id count vs
                ``ntotal``, dimension, metric); the message names the offending file.
        """
        root = Path(directory)
        index_path = root / INDEX_FILENAME
        meta_path = root / METADATA_FILENAME
        for path in (meta_path, index_path):
            if not path.is_file():
                raise FileNotFoundError(f"missing index file {path}")

        try:
            with open(meta_path, encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read index metadata {meta_path}: {err}") from err
        if not isinstance(meta, dict):
            raise ValueError(f"index metadata {meta_path} must hold a JSON object")
        missing = [key for key in ("kind", "metric", "dim", "item_ids") if key not in meta]
        if missing:
            raise ValueError(f"index metadata {meta_path} lacks keys {missing}")
        kind, metric, dim, ids = meta["kind"], meta["metric"], meta["dim"], meta["item_ids"]
        if kind not in KINDS:
            raise ValueError(
                f"index metadata {meta_path}: unsupported kind {kind!r}; known {list(KINDS)}"
            )
        if metric not in METRICS:
            raise ValueError(
                f"index metadata {meta_path}: unknown metric {metric!r}; known {list(METRICS)}"
            )
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"index metadata {meta_path}: item_ids must be a list of strings")
        if len(set(ids)) != len(ids):
            raise ValueError(f"index metadata {meta_path}: item_ids contain duplicates")

        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as err:
            raise ValueError(f"cannot read FAISS index {index_path}: {err}") from err
        if index.ntotal != len(ids):
            raise ValueError(
                f"inconsistent index files: {index_path} holds {index.ntotal} vectors but "
                f"{meta_path} lists {len(ids)} item ids"
            )
        if index.d != dim:
            raise ValueError(
                f"inconsistent index files: {index_path} has dimension {index.d} but "
                f"{meta_path} says {dim}"
            )
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"FAISS index {index_path} does not use inner-product metric")

        obj = cls.__new__(cls)
        obj._setup(index, ids, metric, kind)
        return obj
