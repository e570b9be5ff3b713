"""A classification head on a (pretrained) sequence encoder.

:class:`SequenceClassifier` pools the encoder's hidden states into one vector per user and maps
it to class logits. Pooling choices:

* ``query``: the model's own user vector (``encode_sequences``): the appended ``[MASK]`` of
  BERT4Rec (the [CLS]-like summary position), the newest event of SASRec, the last state of a
  recurrent model. The vector the encoder was pretrained to produce.
* ``mean``: the mean of the hidden states over real positions.
* ``attention``: a learned softmax over real positions (one score per state).

The encoder is any recsft sequence model (``encode`` returns ``(batch, length, hidden)``);
it can be frozen or trained with its own learning rate (see
:mod:`recsft.tasks.finetune`).
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn

__all__ = ["POOLINGS", "SequenceClassifier", "HEAD_FILE", "TASK_FILE"]

POOLINGS: tuple[str, ...] = ("query", "mean", "attention")
HEAD_FILE = "head.safetensors"
TASK_FILE = "task.json"


class SequenceClassifier(nn.Module):
    """Encoder → pooling → dropout → linear head.

    Args:
        encoder: A recsft sequence model (``encode``, ``encode_sequences``, ``config``).
        num_classes: Output classes.
        pooling: One of :data:`POOLINGS`.
        dropout: Dropout before the head.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, pooling: str = "query",
                 dropout: float = 0.1) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {list(POOLINGS)}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.encoder = encoder
        self.pooling = pooling
        self.num_classes = num_classes
        width = self._width()
        self.attention = nn.Linear(width, 1) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def _width(self) -> int:
        """Size of the pooled vector: the user-vector size for ``query``, else the states'."""
        config = self.encoder.config
        if self.pooling == "query":
            return int(self.encoder.item_embeddings().shape[1])
        return int(config.hidden_size)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the encoder (the head and the attention pooling)."""
        return [p for name, p in self.named_parameters() if not name.startswith("encoder.")]

    def pool(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
             attention_mask: torch.Tensor | None = None,
             time_gap_ids: torch.Tensor | None = None) -> torch.Tensor:
        """One vector per sequence, ``(batch, width)``."""
        if attention_mask is None:
            attention_mask = (input_ids != self.encoder.config.pad_token_id).long()
        if self.pooling == "query":
            return self.encoder.encode_sequences(input_ids, token_type_ids, attention_mask,
                                                 time_gap_ids)
        states = self.encoder.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        real = attention_mask.bool()
        if self.pooling == "mean":
            weights = real.to(states.dtype)
            return (states * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp(
                min=1.0)
        scores = self.attention(states).squeeze(-1).masked_fill(~real, torch.finfo(
            states.dtype).min)
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * states).sum(1)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None,
                time_gap_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Class logits ``(batch, num_classes)`` and, given ``labels`` ``(batch,)``, the
        cross-entropy ``loss``."""
        logits = self.head(self.dropout(self.pool(input_ids, token_type_ids, attention_mask,
                                                  time_gap_ids)))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out

    def save_pretrained(self, directory: str, task: dict) -> None:
        """The encoder (``save_pretrained``), the head (safetensors) and ``task.json``."""
        from safetensors.torch import save_file

        from recsft.fileio import atomic_write_text

        self.encoder.save_pretrained(directory)
        head = {name: p.detach().cpu().contiguous() for name, p in self.state_dict().items()
                if not name.startswith("encoder.")}
        save_file(head, os.path.join(directory, HEAD_FILE))
        payload = {**task, "pooling": self.pooling, "num_classes": self.num_classes}
        atomic_write_text(os.path.join(directory, TASK_FILE), json.dumps(payload, indent=2))

    @classmethod
    def from_pretrained(cls, directory: str) -> tuple[SequenceClassifier, dict]:
        """Load a classifier saved by :meth:`save_pretrained` and its task record."""
        from safetensors.torch import load_file

        from recsft.modeling.factory import load_model

        with open(os.path.join(directory, TASK_FILE)) as handle:
            task = json.load(handle)
        model = cls(load_model(directory), task["num_classes"], task["pooling"])
        path = os.path.join(directory, HEAD_FILE)
        missing, unexpected = model.load_state_dict(load_file(path), strict=False)
        absent = [name for name in missing if not name.startswith("encoder.")]
        if absent or unexpected:
            raise ValueError(f"{path} does not fit a {task['pooling']!r}-pooled classifier: "
                             f"missing {absent}, unexpected {unexpected}")
        return model.eval(), task
