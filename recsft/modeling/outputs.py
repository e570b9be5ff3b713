"""Typed model outputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class MaskedItemOutput(ModelOutput):
    """Output of a masked-item (Cloze) sequence model.

    Attributes:
        loss: Mean cross-entropy over the labelled positions, when ``labels`` were given.
        logits: Scores over the item catalogue, ``(n_labelled, num_items)`` when ``labels`` were
            given (only labelled positions are scored), else ``None``.
        last_hidden_state: Encoder output, ``(batch, length, hidden)``.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
