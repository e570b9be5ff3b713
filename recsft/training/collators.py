"""Batch builders for training.

The training sequences are the model's inputs by the one rule of
:func:`recsft.scoring.inputs.model_inputs` with ``use="train"``: each user's newest
``max_position_embeddings`` events for the Cloze models (masked here), one more for the causal
ones (inputs and next-item labels, split here). The collators cut to the same lengths, so that a
sequence that reaches them longer still (a dataset built another way) is read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from recsft.tokenization import pad_left
from recsft.training.masking import ClozeMasking, PadCollator, newest


@dataclass
class ClozeCollator:
    """Left-pads sequences and masks items for the Cloze (masked-item) objective.

    Each real position is masked with probability ``mask_prob`` (at least one per sequence);
    with probability ``last_item_mask_prob`` a sequence instead masks only its newest item,
    which is exactly the task at inference time. Masked positions get ``[MASK]`` as item and as
    event type, and their original item id as label; all other labels are ``-100``.

    Args:
        mask_token_id: Id of ``[MASK]`` in the item vocabulary.
        pad_token_id: Id of ``[PAD]``.
        mask_prob: Per-position masking probability.
        last_item_mask_prob: Probability of masking only the last item.
        max_length: Keep the newest ``max_length`` tokens of each sequence.
    """

    mask_token_id: int
    pad_token_id: int = 0
    mask_prob: float = 0.2
    last_item_mask_prob: float = 0.1
    max_length: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Build ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels``: ``(B, L)``.

        The padding and the masking are :class:`~recsft.training.masking.PadCollator` and
        :class:`~recsft.training.masking.ClozeMasking`; the trainer applies them as two steps.
        """
        batch = PadCollator(self.pad_token_id, self.max_length)(features)
        return ClozeMasking(self.mask_token_id, self.mask_prob, self.last_item_mask_prob)(batch)


@dataclass
class CausalCollator:
    """Left-pads sequences and shifts them for the causal (next-item) objective of SASRec.

    Each feature is one training sequence, oldest first. The newest ``max_length + 1`` tokens
    are kept; the input is all of them but the newest, the labels all but the oldest, so the
    label at every position is the item that follows it. A sequence of a single token has no
    next item: it is kept as input with no label (an empty one becomes a padding row), so a
    batch never fails and rows stay aligned with the features.

    Args:
        pad_token_id: Id of ``[PAD]``.
        max_length: Longest input (``max_position_embeddings``); ``None`` keeps everything.
    """

    pad_token_id: int = 0
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {self.max_length}")

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Build ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels`` (and
        ``time_gap_ids`` when the features have them): each ``(B, L)``."""
        keep = None if self.max_length is None else self.max_length + 1
        ids = newest(features, "input_ids", keep) or []
        types = newest(features, "token_type_ids", keep) or []
        gaps = newest(features, "time_gap_ids", keep)
        labels = []
        for row, row_ids in enumerate(ids):
            if len(row_ids) < 2:
                labels.append([-100] * len(row_ids))
                continue
            labels.append(row_ids[1:])
            ids[row], types[row] = row_ids[:-1], types[row][:-1]
            if gaps is not None:
                gaps[row] = gaps[row][:-1]
        batch = pad_left(ids, types, pad_id=self.pad_token_id, return_tensors="pt", time_gaps=gaps)
        width = batch["input_ids"].shape[1]
        batch["labels"] = torch.tensor(
            [[-100] * (width - len(row)) + row for row in labels], dtype=torch.long
        ).reshape(len(labels), width)
        return batch


def training_batches(config: Any, tokenizer: Any) -> tuple[Any, ClozeMasking | None]:
    """The collator a run config trains with, and the masking applied to its batches.

    Args:
        config: The :class:`~recsft.config.RunConfig`.
        tokenizer: The run's :class:`~recsft.tokenization.BehaviorTokenizer`.

    Returns:
        ``(collator, masking)``: for the Cloze models a :class:`PadCollator` and the
        :class:`ClozeMasking` of ``training.mask_prob`` / ``last_item_mask_prob`` (applied
        per batch, the loop's ``batch_transform``); for the causal ones a
        :class:`CausalCollator` and ``None``.
    """
    from recsft.modeling.factory import uses_mask_token

    length, training = config.data.max_length, config.training
    if uses_mask_token(config.model.model_type):
        masking = ClozeMasking(mask_token_id=tokenizer.mask_token_id,
                               mask_prob=training.mask_prob,
                               last_item_mask_prob=training.last_item_mask_prob)
        return PadCollator(pad_token_id=tokenizer.pad_token_id, max_length=length), masking
    return CausalCollator(pad_token_id=tokenizer.pad_token_id, max_length=length), None
