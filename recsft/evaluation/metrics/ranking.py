"""Top-K ranking metrics for recommendation (recall, NDCG, MRR, hit rate, precision).

This file is deliberately self-contained (absolute imports of numpy, datasets and evaluate
only, exactly one ``evaluate.Metric`` subclass) so that it can be used both as a regular module
of the ``recsft`` package and as a local ``evaluate`` metric script::

    metric = evaluate.load("/abs/path/to/recsft/evaluation/metrics/ranking.py")

Definitions, for one user with ranked recommendations ``p_0, p_1, ...`` (best first) and a set
of relevant items ``rel`` (duplicates in either list are ignored: only the first occurrence of
an item in the ranking can be a hit):

* ``recall@K    = |top-K ∩ rel| / |rel|``
* ``precision@K = |top-K ∩ rel| / K`` (K is the denominator even if fewer than K items
  were recommended)
* ``hit_rate@K  = 1`` if ``|top-K ∩ rel| > 0`` else ``0``
* ``ndcg@K      = DCG@K / IDCG@K`` with binary gains,
  ``DCG@K = sum_{i < K, p_i in rel} 1 / log2(i + 2)`` and
  ``IDCG@K = sum_{i < min(K, |rel|)} 1 / log2(i + 2)``
* ``mrr@K       = 1 / (r + 1)`` where ``r`` is the 0-based rank of the first hit within the
  top K, else ``0``
* ``map@K       = sum_{i < K, p_i in rel} precision@(i + 1) / |rel|`` (average precision cut at
  K, as trec_eval's ``map_cut``; RecBole divides by ``min(|rel|, K)`` instead; with one
  relevant item both equal ``mrr@K``)

Every reported value is the mean of the per-user values over all users.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Top-K ranking metrics for recommendation from ranked lists of recommended item ids and the
sets of relevant (held-out) item ids of each user: recall@K, precision@K, hit_rate@K (HR@K),
NDCG@K with binary gains, MRR@K (reciprocal rank of the first hit within the top K) and MAP@K
(average precision cut at K).
Each value is averaged over users. Users must have at least one relevant item.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `int`): for each user, the recommended item ids ranked
        best first. Lists may be shorter than K (fewer recommendations) and may differ in length.
    references (`list` of `list` of `int`): for each user, the relevant item ids (non-empty).
    k_values (`tuple` of `int`, defaults to `(5, 10, 20)`): cut-offs K.
Returns:
    A flat `dict` with, for every K, the float keys `recall@K`, `ndcg@K`, `mrr@K`,
    `hit_rate@K`, `precision@K` and `map@K` (means over users).
Examples:
    >>> metric = RankingMetrics()
    >>> metric.compute(predictions=[[7, 3, 9]], references=[[3]], k_values=[1, 2])["ndcg@2"]
    0.6309297535714575
"""

_CITATION = """
@article{jarvelin2002cumulated,
  title={Cumulated gain-based evaluation of IR techniques},
  author={J{\\"a}rvelin, Kalervo and Kek{\\"a}l{\\"a}inen, Jaana},
  journal={ACM Transactions on Information Systems},
  volume={20},
  number={4},
  pages={422--446},
  year={2002}
}
"""

DEFAULT_K_VALUES: tuple[int, ...] = (5, 10, 20)
METRIC_NAMES: tuple[str, ...] = ("recall", "ndcg", "mrr", "hit_rate", "precision", "map")


# --------------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------------


def _normalise_k_values(k_values: int | Iterable[int]) -> tuple[int, ...]:
    """Validate cut-offs and return them as a tuple of unique positive ints (order kept)."""
    if isinstance(k_values, (int, np.integer)):
        k_values = (k_values,)
    ks: list[int] = []
    for k in k_values:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k_values must be positive integers, got {k!r}")
        ks.append(int(k))
    if not ks:
        raise ValueError("k_values must contain at least one cut-off")
    return tuple(dict.fromkeys(ks))


