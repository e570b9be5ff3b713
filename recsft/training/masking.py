"""Batch padding and the Cloze masking, as two steps.

Accelerate's data loader prepares one batch ahead, so random masking done inside the
``collate_fn`` would consume random numbers before a checkpoint is written and differ after a
resume. The trainer therefore collates with :class:`PadCollator` (no randomness) and applies
:class:`ClozeMasking` to each batch right before the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from recsft.tokenization import MASK, NO_GAP, SPECIAL_TOKENS, pad_left


def newest(features: list[dict[str, Any]], key: str, keep: int | None) -> list[list[int]] | None:
    """Each feature's ``key`` list cut to its newest ``keep`` entries (``None`` if absent)."""
    if not features or key not in features[0]:
        return None
    return [list(f[key])[-keep:] if keep else list(f[key]) for f in features]


@dataclass
class PadCollator:
    """Left-pads ``input_ids`` / ``token_type_ids`` (and ``time_gap_ids`` when the features have
    them) and keeps the newest ``max_length`` tokens.

    Returns ``input_ids``, ``token_type_ids``, ``attention_mask`` (and ``time_gap_ids``), each
    of shape ``(B, L)``.
    """

    pad_token_id: int = 0
    max_length: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        cut = self.max_length
        return pad_left(newest(features, "input_ids", cut), newest(features, "token_type_ids", cut),
                        pad_id=self.pad_token_id, return_tensors="pt",
                        time_gaps=newest(features, "time_gap_ids", cut))


@dataclass
class ClozeMasking:
    """Masks items of a padded batch for the Cloze (masked-item) objective.

    Each real position is masked with probability ``mask_prob`` (at least one per sequence);
    with probability ``last_item_mask_prob`` a sequence instead masks only its newest item, the
    task at inference time. Masked positions get ``[MASK]`` as item and as event type, "no gap"
    as time gap (an appended ``[MASK]`` at inference has no known time), and their original item
    id as label; other labels are ``-100``.
    """

    mask_token_id: int
    mask_prob: float = 0.2
    last_item_mask_prob: float = 0.1

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Add ``labels`` and mask ``input_ids`` / ``token_type_ids``; shapes ``(B, L)``."""
        ids = batch["input_ids"]
        real = batch["attention_mask"].bool()
        masked = (torch.rand(real.shape, device=ids.device) < self.mask_prob) & real
        only_last = torch.rand(real.shape[0], device=ids.device) < self.last_item_mask_prob
        masked[only_last] = False
        none = ~masked.any(dim=1)
        masked[only_last | none, -1] = True
        masked &= real
        out = {} if "time_gap_ids" not in batch else {
            "time_gap_ids": batch["time_gap_ids"].masked_fill(masked, NO_GAP)
        }
        return {
            **batch,
            **out,
            "labels": torch.where(masked, ids, torch.full_like(ids, -100)),
            "input_ids": ids.masked_fill(masked, self.mask_token_id),
            "token_type_ids": batch["token_type_ids"].masked_fill(
                masked, SPECIAL_TOKENS.index(MASK)
            ),
        }
