"""Full-softmax cross-entropy computed a block of rows at a time, never as a whole ``n × V``.

A causal model trained on windows scores every position: a batch of 256 windows of up to 50
events can hold 11,567 labelled positions (Amazon Beauty), whose logits over 12,101 items take
560 MB, and autograd keeps two or three tensors of that size (logits, log-softmax, their
gradient). :func:`chunked_cross_entropy` gives the same loss and gradients while holding one
block of ``chunk_rows × V`` logits at a time: the forward pass keeps only each row's
log-sum-exp, and the backward pass computes every block's logits again (one more
``(rows, d) × (d, V)`` product) to form ``softmax − one-hot``.

Example:
    >>> loss = chunked_cross_entropy(queries, items, targets, chunk_rows=1024)
    >>> loss.backward()   # same gradients as F.cross_entropy(queries @ items.T, targets)
"""

from __future__ import annotations

import torch


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``queries @ items.T`` against ``targets``, block by block."""

    @staticmethod
    def forward(ctx, queries: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                chunk_rows: int, keep_probabilities: bool) -> torch.Tensor:
        rows = queries.shape[0]
        total = torch.zeros((), dtype=torch.float32, device=queries.device)
        if keep_probabilities:
            probs = torch.empty(rows, items.shape[0], dtype=queries.dtype,
                                device=queries.device)
        else:
            log_norm = torch.empty(rows, dtype=torch.float32, device=queries.device)
        for start in range(0, rows, chunk_rows):
            stop = start + chunk_rows
            logits = (queries[start:stop] @ items.T).float()
            if keep_probabilities:
                log_probs = logits.log_softmax(dim=1)
                total -= log_probs.gather(1, targets[start:stop, None]).sum()
                probs[start:stop] = log_probs.exp_()
            else:
                log_norm[start:stop] = torch.logsumexp(logits, dim=1)
                target_logits = logits.gather(1, targets[start:stop, None])[:, 0]
                total += (log_norm[start:stop] - target_logits).sum()
        ctx.save_for_backward(queries, items, targets,
                              probs if keep_probabilities else log_norm)
        ctx.chunk_rows, ctx.keep_probabilities = chunk_rows, keep_probabilities
        return total / rows

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        queries, items, targets, saved = ctx.saved_tensors
        rows = queries.shape[0]
        scale = grad_output.float() / rows
        if ctx.keep_probabilities:
            return (*_kept_gradients(ctx, queries, items, targets, saved, scale), None, None,
                    None)
        grad_queries = torch.empty_like(queries) if ctx.needs_input_grad[0] else None
        grad_items = torch.zeros_like(items) if ctx.needs_input_grad[1] else None
        for start in range(0, rows, ctx.chunk_rows):
            stop = start + ctx.chunk_rows
            block = queries[start:stop]
            # d loss / d logits = (softmax - one-hot) / rows, for this block of rows, in place.
            probs = (block @ items.T).float()
            probs.sub_(saved[start:stop, None]).exp_()
            picked = torch.arange(block.shape[0], device=block.device)
            probs[picked, targets[start:stop]] -= 1.0
            probs = probs.mul_(scale).to(queries.dtype)
            if grad_queries is not None:
                grad_queries[start:stop] = probs @ items
            if grad_items is not None:
                grad_items += probs.T @ block
        return grad_queries, grad_items, None, None, None


def _kept_gradients(ctx, queries: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                    probs: torch.Tensor, scale: torch.Tensor) -> tuple:
    """The gradients from the kept ``(n, V)`` probabilities ``P``, never changing them (a
    graph kept with ``retain_graph`` can run backward again): ``(P Y − Y[t]) · s`` for the
    queries and ``(Pᵀ Q − Σ_rows one-hot(t)ᵀ Q) · s`` for the items, the one-hot part as an
    ``index_add`` of ``n`` rows instead of a pass over ``n × V``."""
    grad_queries = grad_items = None
    scale = scale.to(queries.dtype)
    if ctx.needs_input_grad[0]:
        grad_queries = (probs @ items).sub_(items[targets]).mul_(scale)
    if ctx.needs_input_grad[1]:
        grad_items = (probs.T @ queries).index_add_(0, targets, queries, alpha=-1).mul_(scale)
    return grad_queries, grad_items


def chunked_cross_entropy(queries: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                          chunk_rows: int, keep_probabilities: bool = False) -> torch.Tensor:
    """Mean full-softmax cross-entropy, ``chunk_rows`` rows of logits at a time.

    Equal to ``F.cross_entropy(queries @ items.T, targets)`` (to float rounding), with
    gradients for ``queries`` and ``items``; peak memory ``chunk_rows × V`` instead of a few
    times ``n × V``, or with ``keep_probabilities`` one ``n × V`` tensor (the softmax, kept for
    the backward pass, which then computes no logits again: one matrix product fewer, and no
    pass over ``n × V`` for the one-hot targets or the scale).

    Args:
        queries: ``(n, d)`` query vectors.
        items: ``(V, d)`` item vectors (the tied output layer).
        targets: ``(n,)`` item indices in ``0 .. V - 1``.
        chunk_rows: Rows of logits computed at once (at least 1).
        keep_probabilities: Keep the ``(n, V)`` softmax (in ``queries``' dtype) for the
            backward pass instead of each row's log-sum-exp.

    Returns:
        The scalar mean loss (float32).

    Raises:
        ValueError: ``chunk_rows < 1`` or no rows.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if queries.shape[0] == 0:
        raise ValueError("chunked_cross_entropy needs at least one row")
    return _ChunkedCrossEntropy.apply(queries, items, targets, chunk_rows, keep_probabilities)
