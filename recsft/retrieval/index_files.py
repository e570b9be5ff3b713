"""The two files of a saved item index, read back with every check a crafted copy could fail.

``item_index.json`` (the metadata: kind, parameters, metric, dimension and the item id of each
FAISS label) and ``item_index.faiss`` (FAISS's own serialisation) come from
:meth:`~recsft.retrieval.index.ItemIndex.save`. A run folder may have been handed over by
someone else, so :func:`read_metadata` checks every field's type, and :func:`read_faiss_index`
turns FAISS's multi-line C++ errors into one line and checks what FAISS leaves unchecked: the
structure class, the metric, the dimension, the vector count against the id map and, for IVF
kinds, that every stored label names an item of the id map once (a label outside it would fail
or mislead a search). Every failure is a :class:`~recsft.errors.RunFolderError` naming the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from recsft.errors import RunFolderError, shorten
from recsft.fileio import require_regular_file
from recsft.retrieval.kinds import KINDS, IndexConfig, index_config

__all__ = ["FORMAT_VERSION", "METRICS", "IndexMetadata", "read_metadata", "read_faiss_index"]

#: Version of the metadata layout :meth:`ItemIndex.save` writes.
FORMAT_VERSION = 2
METRICS: tuple[str, ...] = ("ip", "cosine")
#: The FAISS classes each kind is read back as (``read_index`` returns the concrete class).
_FAISS_TYPES: dict[str, tuple[type, ...]] = {
    "flat": (faiss.IndexFlatIP, faiss.IndexFlat),
    "hnsw": (faiss.IndexHNSWFlat,),
    "ivf_flat": (faiss.IndexIVFFlat,),
    "ivf_pq": (faiss.IndexIVFPQ,),
}
_FLAT_TYPES = (faiss.IndexFlatIP, faiss.IndexFlat)


def uses_explicit_labels(kind: str) -> bool:
    """IVF indexes store the label of each vector; flat and HNSW number vectors by position."""
    return kind.startswith("ivf")


@dataclass(frozen=True)
class IndexMetadata:
    """The checked content of ``item_index.json``.

    Attributes:
        kind: One of :data:`~recsft.retrieval.kinds.KINDS`.
        config: That kind's parameters.
        metric: One of :data:`METRICS`.
        dim: Vector dimension, at least 1.
        labels: The item id of each FAISS label; ``None`` marks a removed item (IVF kinds).
    """

    kind: str
    config: IndexConfig
    metric: str
    dim: int
    labels: list[str | None]

    @property
    def n_items(self) -> int:
        """Items listed (removed labels excluded)."""
        return sum(label is not None for label in self.labels)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_metadata(path: str | Path) -> IndexMetadata:
    """Read and check ``item_index.json``.

    Args:
        path: The metadata file.

    Returns:
        Its checked content.

    Raises:
        RunFolderError: unreadable, not JSON, a field missing or of the wrong type or value, or
            item ids that are not unique strings (one line naming the file and the field).
    """
    require_regular_file(path, "index metadata file")

    def fail(what: str) -> RunFolderError:
        return RunFolderError(f"index metadata {path}: {what}")

    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise fail(f"cannot be read as JSON ({_one_line(err)})") from None
    if not isinstance(meta, dict):
        raise fail(f"must hold a JSON object, got {type(meta).__name__}")
    missing = [key for key in ("kind", "metric", "dim", "item_ids") if key not in meta]
    if missing:
        raise fail(f"lacks keys {missing}")
    version = meta.get("format_version", FORMAT_VERSION)
    if not _is_int(version) or version > FORMAT_VERSION:
        raise fail(f"field 'format_version' must be an integer up to {FORMAT_VERSION} (a newer "
                   f"recsft wrote it?), got {shorten(version)}")
    kind, metric, dim, labels = meta["kind"], meta["metric"], meta["dim"], meta["item_ids"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise fail(f"unsupported kind {shorten(kind)}; known {list(KINDS)}")
    if not isinstance(metric, str) or metric not in METRICS:
        raise fail(f"unknown metric {shorten(metric)}; known {list(METRICS)}")
    if not _is_int(dim) or dim < 1:
        raise fail(f"field 'dim' must be a positive integer, got {shorten(dim)}")
    params = meta.get("params", {})
    if not isinstance(params, dict):
        raise fail(f"field 'params' must be an object, got {shorten(params)}")
    try:
        config = index_config(kind, **params)
    except (TypeError, ValueError) as err:
        raise fail(f"field 'params': {_one_line(err)}") from None
    if not isinstance(labels, list):
        raise fail(f"field 'item_ids' must be a list of strings, got {type(labels).__name__}")
    holes = uses_explicit_labels(kind)
    for position, label in enumerate(labels):
        if not (isinstance(label, str) or (holes and label is None)):
            raise fail(f"item_ids must be a list of strings; item_ids[{position}] is "
                       f"{shorten(label)}")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise fail(f"item_ids contain duplicates, e.g. {shorten(label)}")
        if label is not None:
            seen.add(label)
    # ``n_items`` is informational: the id map is checked against the FAISS file's count.
    return IndexMetadata(kind, config, metric, dim, labels)


def read_faiss_index(path: str | Path, meta: IndexMetadata, meta_path: str | Path) -> Any:
    """Read ``item_index.faiss`` and check it against its metadata.

    Args:
        path: The FAISS file.
        meta: The checked metadata (:func:`read_metadata`).
        meta_path: The metadata file, named when the two disagree.

    Returns:
        The FAISS index (the concrete class of ``meta.kind``).

    Raises:
        RunFolderError: FAISS cannot read it (truncated, corrupt, not a FAISS file), or it
            disagrees with the metadata (class, metric, dimension, vector count, labels).
    """
    require_regular_file(path, "FAISS index file")
    try:
        index = faiss.read_index(str(path))
    except (RuntimeError, MemoryError, ValueError) as err:
        raise RunFolderError(f"cannot read FAISS index {path}: {_faiss_reason(err)} (truncated "
                             f"or not written by recsft; rebuild it with 'recsft index build "
                             f"--run DIR')") from None
    kind = meta.kind
    if type(index) not in _FAISS_TYPES[kind]:
        raise RunFolderError(f"inconsistent index files: {path} holds a {type(index).__name__} "
                             f"but {meta_path} says kind {kind!r}")
    if index.ntotal != meta.n_items:
        raise RunFolderError(f"inconsistent index files: {path} holds {index.ntotal} vectors "
                             f"but {meta_path} lists {meta.n_items} item ids")
    if index.d != meta.dim:
        raise RunFolderError(f"inconsistent index files: {path} has dimension {index.d} but "
                             f"{meta_path} says {meta.dim}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise RunFolderError(f"FAISS index {path} does not use inner-product metric")
    if kind == "hnsw":
        _check_storage(path, faiss.downcast_index(index.storage), index, "HNSW storage")
        _check_hnsw(path, index)
    elif uses_explicit_labels(kind):
        _check_ivf(path, index, meta.labels)
    return index


def _check_storage(path: str | Path, inner: Any, index: Any, what: str,
                   count: int | None = None) -> None:
    """A flat inner index (HNSW storage, IVF quantiser) of the right class, size and width."""
    count = index.ntotal if count is None else count
    if type(inner) not in _FLAT_TYPES or inner.d != index.d or inner.ntotal != count:
        raise RunFolderError(f"FAISS index {path}: its {what} is a {type(inner).__name__} of "
                             f"{inner.ntotal} vectors of dimension {inner.d}, expected a flat "
                             f"index of {count} vectors of dimension {index.d}")


def _check_hnsw(path: str | Path, index: Any) -> None:
    """Graph links and entry point inside the index (FAISS before 1.12 does not check them,
    and a search follows them into memory)."""
    graph = index.hnsw
    links = faiss.vector_to_array(graph.neighbors)
    offsets = faiss.vector_to_array(graph.offsets)
    levels = faiss.vector_to_array(graph.levels)
    entry, total = int(graph.entry_point), int(index.ntotal)
    sound = (len(levels) == total and len(offsets) == total + 1
             and (not links.size or (links.min() >= -1 and links.max() < total))
             and (offsets[0] == 0 and offsets[-1] == len(links) and (np.diff(offsets) >= 0).all()
                  if len(offsets) else False)
             and (0 <= entry < total if total else entry == -1))
    if not sound:
        raise RunFolderError(f"FAISS index {path}: its HNSW graph links outside its "
                             f"{total} vectors (neighbour lists, offsets or entry point)")


def _check_ivf(path: str | Path, index: Any, labels: list[str | None]) -> None:
    """Every stored label of an IVF index names a listed item, once, in in-memory lists."""
    _check_storage(path, faiss.downcast_index(index.quantizer), index, "coarse quantiser",
                   count=index.nlist)
    lists = faiss.downcast_InvertedLists(index.invlists)
    if not isinstance(lists, faiss.ArrayInvertedLists) or lists.nlist != index.nlist or (
            lists.code_size != index.code_size):
        raise RunFolderError(f"FAISS index {path}: its inverted lists are a "
                             f"{type(lists).__name__} of {lists.nlist} lists of {lists.code_size}"
                             f"-byte codes, expected in-memory lists of {index.nlist} lists of "
                             f"{index.code_size}-byte codes")
    stored = [np.array(faiss.rev_swig_ptr(lists.get_ids(cell), size), dtype=np.int64)
              for cell in range(lists.nlist) if (size := lists.list_size(cell))]
    stored = np.concatenate(stored) if stored else np.zeros(0, dtype=np.int64)
    listed = np.array([label is not None for label in labels], dtype=bool)
    inside = (stored >= 0) & (stored < len(labels))
    bad = ~inside.copy()
    bad[inside] = ~listed[stored[inside]]
    if bad.any():
        label = int(stored[np.flatnonzero(bad)[0]])
        raise RunFolderError(f"FAISS index {path}: stores label {label}, which names no item of "
                             f"the id map (labels 0..{len(labels) - 1}, removed ones excluded)")
    if len(np.unique(stored)) != len(stored):
        raise RunFolderError(f"FAISS index {path}: stores a label twice")


def _faiss_reason(err: BaseException) -> str:
    """The useful part of a FAISS C++ error ("Error in <function> at <file>: Error: '<check>'
    failed: <detail>"), on one line."""
    text = " ".join(str(err).split())
    match = re.search(r"Error: (.*)$", text)
    return _one_line(match.group(1) if match else (text or type(err).__name__))


def _one_line(value: Any, limit: int = 160) -> str:
    """A message (or exception's) first line cut to ``limit`` characters."""
    lines = str(value).strip().splitlines()
    text = lines[0] if lines else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
