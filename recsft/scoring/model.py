"""The scorer of a trained model: its user vectors against its item vectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch

from recsft.scoring.slices import cpu_slices, encode_side_by_side
from recsft.scoring.vectors import VectorScorer

if TYPE_CHECKING:
    from accelerate import Accelerator

T = TypeVar("T")

#: Positions (users × padded length) a model encodes at once on the CPU during evaluation.
CPU_ENCODE_TOKENS = 4096


class ModelScorer(VectorScorer):
    """:class:`VectorScorer` of a model: ``encode_sequences(batch) @ item_embeddings().T``.

    Args:
        model: A recsft model (``encode_sequences``, ``item_embeddings``); put in eval mode.
        accelerator: Unwraps the model first, if given.
    """

    def __init__(self, model: torch.nn.Module, accelerator: Accelerator | None = None) -> None:
        if accelerator is not None:
            model = accelerator.unwrap_model(model)
        from recsft.modeling.packed import packed_projections

        model.eval()
        self.model = model
        with torch.no_grad():
            super().__init__(model.item_embeddings())
        #: The encoder layers' oneDNN-packed linear maps on the CPU (``None`` where they do not
        #: apply; see :mod:`recsft.modeling.packed`), packed once per scorer.
        self.projections = packed_projections(model, rows=CPU_ENCODE_TOKENS)

    def query_vectors(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, hidden)`` float32 user vectors of a batch, on the model's device (see
        :meth:`map_slices` for how the CPU encodes)."""
        vectors = self.map_slices(batch, lambda users, start, stop: users)
        return vectors[0] if len(vectors) == 1 else torch.cat(vectors)

    def map_slices(self, batch: dict[str, torch.Tensor],
                   fn: Callable[[torch.Tensor, int, int], T]) -> list[T]:
        """``fn(users, start, stop)`` of each slice's ``(rows, hidden)`` user vectors.

        On the CPU the batch is encoded in slices of about :data:`CPU_ENCODE_TOKENS` real
        positions (:func:`cpu_slices`), so that a layer's activations stay in cache (1,024 × 50
        positions at once ran 1.7× slower on the project's 2-core machine), each slice cut to
        its own longest history: the left-padding columns no row of the slice uses are dropped
        (positions count back from the newest event, so a row's encoding does not change).
        The slices are encoded side by side, one per core (:func:`encode_side_by_side`), and
        ``fn`` runs in the thread that encoded the slice (the evaluator scores and ranks there);
        transformer layers run on oneDNN-packed weights where available (:attr:`projections`).
        On an accelerator the batch is one slice.
        """
        names = ("input_ids", "token_type_ids", "attention_mask", "time_gap_ids")
        inputs = [None if batch.get(name) is None else batch[name].to(self.device)
                  for name in names]
        rows = inputs[0].shape[0]
        if self.device.type != "cpu":
            slices = [(0, rows, 0)]
        else:
            mask = inputs[2]
            if mask is None:
                mask = inputs[0] != self.model.config.pad_token_id
            slices = cpu_slices(mask.sum(dim=1), inputs[0].shape[1], CPU_ENCODE_TOKENS)
        extra = {} if self.projections is None else {"projections": self.projections}

        def encode(start: int, stop: int, first: int) -> T:
            with torch.inference_mode():  # grad mode is per thread: set in each worker
                users = self.model.encode_sequences(
                    *[None if t is None else t[start:stop, first:] for t in inputs],
                    **extra).float()
                return fn(users, start, min(stop, rows))

        if self.device.type == "cpu":
            return encode_side_by_side(encode, slices)
        return [encode(*piece) for piece in slices]


def model_scorer(model: torch.nn.Module, accelerator: Accelerator | None = None) -> ModelScorer:
    """The :class:`ModelScorer` of ``model``; training validation, test and ``recsft evaluate``
    all score through it."""
    return ModelScorer(model, accelerator)
