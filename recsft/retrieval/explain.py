"""Which history items weighed most in a recommendation.

Two readings, for one history and one recommended item:

* :func:`occlusion_weights` (any model): the drop of the item's score when each history event
  is left out (``score(history) - score(history without event t)``). It measures what the
  model actually does with the event, and can be negative (the event argued against the item).
* :func:`attention_weights` (transformer models): the last layer's attention from the query
  position (the appended ``[MASK]`` of BERT4Rec, the newest event of SASRec) to each history
  position, averaged over heads. It is cheap and commonly shown, but attention is not an
  explanation of the output in general (Jain & Wallace, 2019); prefer occlusion when it matters.

Only events the model reads count: the newest events of its input window, by the one rule of
:func:`recsft.scoring.inputs.model_inputs` (items it does not know are read as ``[UNK]`` and
weighed like the others); older events get no weight (they are not listed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from recsft.scoring.inputs import model_inputs, read_positions

__all__ = ["HistoryWeight", "occlusion_weights", "attention_weights", "METHODS"]

METHODS: tuple[str, ...] = ("occlusion", "attention")


class HistoryWeight(NamedTuple):
    """The weight of one history event.

    Attributes:
        position: Index of the event in the history as given (oldest first).
        item_id: The event's item.
        weight: Occlusion score drop, or attention probability.
    """

    position: int
    item_id: str
    weight: float


def _pick(values: Sequence | None, positions: Sequence[int]) -> list | None:
    return None if values is None else [values[i] for i in positions]


def _ranked(history: Sequence[str], positions: Sequence[int],
            weights: np.ndarray) -> list[HistoryWeight]:
    rows = [HistoryWeight(p, history[p], float(w)) for p, w in zip(positions, weights)]
    return sorted(rows, key=lambda row: (-row.weight, -row.position))


def _inputs(model: torch.nn.Module, tokenizer: Any, history: Sequence[str],
            variants: list[list[int]], event_types: Sequence[str] | None,
            timestamps: Sequence[int | float] | None) -> dict[str, torch.Tensor]:
    """``(len(variants), W)`` model inputs of the history's events at each list of positions,
    on the model's device."""
    batch = model_inputs(
        tokenizer, model.config, [[history[i] for i in rows] for rows in variants],
        None if event_types is None else [_pick(event_types, rows) for rows in variants],
        None if timestamps is None else [_pick(timestamps, rows) for rows in variants])
    device = next(model.parameters()).device
    return {key: value.to(device) for key, value in batch.items()}


def occlusion_weights(
    model: torch.nn.Module,
    tokenizer: Any,
    history: Sequence[str],
    target: np.ndarray,
    event_types: Sequence[str] | None = None,
    timestamps: Sequence[int | float] | None = None,
) -> list[HistoryWeight]:
    """Score drop of an item when each history event is left out, largest first.

    One batch of ``n + 1`` encodings (the events the model reads, and each leave-one-out
    variant).

    Args:
        model: The model explained (``encode_sequences``, ``config``).
        tokenizer: Its tokenizer.
        history: External item ids, oldest first.
        target: ``(dim,)`` the recommended item's vector (its row of the output layer).
        event_types: Optional parallel event types.
        timestamps: Optional parallel event times in seconds.

    Returns:
        One :class:`HistoryWeight` per event the model reads, largest drop first.
    """
    positions = read_positions(tokenizer, model.config, [history])[0]
    if not positions:
        return []
    variants = [positions] + [positions[:n] + positions[n + 1:] for n in range(len(positions))]
    with torch.no_grad():
        users = model.encode_sequences(**_inputs(model, tokenizer, history, variants,
                                                 event_types, timestamps))
    users = users.float().cpu().numpy().astype(np.float64)
    scores = users @ np.asarray(target, dtype=np.float64)
    return _ranked(history, positions, scores[0] - scores[1:])


@torch.no_grad()
def attention_weights(
    model: torch.nn.Module,
    tokenizer: Any,
    history: Sequence[str],
    event_types: Sequence[str] | None = None,
    timestamps: Sequence[int | float] | None = None,
) -> list[HistoryWeight]:
    """Last-layer attention of the query position to each history event, largest first.

    The model runs once with the eager attention implementation (the fused kernels do not
    return weights); the configured implementation is restored afterwards.

    Args:
        model: The model explained (a transformer).
        tokenizer: Its tokenizer.
        history: External item ids, oldest first.
        event_types: Optional parallel event types.
        timestamps: Optional parallel event times in seconds.

    Returns:
        One :class:`HistoryWeight` per event the model reads (head-averaged probability).

    Raises:
        ValueError: the model is not a transformer (GRU4Rec, LSTM); use occlusion.
    """
    from recsft.modeling.layers import TransformerSequenceModel

    if not isinstance(model, TransformerSequenceModel):
        raise ValueError(f"{type(model).__name__} has no self-attention layers to read; "
                         "use method='occlusion'")
    positions = read_positions(tokenizer, model.config, [history])[0]
    if not positions:
        return []
    captured: dict[str, torch.Tensor] = {}

    def keep(module: torch.nn.Module, inputs: tuple, output: tuple) -> None:
        captured["weights"] = output[1]

    layer = model.encoder.layer[-1].attention.self
    handle = layer.register_forward_hook(keep)
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        # The full encoder (``encode``): ``encode_sequences`` runs the last layer for the
        # query position alone, without calling the attention module this hook reads.
        with torch.no_grad():
            model.encode(**_inputs(model, tokenizer, history, [positions], event_types,
                                   timestamps))
    finally:
        handle.remove()
        model.set_attn_implementation(previous)
    # (1, heads, length, length): the query is the last position; with [MASK] appended the
    # history occupies the positions before it.
    row = captured["weights"][0].float().mean(dim=0)[-1].cpu().numpy()
    start = row.shape[0] - len(positions) - int(bool(model.config.uses_mask_token))
    return _ranked(history, positions, row[start:start + len(positions)])