def _check_integer_array(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must contain integer item ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _flatten_ragged(seqs: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a sequence of int sequences.

    Args:
        seqs: A 2-D integer array ``(n, m)``, a 1-D integer array ``(n,)`` (one item per row)
            or a sequence of ``n`` integer sequences of arbitrary lengths.
        name: Argument name used in error messages.

    Returns:
        ``(flat, lengths)``: the concatenated ids ``(sum(lengths),)`` int64 and the row
        lengths ``(n,)`` int64.
    """
    if isinstance(seqs, np.ndarray) and seqs.dtype != object:
        if seqs.ndim == 1:
            flat = _check_integer_array(seqs, name)
            return flat, np.ones(flat.shape[0], dtype=np.int64)
        if seqs.ndim == 2:
            arr = _check_integer_array(seqs, name)
            return arr.reshape(-1), np.full(arr.shape[0], arr.shape[1], dtype=np.int64)
        raise ValueError(f"{name} must be 1-D or 2-D when given as an array, got {seqs.ndim}-D")
    rows = list(seqs)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    total = int(lengths.sum())
    try:
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=total)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be sequences of integer item ids") from err
    return flat, lengths


def _pad_predictions(predictions: Any, max_k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return predictions truncated to ``max_k`` columns as ``(ids, valid)``.

    Returns:
        ``ids`` ``(n, L)`` int64 with ``L <= max_k`` and ``valid`` ``(n, L)`` bool marking real
        recommendations (``None`` when every entry is valid, i.e. the 2-D array fast path).
    """
    if isinstance(predictions, np.ndarray) and predictions.dtype != object:
        if predictions.ndim != 2:
            raise ValueError(
                f"predictions given as an array must be 2-D (n_users, n_recs), "
                f"got shape {predictions.shape}"
            )
        arr = _check_integer_array(predictions, "predictions")
        return arr[:, :max_k], None
    flat, lengths = _flatten_ragged(predictions, "predictions")
    if lengths.size and lengths.max() > max_k:  # drop ranks >= max_k before padding
        starts = np.cumsum(lengths) - lengths
        position = np.arange(flat.shape[0]) - np.repeat(starts, lengths)
        flat, lengths = flat[position < max_k], np.minimum(lengths, max_k)
    n = lengths.shape[0]
    width = int(lengths.max()) if n else 0
    valid = np.arange(width) < lengths[:, None]
    ids = np.zeros((n, width), dtype=np.int64)
    ids[valid] = flat  # boolean assignment is row-major, matching the flattened order
    return ids, valid


def _check_references(lengths: np.ndarray) -> None:
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(
            f"references[{int(empty[0])}] is empty ({empty.size} user(s) without relevant "
            f"items in total): every user needs at least one relevant item"
        )


# --------------------------------------------------------------------------------------------
# Per-user metrics
# --------------------------------------------------------------------------------------------


def _discount_tables(max_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Position discounts ``1 / log2(i + 2)`` and reciprocal ranks ``1 / (i + 1)``, ``(max_k,)``.

    Both the rank-based and the list-based paths index these same tables, which makes them
    agree bit for bit.
    """
    positions = np.arange(max_k, dtype=np.float64)
    return 1.0 / np.log2(positions + 2.0), 1.0 / (positions + 1.0)


def _per_user_from_hits(
    hits: np.ndarray, n_relevant: np.ndarray, k_values: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Per-user metrics from a hit matrix.

    Args:
        hits: ``(n_users, L)`` bool, ``hits[u, i]`` is True if the item at rank ``i`` is relevant
            (and its first occurrence in the ranking).
        n_relevant: ``(n_users,)`` int, number of distinct relevant items (>= 1).
        k_values: Validated cut-offs.

    Returns:
        Mapping ``"<metric>@K"`` to ``(n_users,)`` float64 arrays.
    """
    max_k = max(k_values)
    discounts, reciprocal = _discount_tables(max_k)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])  # ideal[j] = IDCG with j relevant
    width = hits.shape[1]
    out: dict[str, np.ndarray] = {}
    for k in k_values:
        kk = min(k, width)
        top = hits[:, :kk]
        n_hits = top.sum(axis=1)
        found = n_hits > 0
        dcg = top.astype(np.float64) @ discounts[:kk]
        first = top.argmax(axis=1) if kk else np.zeros(hits.shape[0], dtype=np.int64)
        out[f"recall@{k}"] = n_hits / n_relevant
        out[f"ndcg@{k}"] = dcg / ideal[np.minimum(n_relevant, k)]
        out[f"mrr@{k}"] = np.where(found, reciprocal[first], 0.0)
        out[f"hit_rate@{k}"] = found.astype(np.float64)
        out[f"precision@{k}"] = n_hits / k
        precision_at_hits = np.cumsum(top, axis=1) * reciprocal[:kk] * top
        out[f"map@{k}"] = precision_at_hits.sum(axis=1) / n_relevant
    return out


def ranking_metrics_per_user_from_ranks(
    ranks: Any, k_values: int | Iterable[int] = DEFAULT_K_VALUES
) -> dict[str, np.ndarray]:
    """Per-user metrics when every user has exactly one relevant (target) item.

    Args:
        ranks: ``(n_users,)`` 0-based rank of each user's target item in its ranking
            (0 = top). Use ``np.inf`` or any value ``>= max(k_values)`` when the target is
            not ranked. Finite ranks must be non-negative integers.
        k_values: Cut-offs K.

    Returns:
        Mapping ``"<metric>@K"`` to ``(n_users,)`` float64 arrays, identical to
        :func:`ranking_metrics_per_user` on the equivalent ranked lists.
    """
    ks = _normalise_k_values(k_values)
    r = np.asarray(ranks, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"ranks must be 1-D (n_users,), got shape {r.shape}")
    if np.isnan(r).any():
        raise ValueError("ranks must not contain NaN (use np.inf for an unranked target)")
    if (r < 0).any():
        raise ValueError("ranks must be >= 0 (0-based ranks)")
    finite = np.isfinite(r)
    if not np.array_equal(r[finite], np.floor(r[finite])):
        raise ValueError("finite ranks must be integers")
    discounts, reciprocal = _discount_tables(max(ks))
    out: dict[str, np.ndarray] = {}
    for k in ks:
        found = r < k
        idx = np.where(found, r, 0.0).astype(np.int64)
        hit = found.astype(np.float64)
        out[f"recall@{k}"] = hit
        out[f"ndcg@{k}"] = np.where(found, discounts[idx], 0.0)
        out[f"mrr@{k}"] = np.where(found, reciprocal[idx], 0.0)
        out[f"hit_rate@{k}"] = hit
        out[f"precision@{k}"] = found / k
        out[f"map@{k}"] = out[f"mrr@{k}"]
    return out


# Above this many relevant items per user, membership uses sorted keys instead of broadcasting.
_BROADCAST_MAX_REFS = 32
_CHUNK_ELEMENTS = 1 << 24


def _hit_matrix(
    ids: np.ndarray, valid: np.ndarray | None, ref_flat: np.ndarray, ref_lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hit matrix for arbitrary (multi-item) references.

    Args:
        ids: ``(n_users, L)`` recommended item ids.
        valid: ``(n_users, L)`` bool mask of real recommendations, or ``None`` (all real).
        ref_flat: ``(sum(ref_lengths),)`` concatenated relevant item ids.
        ref_lengths: ``(n_users,)`` number of relevant ids per user (all >= 1).

    Returns:
        ``(hits, n_relevant)``: ``(n_users, L)`` bool, True where the item is relevant and this
        is its first (best-ranked) occurrence; ``(n_users,)`` number of distinct relevant items.
    """
    n_users, width = ids.shape
    r_max = int(ref_lengths.max())
    if r_max <= _BROADCAST_MAX_REFS:
        # Pad references to (n_users, r_max), filling gaps with the user's first reference
        # (a repeat does not change the set), and compare by broadcasting in chunks.
        starts = np.cumsum(ref_lengths) - ref_lengths
        refs = np.repeat(ref_flat[starts][:, None], r_max, axis=1)
        refs[np.arange(r_max) < ref_lengths[:, None]] = ref_flat
        ordered = np.sort(refs, axis=1)
        n_relevant = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
        # item_key identifies (user, item): user * r_max + first matching reference column.
        item_key = np.full((n_users, width), -1, dtype=np.int64)
        step = max(1, _CHUNK_ELEMENTS // max(1, width * r_max))
        for lo in range(0, n_users, step):
            equal = ids[lo : lo + step, :, None] == refs[lo : lo + step, None, :]
            rows = np.arange(lo, lo + equal.shape[0], dtype=np.int64)[:, None]
            item_key[lo : lo + step] = np.where(
                equal.any(axis=2), rows * r_max + equal.argmax(axis=2), -1
            )
        member = item_key >= 0
    else:
        # Encode (user, item) as user * n_codes + code, codes indexing the sorted distinct
        # relevant ids, then test membership with a binary search.
        codes = np.unique(ref_flat)
        n_codes = codes.shape[0]
        ref_rows = np.repeat(np.arange(n_users, dtype=np.int64), ref_lengths)
        ref_keys = np.unique(ref_rows * n_codes + np.searchsorted(codes, ref_flat))
        n_relevant = np.bincount(ref_keys // n_codes, minlength=n_users)
        position = np.minimum(np.searchsorted(codes, ids), n_codes - 1)
        item_key = np.arange(n_users, dtype=np.int64)[:, None] * n_codes + position
        slot = np.minimum(np.searchsorted(ref_keys, item_key), ref_keys.shape[0] - 1)
        member = (codes[position] == ids) & (ref_keys[slot] == item_key)
    if valid is not None:
        member &= valid
    # np.nonzero is row-major and np.unique returns first indices, so only the best-ranked
    # occurrence of each (user, item) counts as a hit; later duplicates do not.
    rows, cols = np.nonzero(member)
    first = np.unique(item_key[rows, cols], return_index=True)[1]
    hits = np.zeros((n_users, width), dtype=bool)
    hits[rows[first], cols[first]] = True
    return hits, n_relevant


def ranking_metrics_per_user(
    predictions: Any, references: Any, k_values: int | Iterable[int] = DEFAULT_K_VALUES
) -> dict[str, np.ndarray]:
    """Per-user top-K ranking metrics (see the module docstring for the definitions).

    Args:
        predictions: Ranked recommended item ids per user, best first: either a 2-D integer
            array ``(n_users, n_recs)`` (fast path, every entry is a recommendation) or a
            sequence of ``n_users`` integer sequences of any lengths (shorter than K is allowed).
        references: Relevant item ids per user: a sequence of ``n_users`` non-empty integer
            sequences, a 2-D integer array ``(n_users, n_rel)`` or a 1-D integer array
            ``(n_users,)`` holding one target item per user.
        k_values: Cut-offs K (an int or an iterable of ints).

    Returns:
        Mapping ``"<metric>@K"`` (metric in recall, ndcg, mrr, hit_rate, precision, map) to
        ``(n_users,)`` float64 arrays.

    Raises:
        ValueError: If the numbers of users differ, or a user has no relevant item.
    """
    ks = _normalise_k_values(k_values)
    max_k = max(ks)
    ref_flat, ref_lengths = _flatten_ragged(references, "references")
    ids, valid = _pad_predictions(predictions, max_k)
    n_users = ids.shape[0]
    if ref_lengths.shape[0] != n_users:
        raise ValueError(
            f"predictions and references must have the same number of users, got "
            f"{n_users} and {ref_lengths.shape[0]}"
        )
    _check_references(ref_lengths)
    width = ids.shape[1]

    if n_users == 0 or np.all(ref_lengths == 1):
        # Single target per user: its rank is the first position where it appears.
        ranks = np.full(n_users, np.inf)
        if width:
            match = ids == ref_flat[:, None]
            if valid is not None:
                match &= valid
            found = match.any(axis=1)
            ranks[found] = match.argmax(axis=1)[found]
        return ranking_metrics_per_user_from_ranks(ranks, ks)

    hits, n_relevant = _hit_matrix(ids, valid, ref_flat, ref_lengths)
    return _per_user_from_hits(hits, n_relevant, ks)


def mean_metrics(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over users of per-user metrics (what ``RankingMetrics.compute`` reports)."""
    n_users = len(next(iter(per_user.values())))
    if n_users == 0:
        raise ValueError("cannot compute ranking metrics over zero users")
    return {name: float(np.mean(values)) for name, values in per_user.items()}


def compute_ranking_metrics(
    predictions: Any, references: Any, k_values: int | Iterable[int] = DEFAULT_K_VALUES
) -> dict[str, float]:
    """Mean over users of :func:`ranking_metrics_per_user` (same arguments).

    Returns:
        Flat mapping ``"<metric>@K"`` to float.
    """
    return mean_metrics(ranking_metrics_per_user(predictions, references, k_values))


def compute_from_ranks(
    ranks: Any, k_values: int | Iterable[int] = DEFAULT_K_VALUES
) -> dict[str, float]:
    """Mean metrics from the 0-based rank of each user's single target item.

    Intended for fast evaluators that score all items and only count how many items beat the
    target. Agrees exactly with the list-based path for single-target references.

    Args:
        ranks: ``(n_users,)`` 0-based ranks; ``np.inf`` (or any value ``>= max(k_values)``)
            when the target is not ranked.
        k_values: Cut-offs K.

    Returns:
        Flat mapping ``"<metric>@K"`` to float (means over users).
    """
    return mean_metrics(ranking_metrics_per_user_from_ranks(ranks, k_values))


# --------------------------------------------------------------------------------------------
# evaluate.Metric
# --------------------------------------------------------------------------------------------


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RankingMetrics(evaluate.Metric):
    """Top-K recall, NDCG, MRR, hit rate and precision as an ``evaluate.Metric``.

    Inputs are ``predictions`` (per user, ranked recommended item ids, best first) and
    ``references`` (per user, relevant item ids); ``compute`` accepts ``k_values``.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(
        self,
        predictions: Sequence[Sequence[int]],
        references: Sequence[Sequence[int]],
        k_values: int | Iterable[int] = DEFAULT_K_VALUES,
    ) -> dict[str, float]:
        """Mean top-K metrics over users.

        Args:
            predictions: ``n_users`` ranked lists of recommended item ids.
            references: ``n_users`` non-empty lists of relevant item ids.
            k_values: Cut-offs K.

        Returns:
            Flat mapping ``"<metric>@K"`` to float.
        """
        return compute_ranking_metrics(predictions, references, k_values)
