"""Next-item losses over the item catalogue.

Every model computes its training loss through :func:`item_loss`, so the loss is chosen by the
model config (``config.loss``) and recorded with the run. Three losses are available (formulas
and advice in ``docs/losses.md``):

* ``"ce"``: full-softmax cross-entropy over all ``V`` items; memory ``n × V``, or blocks of
  ``CE_CHUNK_ELEMENTS`` logits for training batches above ``CE_CHUNK_THRESHOLD`` (the softmax
  kept for the backward pass up to ``CE_KEEP_ELEMENTS``).
* ``"sampled_softmax"``: softmax over the target and ``K`` negatives shared by the batch, each
  logit corrected by ``-log Q(item)`` (Bengio & Senécal; Yi et al., RecSys 2019); memory
  ``n × K``.
* ``"gbce"``: generalised binary cross-entropy of gSASRec (Petrov & Macdonald, RecSys 2023) on
  the target and ``K`` negatives; memory ``n × K``.

Negatives (``config.negative_sampling``) are drawn uniformly over the catalogue, by popularity
(``item_log_probs``) or from the targets of the batch itself (``"in-batch"``). A negative equal
to a row's own target (an "accidental hit") is masked out of that row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

LOSSES = ("ce", "sampled_softmax", "gbce")
NEGATIVE_SAMPLING = ("uniform", "popularity", "in-batch")

#: Full cross-entropy over more logits than this (rows × items, with gradients recorded and no
#: autocast) is computed in blocks of about ``CE_CHUNK_ELEMENTS`` logits and returns no logits
#: (:mod:`recsft.modeling.chunked_ce`): 2^25 float32 logits are 128 MiB.
CE_CHUNK_THRESHOLD = 2**25
CE_CHUNK_ELEMENTS = 2**24
#: Up to this many logits, the block-by-block cross-entropy keeps the ``n × V`` softmax for
#: the backward pass (one tensor, 1 GiB in float32 at most) instead of computing every block's
#: logits again (``scripts/benchmark_softmax_loss.py``; docs/losses.md).
CE_KEEP_ELEMENTS = 2**28

# Floor for log Q: a target that the sampler can never draw (Q = 0) would otherwise get an
# infinite corrected logit and a NaN loss. exp(-80) is far below any real sampling probability.
_MIN_LOG_Q = -80.0


@dataclass
class NegativeSample:
    """Negatives shared by all rows of a batch and their sampling log-probabilities.

    Attributes:
        ids: ``(K,)`` item indices of the negatives (repeats possible).
        log_q: ``(K,)`` log Q of each negative: the probability that one draw yields that item.
        target_log_q: ``(n,)`` log Q of each row's target under the same distribution.
    """

    ids: torch.Tensor
    log_q: torch.Tensor
    target_log_q: torch.Tensor


def _chunk_the_softmax(queries: torch.Tensor, items: torch.Tensor) -> bool:
    """Whether the full cross-entropy of this batch goes block by block: a large batch in
    training, outside autocast (whose dtype choices the blocks would not follow)."""
    return (torch.is_grad_enabled()
            and queries.shape[0] * items.shape[0] > CE_CHUNK_THRESHOLD
            and not torch.is_autocast_enabled(queries.device.type))


def _check_choice(kind: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        raise ValueError(f"unknown {kind} {name!r}; expected one of {', '.join(choices)}")


def popularity_log_probs(
    counts: torch.Tensor, alpha: float = 1.0, smoothing: float = 1.0
) -> torch.Tensor:
    """Log sampling probabilities ``log q_i`` with ``q_i ∝ (count_i + smoothing) ** alpha``.

    Meant for the ``item_log_probs`` buffer a model passes to :func:`item_loss` with
    ``negative_sampling="popularity"``. ``alpha = 1`` samples in proportion to popularity,
    ``alpha = 0`` uniformly; word2vec's ``0.75`` is in between.

    Args:
        counts: ``(V,)`` non-negative interaction counts per item (training data only).
        alpha: Exponent applied to the smoothed counts.
        smoothing: Added to every count, so that items unseen in training keep a non-zero
            probability (and a finite logQ correction).

    Returns:
        ``(V,)`` float32 log-probabilities that sum (after ``exp``) to 1.
    """
    weights = (counts.double() + smoothing).clamp_min(0.0)
    log_w = alpha * weights.log()
    return (log_w - torch.logsumexp(log_w, 0)).float()


def sample_negatives(
    num_negatives: int,
    num_items: int,
    targets: torch.Tensor,
    method: str = "uniform",
    item_log_probs: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> NegativeSample:
    """Draw ``K`` negatives shared by the whole batch, with replacement.

    * ``"uniform"``: ``K`` items uniformly from ``0 .. V - 1``; ``Q(i) = 1 / V``.
    * ``"popularity"``: ``K`` items from ``q = softmax(item_log_probs)`` (``torch.multinomial``,
      a few milliseconds for ``V = 1e6``); ``Q(i) = q_i``.
    * ``"in-batch"``: the targets of ``min(K, n)`` positions of the batch, drawn without
      replacement (all of them when ``K >= n``), i.e. draws from the batch's empirical target
      distribution; ``Q(i) = count_i / n`` over the batch targets, or ``q_i`` from
      ``item_log_probs`` when given (a smoother estimate of the same popularity).

    Args:
        num_negatives: ``K``, the number of negatives (at most ``n`` are used for in-batch).
        num_items: ``V``, the catalogue size.
        targets: ``(n,)`` item indices of the batch's targets.
        method: One of :data:`NEGATIVE_SAMPLING`.
        item_log_probs: ``(V,)`` log sampling weights (normalised here); required for
            ``"popularity"``.
        generator: Optional RNG for reproducible draws, on the device of ``targets`` (and of
            ``item_log_probs`` for popularity sampling); the global RNG otherwise.

    Returns:
        The :class:`NegativeSample` (ids ``(K,)``, their ``log Q`` ``(K,)``, and the targets'
        ``log Q`` ``(n,)``).

    Raises:
        ValueError: On an unknown ``method``, ``num_negatives < 1``, or popularity sampling
            without ``item_log_probs``.
    """
    _check_choice("negative_sampling", method, NEGATIVE_SAMPLING)
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
    device = targets.device
    log_probs = None
    if item_log_probs is not None:
        if item_log_probs.shape != (num_items,):
            raise ValueError(
                f"item_log_probs must have shape ({num_items},), got {tuple(item_log_probs.shape)}"
            )
        log_probs = item_log_probs.float()
        log_probs = (log_probs - torch.logsumexp(log_probs, 0)).clamp_min(_MIN_LOG_Q)

    if method == "uniform":
        ids = torch.randint(num_items, (num_negatives,), generator=generator, device=device)
        log_q = torch.full((num_negatives,), -math.log(num_items), device=device)
        target_log_q = torch.full(targets.shape, -math.log(num_items), device=device)
        return NegativeSample(ids, log_q, target_log_q)

    if method == "popularity":
        if log_probs is None:
            raise ValueError(
                "negative_sampling='popularity' needs item_log_probs (the (num_items,) log "
                "sampling probabilities, e.g. popularity_log_probs(train_counts))"
            )
        weights = (log_probs - log_probs.max()).exp()
        ids = torch.multinomial(weights, num_negatives, replacement=True, generator=generator)
        ids = ids.to(device)
        log_probs = log_probs.to(device)
        return NegativeSample(ids, log_probs[ids], log_probs[targets])

    # in-batch
    n = targets.shape[0]
    if num_negatives >= n:
        positions = torch.arange(n, device=device)
    else:
        positions = torch.randperm(n, generator=generator, device=device)[:num_negatives]
    ids = targets[positions]
    if log_probs is not None:
        log_probs = log_probs.to(device)
        return NegativeSample(ids, log_probs[ids], log_probs[targets])
    _, inverse, counts = torch.unique(targets, return_inverse=True, return_counts=True)
    target_log_q = (counts[inverse].float() / n).log()
    return NegativeSample(ids, target_log_q[positions], target_log_q)


def _candidate_scores(
    queries: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores of each row's target and of the shared negatives; never forms ``n × V``.

    Returns:
        ``(positive (n,), negative (n, K), hits (n, K))`` with float32 scores and ``hits`` true
        where a negative is the row's own target.
    """
    # One gather, so that the backward builds a single dense (V, d) gradient for ``items``.
    candidates = items[torch.cat([targets, negatives])]  # (n + K, d)
    n = targets.shape[0]
    positive = (queries * candidates[:n]).sum(-1).float()
    negative = (queries @ candidates[n:].T).float()
    hits = negatives[None, :] == targets[:, None]
    return positive, negative, hits


