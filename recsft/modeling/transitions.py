"""Item-to-item transitions: a Markov chain over the training sequences.

The next-item distribution after a history is the recency-weighted average of the transition
rows of its newest items: ``P(j | h) = sum_k r_k T[h_k, j]`` with ``r_k ∝ decay ** age_k``
over the newest ``window`` items, where ``T[i, j]`` is the share of ``i``'s successors that are
``j`` (successors at distance ``d`` counted with weight ``order_weights[d - 1]``; ``n_i``, the
weighted count of ``i``'s successors, is kept: a mixture trusts a row by how much it saw,
:meth:`ItemTransitions.reading`). It is the
Markov-chain half of FPMC (Rendle et al., WWW 2010) without the factorisation, and on sparse
catalogues it knows pairs of items a sequence encoder has seen too rarely to embed well;
:class:`~recsft.evaluation.mixture.MixtureScorer` interpolates it with a model's softmax.

Saved as ``transitions.safetensors`` (the CSR arrays; settings in the header): no pickle.

Example:
    >>> chain = ItemTransitions.fit([[0, 1, 2], [1, 2]], num_items=3)
    >>> chain.next_item_probabilities([[0, 1]])            # (1, 3), rows sum to <= 1
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: File name inside a run folder.
TRANSITIONS_FILE = "transitions.safetensors"
#: Arrays of the file: the row-normalised CSR matrix and the successor counts.
_ARRAYS = ("indptr", "indices", "data", "totals")


@dataclass
class TransitionSettings:
    """How the chain is counted and read.

    Attributes:
        order_weights: Weight of a successor at distance 1, 2, ... (``(1.0, 0.3)``: the next
            item counts 1, the one after it 0.3).
        decay: Weight ratio between consecutive history items, newest first.
        window: Newest history items read.
        weight: Mixture weight ``w`` of the chain against a model (chosen on validation by
            :func:`~recsft.evaluation.mixture.choose_mixture`; ``None`` until then).
        smoothing: Pseudo-counts ``a`` of the model in each history item's successor counts
            (a row seen ``n`` times speaks with ``n / (n + a)`` of its share; ``0``: every row
            with successors fully), chosen with ``weight``.
        temperature: Of the model's softmax in the mixture (``> 1`` flattens it), chosen with
            ``weight``.
        content_weight: Weight ``c`` of the text-similarity term added to the mixture's log
            probability (the cosine of each item's text vector with the newest history items',
            :class:`~recsft.scoring.content.ContentScorer`), chosen on validation after
            ``weight`` when the run's items have text; ``0``: none.
        new_item_prior: Offset ``b`` added to the score of every item without training
            interactions (new in the catalogue, or held out by ``data.cold_items``), chosen on
            validation last when the catalogue has such items; ``0``: none.
    """

    order_weights: tuple[float, ...] = (1.0, 0.3)
    decay: float = 0.3
    window: int = 10
    weight: float | None = None
    smoothing: float = 0.0
    temperature: float = 1.0
    content_weight: float = 0.0
    new_item_prior: float = 0.0
    #: Validation metric per candidate tried, when chosen (``{"weight", "smoothing",
    #: "temperature", metric}``).
    validation: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.order_weights = tuple(float(w) for w in self.order_weights)
        if not self.order_weights or any(w < 0 for w in self.order_weights):
            raise ValueError(f"order_weights must be non-negative and not empty, got "
                             f"{self.order_weights}")
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if self.weight is not None and not 0 <= self.weight <= 1:
            raise ValueError(f"weight must be in [0, 1], got {self.weight}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be non-negative, got {self.smoothing}")
        if not self.content_weight >= 0:
            raise ValueError(f"content_weight must be non-negative, got {self.content_weight}")
        if not np.isfinite(self.new_item_prior):
            raise ValueError(f"new_item_prior must be finite, got {self.new_item_prior}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


class ItemTransitions:
    """Row-normalised item transition counts ``(num_items, num_items)``, sparse.

    Args:
        indptr, indices, data: The CSR arrays of the row-normalised matrix.
        totals: ``(num_items,)`` weighted successor count of each item (its row's mass
            before normalisation).
        num_items: Catalogue size (item indices ``0 .. num_items - 1``).
        settings: How it was counted and how histories read it.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 totals: np.ndarray, num_items: int, settings: TransitionSettings) -> None:
        from scipy import sparse

        if totals.shape != (num_items,):
            raise ValueError(f"totals must have shape ({num_items},), got {totals.shape}")
        self.num_items = num_items
        self.settings = settings
        self.matrix = sparse.csr_matrix((data, indices, indptr), shape=(num_items, num_items))
        self.totals = np.asarray(totals, dtype=np.float64)

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], num_items: int,
            settings: TransitionSettings | None = None) -> ItemTransitions:
        """Count successors in ``sequences`` of item indices (oldest first; negative indices,
        e.g. unknown items, break no chain but are skipped as endpoints)."""
        from scipy import sparse

        settings = settings or TransitionSettings()
        rows, cols, vals = [], [], []
        for sequence in sequences:
            items = np.asarray(sequence, dtype=np.int64)
            for distance, weight in enumerate(settings.order_weights, start=1):
                if len(items) <= distance or weight == 0:
                    continue
                source, target = items[:-distance], items[distance:]
                keep = (source >= 0) & (target >= 0)
                rows.append(source[keep])
                cols.append(target[keep])
                vals.append(np.full(int(keep.sum()), weight))
        if rows:
            counts = sparse.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(num_items, num_items))
        else:
            counts = sparse.csr_matrix((num_items, num_items))
        counts.sum_duplicates()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        normalised = sparse.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ counts
        normalised = sparse.csr_matrix(normalised, dtype=np.float32)
        return cls(normalised.indptr, normalised.indices, normalised.data, totals, num_items,
                   settings)

    def reading(self, histories: Sequence[Sequence[int]], smoothing: float = 0.0) -> Any:
        """How much each history item's row speaks for the next item: ``(B, num_items)``
        sparse, ``R[b, i] = r_k * n_i / (n_i + smoothing)`` for ``i = h_k`` among the newest
        ``window`` items of history ``b`` (``r_k ∝ decay ** age_k``, summing to 1 over them;
        with ``smoothing = 0`` the factor is 1 for an item with successors). Items without
        successors weigh 0; so a row sums to at most 1, and the rest is the model's.

        Args:
            histories: Item indices, oldest first (negative entries ignored).
            smoothing: Pseudo-counts ``a``, see :class:`TransitionSettings`.
        """
        from scipy import sparse

        settings = self.settings
        rows, cols, vals = [], [], []
        for row, history in enumerate(histories):
            items = [int(i) for i in history if i >= 0][-settings.window:]
            if not items:
                continue
            weights = settings.decay ** np.arange(len(items) - 1, -1, -1, dtype=np.float64)
            seen = self.totals[items]
            trust = seen / (seen + smoothing) if smoothing > 0 else (seen > 0).astype(float)
            rows.extend([row] * len(items))
            cols.extend(items)
            vals.extend(weights / weights.sum() * trust)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(histories), self.num_items))

    def next_item_probabilities(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """``(B, num_items)`` float32 next-item distributions of ``histories`` (item indices,
        oldest first; negative entries ignored). A row sums to at most 1: the weight of a
        history item without known successors is left out (the chain has nothing to say
        there, and a mixture gives that share to the model)."""
        return (self.reading(histories) @ self.matrix).toarray().astype(np.float32)

    def save(self, directory: str) -> str:
        """Write :data:`TRANSITIONS_FILE` into ``directory`` (temporary file, then rename)."""
        from safetensors.numpy import save_file

        from recsft.fileio import atomic_save

        path = os.path.join(directory, TRANSITIONS_FILE)
        metadata = {"num_items": str(self.num_items),
                    "settings": json.dumps(asdict(self.settings))}
        arrays = {"indptr": self.matrix.indptr.astype(np.int64),
                  "indices": self.matrix.indices.astype(np.int64),
                  "data": self.matrix.data.astype(np.float32),
                  "totals": self.totals.astype(np.float64)}
        atomic_save(path, lambda tmp: save_file(arrays, tmp, metadata=metadata))
        return path

    @classmethod
    def load(cls, directory: str) -> ItemTransitions:
        """Read :data:`TRANSITIONS_FILE` from ``directory``, checking everything in it.

        The settings must parse with the expected types, the arrays must have the dtypes and
        shapes :meth:`save` writes, and the CSR structure must be sound (row pointers from 0 to
        the number of entries, non-decreasing; column indices inside the catalogue; shares
        finite, in ``[0, 1]``, summing to 1 on each row with successors and only there) before
        SciPy sees it: a crafted file gets an error, never a crash or a wrong answer.

        Raises:
            FileNotFoundError: the folder has none (``recsft transitions --run DIR`` writes it).
            RunFolderError: the file is not one :meth:`save` wrote, or fails a check (one line
                naming the file and what is wrong).
        """
        path = os.path.join(directory, TRANSITIONS_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no item transitions; fit them with "
                                    f"'recsft transitions --run {directory}'")
        arrays, num_items, settings = _read_file(path, directory)
        return cls(*(arrays[name] for name in _ARRAYS), num_items, settings)

    def check_items(self, num_items: int, source: str | os.PathLike | None = None) -> None:
        """Refuse transitions counted over another catalogue than the run's.

        Args:
            num_items: Items of the run's tokenizer (and model vocabulary).
            source: The file named in the message (default :data:`TRANSITIONS_FILE`).

        Raises:
            RunFolderError: the chain covers a different number of items.
        """
        from recsft.errors import RunFolderError

        if self.num_items != num_items:
            raise RunFolderError(
                f"{source or TRANSITIONS_FILE}: item transitions over {self.num_items} items, "
                f"but the run's tokenizer has {num_items}; refit them with 'recsft "
                f"transitions --run DIR'")


# ---------------------------------------------------------------------- checks on load

#: The dtype :meth:`ItemTransitions.save` writes each array with.
_DTYPES = {"indptr": np.int64, "indices": np.int64, "data": np.float32, "totals": np.float64}
#: Tolerance of a row's sum of shares around 1 (float32 shares of up to millions of items).
_ROW_SUM_TOLERANCE = 1e-3


def _read_file(path: str, directory: str) -> tuple[dict[str, np.ndarray], int, TransitionSettings]:
    """The checked arrays, catalogue size and settings of a transitions file.

    Raises:
        RunFolderError: anything :meth:`ItemTransitions.save` would not have written.
    """
    from safetensors import safe_open

    from recsft.errors import RunFolderError
    from recsft.fileio import require_regular_file

    require_regular_file(path, "item-transitions file")
    refit = f"refit it with 'recsft transitions --run {directory}'"
    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
            names = set(handle.keys())
            missing = [name for name in _ARRAYS if name not in names]
            if missing:
                raise RunFolderError(f"{path}: not an item-transitions file written by recsft "
                                     f"(no array {'/'.join(missing)}); {refit}")
            arrays = {name: handle.get_tensor(name) for name in _ARRAYS}
    except RunFolderError:
        raise
    except Exception as err:  # safetensors reports a bad header or size as several types
        raise RunFolderError(f"{path}: not an item-transitions file written by recsft (not a "
                             f"readable safetensors file: {_one_line(err)}); {refit}") from None
    num_items = _num_items(path, metadata.get("num_items"))
    settings = _settings(path, metadata.get("settings"))
    _check_arrays(path, arrays, num_items)
    return arrays, num_items, settings


def _one_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, cut to ``limit`` characters."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num_items(path: str, value: Any) -> int:
    from recsft.errors import RunFolderError, shorten

    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 18:
        raise RunFolderError(f"{path}: header field 'num_items' must be a non-negative integer, "
                             f"got {shorten(value)}")
    return int(value)


def _settings(path: str, text: Any) -> TransitionSettings:
    """:class:`TransitionSettings` from the header's JSON, every field type-checked."""
    from recsft.errors import RunFolderError, shorten

    def fail(what: str) -> RunFolderError:
        return RunFolderError(f"{path}: header field 'settings' {what}")

    if not isinstance(text, str):
        raise fail("is missing (expected the JSON of the transition settings)")
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise fail(f"is not JSON ({_one_line(err)})") from None
    if not isinstance(fields, dict):
        raise fail(f"must be a JSON object, got {type(fields).__name__}")
    known = {name for name in TransitionSettings.__dataclass_fields__}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise fail(f"has unknown field(s) {shorten(unknown)}; known: {sorted(known)}")

    def number(value: Any, finite: bool = True) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and (not finite or bool(np.isfinite(value))))

    checks = {
        "order_weights": (lambda v: isinstance(v, list) and all(number(w) for w in v),
                          "a list of finite numbers"),
        "decay": (number, "a finite number"),
        "window": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
        "weight": (lambda v: v is None or number(v), "null or a finite number"),
        "smoothing": (number, "a finite number"),
        "temperature": (number, "a finite number"),
        "content_weight": (number, "a finite number"),
        "new_item_prior": (number, "a finite number"),
        "validation": (lambda v: isinstance(v, list) and all(
            isinstance(row, dict) and all(isinstance(key, str) and number(val, finite=False)
                                          for key, val in row.items()) for row in v),
                       "a list of objects of numbers"),
    }
    for name, value in fields.items():
        accepts, expected = checks[name]
        if not accepts(value):
            raise fail(f"field {name!r} must be {expected}, got {shorten(value)}")
    try:
        return TransitionSettings(**fields)
    except ValueError as err:
        raise fail(f"is out of range: {_one_line(err)}") from None


