"""Next-item losses over the item catalogue.

Every model computes its training loss through :func:`item_loss`, so the loss is chosen by the
model config (``config.loss``) and recorded with the run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

LOSSES = ("ce",)


def item_loss(
    queries: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, config: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss of predicting ``targets`` from ``queries`` against the item matrix.

    Args:
        queries: ``(n, hidden)`` query vectors at the labelled positions.
        items: ``(num_items, hidden)`` item embeddings (the tied output layer).
        targets: ``(n,)`` item indices (``0 .. num_items - 1``).
        config: The model config; ``config.loss`` names the loss (default ``"ce"``).

    Returns:
        ``(scalar loss, logits)``; logits are ``(n, num_items)`` for the full cross-entropy and
        may be ``None`` for sampled losses.
    """
    name = getattr(config, "loss", "ce")
    if name != "ce":
        raise ValueError(f"unknown loss '{name}'; expected one of {', '.join(LOSSES)}")
    logits = queries @ items.T
    return F.cross_entropy(logits.float(), targets), logits