def sampled_softmax_logits(
    queries: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    negative_log_q: torch.Tensor | None = None,
    target_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """LogQ-corrected logits of the target (column 0) and of ``K`` shared negatives.

    For row ``r`` with target ``t_r`` and negatives ``j_1 .. j_K``::

        o[r, 0] = s(r, t_r) - log Q(t_r)
        o[r, k] = s(r, j_k) - log Q(j_k)     (-inf where j_k == t_r: accidental hit)

    with ``s(r, i) = queries[r] · items[i]``. A ``None`` log Q leaves those logits uncorrected.

    Args:
        queries: ``(n, d)`` query vectors.
        items: ``(V, d)`` item embeddings.
        targets: ``(n,)`` target item indices.
        negatives: ``(K,)`` negative item indices shared by all rows.
        negative_log_q: ``(K,)`` log sampling probability of each negative, or ``None``.
        target_log_q: ``(n,)`` log sampling probability of each target, or ``None``.

    Returns:
        ``(n, 1 + K)`` float32 logits; the target is class 0.
    """
    positive, negative, hits = _candidate_scores(queries, items, targets, negatives)
    if target_log_q is not None:
        positive = positive - target_log_q.float()
    if negative_log_q is not None:
        negative = negative - negative_log_q.float()[None, :]
    negative = negative.masked_fill(hits, float("-inf"))
    return torch.cat([positive[:, None], negative], dim=1)


def sampled_softmax_loss(
    queries: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    negative_log_q: torch.Tensor | None = None,
    target_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of the target among the logQ-corrected candidates.

    ``L = mean_r [ -o[r, 0] + logsumexp_k o[r, k] ]`` over the logits of
    :func:`sampled_softmax_logits`. With ``Q`` uniform the correction is one constant per row and
    cancels; with ``negatives = arange(V)`` and uniform ``Q`` the loss is exactly the full
    cross-entropy.

    Args:
        queries: ``(n, d)`` query vectors.
        items: ``(V, d)`` item embeddings.
        targets: ``(n,)`` target item indices.
        negatives: ``(K,)`` negative item indices shared by all rows.
        negative_log_q: ``(K,)`` log Q of the negatives, or ``None`` (no correction).
        target_log_q: ``(n,)`` log Q of the targets, or ``None`` (no correction).

    Returns:
        Scalar loss.
    """
    logits = sampled_softmax_logits(
        queries, items, targets, negatives, negative_log_q, target_log_q
    )
    zeros = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, zeros)


def gbce_beta(num_negatives: int, num_items: int, t: float) -> float:
    """The gBCE exponent ``β = α (t (1 - 1/α) + 1/α) = 1 - t (1 - α)``.

    Args:
        num_negatives: ``K`` negatives per positive.
        num_items: ``V``, the catalogue size.
        t: Calibration parameter in ``[0, 1]``: ``0`` gives ``β = 1`` (plain BCE), ``1`` gives
            ``β = α``.

    Returns:
        ``β``, with the sampling rate ``α = K / (V - 1)`` capped at 1.
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"gbce_t must be in [0, 1], got {t}")
    alpha = min(1.0, num_negatives / max(num_items - 1, 1))
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce_loss(
    queries: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Generalised binary cross-entropy (gSASRec) with shared negatives.

    ``L = mean_r 1/(K+1) [ -β log σ(s⁺_r) - Σ_k log(1 - σ(s_rk)) ]`` where accidental hits
    (``j_k == t_r``) are left out of the sum (the ``1/(K+1)`` normaliser stays fixed).

    Args:
        queries: ``(n, d)`` query vectors.
        items: ``(V, d)`` item embeddings.
        targets: ``(n,)`` target item indices.
        negatives: ``(K,)`` negative item indices shared by all rows.
        beta: Exponent of ``σ(s⁺)`` (see :func:`gbce_beta`); ``1`` is plain BCE.

    Returns:
        Scalar loss.
    """
    positive, negative, hits = _candidate_scores(queries, items, targets, negatives)
    positive_term = -beta * F.logsigmoid(positive)  # -log σ(s⁺)^β
    negative_terms = (-F.logsigmoid(-negative)).masked_fill(hits, 0.0)  # -log(1 - σ(s⁻))
    per_row = (positive_term + negative_terms.sum(1)) / (negatives.shape[0] + 1)
    return per_row.mean()


def item_loss(
    queries: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    config: Any,
    *,
    item_log_probs: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss of predicting ``targets`` from ``queries`` against the item matrix.

    Config attributes read (missing ones take the default):

    * ``loss``: ``"ce"`` (default), ``"sampled_softmax"`` or ``"gbce"``.
    * ``num_negatives`` (``256``): ``K`` negatives shared by the batch (sampled losses only).
    * ``negative_sampling`` (``"uniform"``): ``"uniform"``, ``"popularity"`` or ``"in-batch"``.
    * ``gbce_t`` (``0.75``): calibration parameter ``t`` of gBCE.

    Sampled softmax (negatives ``j_1 .. j_K ~ Q``, shared by all rows)::

        o_r0 = s(r, t_r) - log Q(t_r)
        o_rk = s(r, j_k) - log Q(j_k), or -inf where j_k == t_r (accidental hit)
        L = mean_r [ -o_r0 + log Σ_{k=0..K} exp(o_rk) ]

    gBCE (``α = K / (V - 1)``, ``β = α (t (1 - 1/α) + 1/α)``)::

        L = mean_r 1/(K+1) [ -β log σ(s(r,t_r)) - Σ_{k: j_k ≠ t_r} log(1 - σ(s(r,j_k))) ]

    ``Q`` is the sampling distribution of the negatives (uniform ``1 / V``, whose shift cancels;
    popularity; or the batch's target frequencies) and ``K`` the number of negatives drawn
    (``min(K, n)`` for in-batch). Sampled losses use ``n × K`` memory (never ``n × V``) and
    return no logits. Details and advice: ``docs/losses.md``.

    Args:
        queries: ``(n, hidden)`` query vectors at the labelled positions.
        items: ``(num_items, hidden)`` item embeddings (the tied output layer).
        targets: ``(n,)`` item indices (``0 .. num_items - 1``).
        config: The model config (attributes above).
        item_log_probs: ``(num_items,)`` log sampling probabilities (normalised here), e.g.
            :func:`popularity_log_probs` of the training counts; required for
            ``negative_sampling="popularity"``, and used as ``Q`` for ``"in-batch"`` when given.
        generator: Optional RNG for the negatives (on the device of ``targets``); the global RNG
            otherwise.

    Returns:
        ``(scalar loss, logits)``; logits are ``(n, num_items)`` for the full cross-entropy and
        ``None`` for the sampled losses and for full cross-entropy computed in blocks (more
        than ``CE_CHUNK_THRESHOLD`` logits while gradients are recorded).

    Raises:
        ValueError: On an unknown ``loss`` or ``negative_sampling`` name (the message lists the
            choices), ``num_negatives < 1``, ``gbce_t`` outside ``[0, 1]``, or popularity
            sampling without ``item_log_probs``.
    """
    name = getattr(config, "loss", "ce")
    _check_choice("loss", name, LOSSES)
    if name == "ce":
        if _chunk_the_softmax(queries, items):
            from recsft.modeling.chunked_ce import chunked_cross_entropy

            chunk_rows = max(1, CE_CHUNK_ELEMENTS // items.shape[0])
            keep = queries.shape[0] * items.shape[0] <= CE_KEEP_ELEMENTS
            return chunked_cross_entropy(queries, items, targets, chunk_rows, keep), None
        logits = queries @ items.T
        return F.cross_entropy(logits.float(), targets), logits

    method = getattr(config, "negative_sampling", "uniform")
    _check_choice("negative_sampling", method, NEGATIVE_SAMPLING)
    num_items = items.shape[0]
    sample = sample_negatives(
        int(getattr(config, "num_negatives", 256)),
        num_items,
        targets,
        method=method,
        item_log_probs=item_log_probs,
        generator=generator,
    )
    if name == "sampled_softmax":
        loss = sampled_softmax_loss(
            queries, items, targets, sample.ids, sample.log_q, sample.target_log_q
        )
        return loss, None
    beta = gbce_beta(sample.ids.shape[0], num_items, float(getattr(config, "gbce_t", 0.75)))
    return gbce_loss(queries, items, targets, sample.ids, beta), None
