"""Dropout with a cheaper random mask on the CPU, and attention that uses it.

Training a small sequence model on a CPU spends a fifth of each step drawing dropout masks
(``aten::bernoulli_``, measured by ``scripts/profile_training_step.py`` on MovieLens-100K):
torch draws one random number per element, and once attention dropout is on, its fused
attention kernel falls back to a path that materialises every ``(batch, heads, length, length)``
attention weight and its mask. Here a mask element costs a quarter of a 64-bit draw instead: the
draws are read as 16-bit integers and compared with a threshold, so an element is dropped with
probability ``round(p · 65536) / 65536`` (within 1/131072 of ``p``), independently of every
other element, as with :func:`torch.nn.functional.dropout`. The kept elements are scaled by
``1 / (1 - p)``. Only the random stream differs from torch's, so a seed gives other masks
than torch's dropout would, drawn from the same distribution.

On other devices (CUDA draws masks cheaply) and outside training both functions are torch's
own: :func:`apply_dropout` is :func:`torch.nn.functional.dropout`, :func:`attention_forward` is
transformers' SDPA attention.
"""

from __future__ import annotations

import torch
from torch import nn

#: The 16-bit integers a mask draws: one of 65536 values, uniformly.
_LEVELS = 1 << 16


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu"
              ) -> torch.Tensor:
    """A boolean mask of ``shape``, False (drop) with probability ``round(p · 65536) / 65536``.

    Args:
        shape: The mask's shape.
        p: The drop probability, in ``[0, 1)``.
        device: Where to draw it.

    Returns:
        ``shape`` booleans, independent of each other.
    """
    count = 1
    for size in shape:
        count *= size
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device)
    # The full 64-bit range: each word gives four uniform, independent 16-bit integers.
    words.random_(-(1 << 63), (1 << 63) - 1)
    threshold = round(p * _LEVELS) - _LEVELS // 2
    return words.view(torch.int16)[:count].view(shape) >= threshold


def _keep_factors(reference: torch.Tensor, p: float, scale: float) -> torch.Tensor:
    """``scale`` where :func:`keep_mask` keeps, 0 where it drops, in ``reference``'s shape and
    dtype: multiplying by it is one pass forward and one backward (cheaper on the CPU than
    ``masked_fill`` or ``where``, which copy or broadcast a scalar)."""
    factors = keep_mask(reference.shape, p, reference.device).to(reference.dtype)
    return factors.mul_(scale) if scale != 1.0 else factors


def apply_dropout(hidden: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: each element zeroed with probability ``p``, the rest scaled by
    ``1 / (1 - p)``; the mask from :func:`keep_mask` on the CPU, torch's elsewhere.

    Args:
        hidden: Any shape.
        p: The drop probability, in ``[0, 1)``.
        training: Apply it (as ``nn.Dropout`` in training mode); the input as it is otherwise.

    Returns:
        ``hidden``'s shape.
    """
    if not training or p == 0.0:
        return hidden
    if hidden.device.type != "cpu":
        return nn.functional.dropout(hidden, p, training=True)
    return hidden * _keep_factors(hidden, p, 1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same ``p``; ``inplace`` ignored) with :func:`apply_dropout`'s mask."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden`` with dropout in training mode, unchanged otherwise."""
        return apply_dropout(hidden, self.p, self.training)


def use_cheap_dropout(model: nn.Module) -> nn.Module:
    """Make every ``nn.Dropout`` module of ``model`` a :class:`Dropout` (in place).

    Dropout has no weights, so checkpoints are unchanged.

    Args:
        model: Any module.

    Returns:
        ``model``.
    """
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = Dropout
    return model


def attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                      value: torch.Tensor, attention_mask: torch.Tensor | None,
                      dropout: float = 0.0, scaling: float | None = None,
                      is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """Scaled dot-product attention, with :func:`apply_dropout` on its weights on the CPU.

    The signature of transformers' attention functions (``ALL_ATTENTION_FUNCTIONS``). Without
    dropout, or off the CPU, it is transformers' SDPA attention; with dropout on the CPU it
    computes ``softmax(q kᵀ · scaling + mask)``, drops weights with :func:`keep_mask` and
    multiplies by ``v``, as torch's SDPA does on that path with its own mask.

    Args:
        module: The attention module (its ``is_causal`` is read when ``is_causal`` is None).
        query: ``(batch, heads, q_length, head_dim)``.
        key: ``(batch, heads, k_length, head_dim)``.
        value: ``(batch, heads, k_length, head_dim)``.
        attention_mask: Boolean (True attends) or additive, broadcastable to
            ``(batch, heads, q_length, k_length)``; None for none (or causal, see above).
        dropout: Dropout on the attention weights.
        scaling: The score scale (default ``head_dim ** -0.5``).
        is_causal: Mask keys after each query when no mask is given.
        **kwargs: Passed to SDPA attention where it is used.

    Returns:
        ``(batch, q_length, heads, head_dim)`` and None (no weights returned).
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0.0 or query.device.type != "cpu":
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, is_causal=is_causal,
                                      **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    # The scales go on the small (length, head_dim) operands, not on the (length, length)
    # weights; the masks are applied in place or in one pass (the matrix product's output is
    # not needed by its backward).
    scores = torch.matmul(query * scale, key.transpose(-1, -2))
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, float("-inf"))
        else:
            scores = scores + attention_mask
    else:
        causal = is_causal if is_causal is not None else getattr(module, "is_causal", False)
        q_length, k_length = scores.shape[-2:]
        if causal and q_length > 1:
            later = torch.ones(q_length, k_length, dtype=torch.bool,
                               device=scores.device).triu(1)
            scores.masked_fill_(later, float("-inf"))
    weights = scores.softmax(dim=-1)
    weights = weights * _keep_factors(weights, dropout, 1.0)
    context = torch.matmul(weights, value * (1.0 / (1.0 - dropout)))
    return context.transpose(1, 2).contiguous(), None