def _check_arrays(path: str, arrays: dict[str, np.ndarray], num_items: int) -> None:
    """The CSR invariants of :meth:`ItemTransitions.fit`, checked before SciPy reads them.

    Args:
        path: Named in messages.
        arrays: ``indptr (num_items + 1,)``, ``indices (nnz,)``, ``data (nnz,)``,
            ``totals (num_items,)``.
        num_items: Catalogue size from the header.

    Raises:
        RunFolderError: the first invariant that does not hold.
    """
    from recsft.errors import RunFolderError

    def fail(what: str) -> RunFolderError:
        return RunFolderError(f"{path}: {what}")

    for name, dtype in _DTYPES.items():
        array = arrays[name]
        if array.dtype != dtype:
            raise fail(f"array {name!r} has dtype {array.dtype}, expected {np.dtype(dtype)}")
        if array.ndim != 1:
            raise fail(f"array {name!r} has shape {tuple(array.shape)}, expected one dimension")
    indptr, indices, data, totals = (arrays[name] for name in _ARRAYS)
    if len(indptr) != num_items + 1:
        raise fail(f"array 'indptr' has {len(indptr)} entries, expected num_items + 1 = "
                   f"{num_items + 1}")
    if len(totals) != num_items:
        raise fail(f"array 'totals' has {len(totals)} entries, expected num_items = {num_items}")
    if len(data) != len(indices):
        raise fail(f"arrays 'indices' and 'data' differ in length ({len(indices)} and "
                   f"{len(data)})")
    if indptr[0] != 0:
        raise fail(f"array 'indptr' must start at 0, got {int(indptr[0])}")
    steps = np.diff(indptr)
    if steps.size and int(steps.min()) < 0:
        row = int(np.flatnonzero(steps < 0)[0])
        raise fail(f"array 'indptr' decreases at row {row} ({int(indptr[row])} then "
                   f"{int(indptr[row + 1])}); row pointers must be non-decreasing")
    if indptr[-1] != len(indices):
        raise fail(f"array 'indptr' must end at the number of entries {len(indices)}, got "
                   f"{int(indptr[-1])}")
    outside = (indices < 0) | (indices >= num_items)
    if outside.any():
        at = int(np.flatnonzero(outside)[0])
        raise fail(f"array 'indices' holds item index {int(indices[at])} at entry {at}, outside "
                   f"the catalogue 0..{num_items - 1}")
    bad = ~np.isfinite(data) | (data < 0) | (data > 1)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise fail(f"array 'data' holds {float(data[at])!r} at entry {at}; transition shares "
                   f"are finite and in [0, 1]")
    bad = ~np.isfinite(totals) | (totals < 0)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise fail(f"array 'totals' holds {float(totals[at])!r} for item {at}; successor counts "
                   f"are finite and non-negative")
    seen = totals > 0
    wrong = np.flatnonzero(seen != (steps > 0))
    if wrong.size:
        row = int(wrong[0])
        raise fail(f"item {row} has {int(steps[row])} successor entries but a successor count "
                   f"of {float(totals[row])!r}; a row has entries exactly when its count is "
                   f"positive")
    rows = np.flatnonzero(seen)  # the rows with entries, whose starts increase strictly
    sums = (np.add.reduceat(data.astype(np.float64), indptr[rows]) if rows.size
            else np.zeros(0))
    off = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE)
    if off.size:
        row = int(rows[off[0]])
        at = int(off[0])
        raise fail(f"the transition shares of item {row} sum to {float(sums[at]):.6g}, "
                   f"expected 1")
