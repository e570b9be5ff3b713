"""FAISS index kinds and their parameters, one config class per kind.

Each kind is chosen by name (:data:`KINDS`) and configured by a dataclass whose fields are its
parameters: ``index_config("hnsw", m=48)``. Build-time fields shape the structure (changing them
means a rebuild); search-time fields (``ef_search``, ``nprobe``) can be overridden per search.
Unknown parameter names are rejected with the list of known ones.

=========  ==============================  ==================  =================================
kind       FAISS structure                 add / remove        search-time parameters
=========  ==============================  ==================  =================================
flat       ``IndexFlatIP`` (exact)         yes / yes           none
hnsw       ``IndexHNSWFlat`` (graph)       yes / no            ``ef_search``
ivf_flat   ``IndexIVFFlat`` (k-means)      yes / yes           ``nprobe``
ivf_pq     ``IndexIVFPQ`` (compressed)     yes / yes           ``nprobe``
=========  ==============================  ==================  =================================

Sizes that suit the catalogue (the defaults of the IVF kinds): FAISS's k-means wants at least
:data:`MIN_POINTS_PER_CENTROID` (39) training vectors per centroid and says so on stderr when it
gets fewer, once per k-means (17 times for an ``ivf_pq`` index over 1,000 items with a
``4·√n``-cell, 8-bit default). The defaults are chosen so that it never has to:

- ``nlist`` = ``min(4·√n, n // 39)``, at least 1: every cell gets 39 training vectors;
- ``train_size`` = ``64·nlist`` (``ivf_pq``: at least ``64·2^nbits``), at most ``n``;
- ``nbits`` (``ivf_pq``) = the largest of 1..8 with ``39·2^nbits ≤`` the training vectors: 8
  from 9,984 items, fewer below (4 for 1,000 items); under 78 items no code fits and the
  index is refused (use ``flat``: exact search of so few items costs nothing);
- a single cell takes the training vectors' mean as its centroid (what k-means with one
  centroid converges to) instead of running k-means on fewer than 39 vectors.

Parameters given explicitly are used as given (FAISS may then warn). The index records the
values it was built with (:meth:`IndexConfig.resolved`).

All kinds score by inner product (``METRIC_INNER_PRODUCT``); cosine similarity is inner product
over L2-normalised vectors (:class:`~recsft.retrieval.index.ItemIndex` normalises). The HNSW
graph is built directly on inner product: the alternative reduction of maximum inner-product
search to L2 (one extra coordinate, Bachrach et al. 2014) gave recall@10 of 0.49 against 0.998
for the direct graph at ``ef_search = 128`` on 100k clustered items (d = 128) when we tried it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import faiss

from recsft.errors import shorten

__all__ = [
    "KINDS",
    "FlatConfig",
    "HNSWConfig",
    "IVFFlatConfig",
    "IVFPQConfig",
    "IndexConfig",
    "index_config",
]


#: Largest parameter value: FAISS keeps them in C ``int`` fields.
_MAX_PARAMETER = 2**31 - 1
#: Training vectors per centroid below which FAISS's k-means warns
#: (``ClusteringParameters.min_points_per_centroid``).
MIN_POINTS_PER_CENTROID = 39
#: Most bits per ``ivf_pq`` code chosen by default (one byte per sub-quantiser).
_DEFAULT_MAX_BITS = 8


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {shorten(value)}")
    if value > _MAX_PARAMETER:
        raise ValueError(f"{name} must be at most {_MAX_PARAMETER}, got {shorten(value)}")


@dataclass(frozen=True)
class IndexConfig:
    """Base of the per-kind configs: parameter validation and the FAISS search parameters."""

    kind: ClassVar[str] = ""
    supports_remove: ClassVar[bool] = True
    search_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                _check_positive(field.name, value)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (written into the index metadata)."""
        return dataclasses.asdict(self)

    def build(self, dim: int, n_items: int) -> faiss.Index:
        """An empty FAISS index for ``n_items`` vectors of dimension ``dim``.

        Args:
            dim: Vector dimension.
            n_items: Number of vectors it will first hold (sizes the IVF lists).

        Returns:
            The index, untrained where the kind needs training.
        """
        raise NotImplementedError

    def training_size(self, n_items: int) -> int:
        """How many vectors to train on (0 for kinds without training)."""
        return 0

    def resolved(self, dim: int, n_items: int) -> IndexConfig:
        """This config with every size its kind derives from the data filled in (``nlist``,
        ``train_size``, ``pq_m``, ``nbits``): what an index over ``n_items`` vectors of
        dimension ``dim`` is built with, and records."""
        return self

    def training_minimum(self, n_items: int) -> int:
        """Fewest training vectors this config can be built from (0: no training)."""
        return 0

    def search_parameters(self, selector: Any | None, k: int,
                          overrides: dict[str, Any]) -> faiss.SearchParameters:
        """FAISS search parameters for one search.

        Args:
            selector: An optional ``faiss.IDSelector`` restricting the results.
            k: Results asked of FAISS (an HNSW beam is widened to at least ``k``).
            overrides: Search-time fields given to this search (already validated).

        Returns:
            The ``faiss.SearchParameters`` subclass for this kind.
        """
        params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params

    def check_search_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Validate per-search overrides of the search-time fields.

        Raises:
            TypeError: on a name that is not a search-time field of this kind.
            ValueError: on a value that is not a positive integer.
        """
        unknown = sorted(set(overrides) - set(self.search_fields))
        if unknown:
            known = list(self.search_fields) or "none"
            raise TypeError(f"unknown search parameter(s) {shorten(unknown)} for a "
                            f"{self.kind!r} index; known: {known}")
        for name, value in overrides.items():
            _check_positive(name, value)
        return overrides


@dataclass(frozen=True)
class FlatConfig(IndexConfig):
    """Exact search: every query is scored against every item (no parameters)."""

    kind: ClassVar[str] = "flat"

    def build(self, dim: int, n_items: int) -> faiss.Index:
        return faiss.IndexFlatIP(dim)


@dataclass(frozen=True)
class HNSWConfig(IndexConfig):
    """Hierarchical navigable small-world graph over the full vectors.

    Defaults reach recall@10 ≥ 0.98 against exact search on 1M synthetic items
    (``scripts/benchmark_retrieval.py``; figures in ``docs/retrieval.md``).

    Attributes:
        m: Neighbours per node (memory ``≈ 8·m`` bytes per item on top of the vectors).
        ef_construction: Beam width while building (build time grows with it).
        ef_search: Beam width while searching (recall and latency grow with it); search-time.
    """

    kind: ClassVar[str] = "hnsw"
    supports_remove: ClassVar[bool] = False
    search_fields: ClassVar[tuple[str, ...]] = ("ef_search",)
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128

    def build(self, dim: int, n_items: int) -> faiss.Index:
        index = faiss.IndexHNSWFlat(dim, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    def search_parameters(self, selector: Any | None, k: int,
                          overrides: dict[str, Any]) -> faiss.SearchParameters:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(int(overrides.get("ef_search", self.ef_search)), k)
        if selector is not None:
            params.sel = selector
        return params


@dataclass(frozen=True)
class IVFFlatConfig(IndexConfig):
    """Inverted lists over k-means cells; a query scans the ``nprobe`` nearest cells exactly.

    Attributes:
        nlist: Number of cells; ``None`` → ``min(4·√n, n // 39)``, at least 1 (39 training
            vectors per cell: see the module docstring).
        nprobe: Cells scanned per query; search-time.
        train_size: Vectors sampled to train the k-means; ``None`` → ``64·nlist`` (at most
            ``n_items``).
    """

    kind: ClassVar[str] = "ivf_flat"
    search_fields: ClassVar[tuple[str, ...]] = ("nprobe",)
    nlist: int | None = None
    nprobe: int = 32
    train_size: int | None = None

    def cells(self, n_items: int) -> int:
        """The number of k-means cells for ``n_items`` vectors."""
        if self.nlist is not None:
            return self.nlist
        return max(1, min(int(4 * math.sqrt(max(n_items, 1))),
                          n_items // MIN_POINTS_PER_CENTROID))

    def training_size(self, n_items: int) -> int:
        wanted = self.train_size if self.train_size is not None else 64 * self.cells(n_items)
        return min(n_items, wanted)

    def training_minimum(self, n_items: int) -> int:
        return self.cells(n_items)

    def resolved(self, dim: int, n_items: int) -> IndexConfig:
        return dataclasses.replace(self, nlist=self.cells(n_items),
                                   train_size=self.training_size(n_items))

    def _quantizer(self, dim: int) -> faiss.Index:
        return faiss.IndexFlatIP(dim)

    def build(self, dim: int, n_items: int) -> faiss.Index:
        quantizer = self._quantizer(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, self.cells(n_items),
                                   faiss.METRIC_INNER_PRODUCT)
        index.nprobe = self.nprobe
        return index

    def search_parameters(self, selector: Any | None, k: int,
                          overrides: dict[str, Any]) -> faiss.SearchParameters:
        params = faiss.SearchParametersIVF()
        params.nprobe = int(overrides.get("nprobe", self.nprobe))
        if selector is not None:
            params.sel = selector
        return params


@dataclass(frozen=True)
class IVFPQConfig(IVFFlatConfig):
    """Inverted lists with product-quantised vectors: ``pq_m`` bytes per item at 8 bits.

    Scores are approximate (computed on the codes), so even the true top-k can come out in a
    different order; use it where memory, not latency, is the limit.

    Attributes:
        nlist: As :class:`IVFFlatConfig`.
        nprobe: As :class:`IVFFlatConfig`; search-time.
        train_size: As :class:`IVFFlatConfig`; ``None`` → ``max(64·nlist, 64·2^nbits)`` (at
            most ``n_items``; at least ``2**nbits`` vectors are needed).
        pq_m: Sub-quantisers; must divide the dimension. ``None`` → ``d / 4`` where that
            divides, else the largest divisor of ``d`` not above it.
        nbits: Bits per sub-quantiser code; ``None`` → the largest of 1..8 with
            ``39·2^nbits ≤`` the training vectors (8 from 9,984 of them).
    """

    kind: ClassVar[str] = "ivf_pq"
    pq_m: int | None = None
    nbits: int | None = None

    def sub_quantizers(self, dim: int) -> int:
        """The number of sub-quantisers for dimension ``dim``.

        Raises:
            ValueError: ``pq_m`` does not divide ``dim``.
        """
        if self.pq_m is not None:
            if dim % self.pq_m:
                raise ValueError(f"pq_m = {self.pq_m} must divide the dimension {dim}")
            return self.pq_m
        target = max(1, dim // 4)
        return max(m for m in range(1, target + 1) if dim % m == 0)

    def code_bits(self, n_items: int) -> int:
        """Bits per code for ``n_items`` vectors (0: too few vectors for any code)."""
        if self.nbits is not None:
            return self.nbits
        n_train = self.training_size(n_items)
        fitting = [b for b in range(1, _DEFAULT_MAX_BITS + 1)
                   if MIN_POINTS_PER_CENTROID * 2 ** b <= n_train]
        return max(fitting, default=0)

    def training_size(self, n_items: int) -> int:
        bits = self.nbits if self.nbits is not None else _DEFAULT_MAX_BITS
        wanted = self.train_size if self.train_size is not None else max(
            64 * self.cells(n_items), 64 * 2 ** bits)
        return min(n_items, wanted)

    def training_minimum(self, n_items: int) -> int:
        bits = self.nbits if self.nbits is not None else 1
        least = 2 ** bits if self.nbits is not None else MIN_POINTS_PER_CENTROID * 2
        return max(self.cells(n_items), least)

    def resolved(self, dim: int, n_items: int) -> IndexConfig:
        return dataclasses.replace(self, nlist=self.cells(n_items),
                                   train_size=self.training_size(n_items),
                                   pq_m=self.sub_quantizers(dim),
                                   nbits=self.code_bits(n_items) or None)

    def build(self, dim: int, n_items: int) -> faiss.Index:
        bits = self.code_bits(n_items)
        if bits > 16:
            raise ValueError(f"nbits must be at most 16, got {bits}")
        if bits < 1:
            raise ValueError(
                f"an 'ivf_pq' index needs at least {self.training_minimum(n_items)} item "
                f"vectors to train its codes, got {n_items}; use kind='flat' (exact search of "
                "so few items costs nothing)")
        quantizer = self._quantizer(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, self.cells(n_items), self.sub_quantizers(dim),
                                 bits, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = self.nprobe
        return index


_CONFIGS: dict[str, type[IndexConfig]] = {
    cls.kind: cls for cls in (FlatConfig, HNSWConfig, IVFFlatConfig, IVFPQConfig)
}
KINDS: tuple[str, ...] = tuple(_CONFIGS)


def index_config(kind: str, **params: Any) -> IndexConfig:
    """The config of index ``kind`` with ``params`` (unknown names are an error).

    Args:
        kind: One of :data:`KINDS`.
        **params: Fields of that kind's config class.

    Returns:
        The validated, frozen config.

    Raises:
        ValueError: on an unknown kind or an invalid value.
        TypeError: on a parameter name the kind does not have (the message lists its names).

    Example:
        >>> index_config("hnsw", m=16).to_dict()
        {'m': 16, 'ef_construction': 200, 'ef_search': 128}
    """
    if kind not in _CONFIGS:
        raise ValueError(f"unknown index kind {shorten(kind)}; choose one of {list(KINDS)}")
    cls = _CONFIGS[kind]
    names = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise TypeError(f"unknown parameter(s) {shorten(unknown)} for index kind {kind!r}; "
                        f"known: {names or 'none'}")
    return cls(**params)
