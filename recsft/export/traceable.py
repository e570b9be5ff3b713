"""A model's sequence encoder as one graph for every input: what ``torch.export`` (and so
ONNX) can record.

A graph exporter records the operations of one call; a Python ``if`` on a tensor's *values*
cannot be recorded (``torch.export`` refuses it, and a tracer would keep whichever branch its
example took). recsft's models take two such shortcuts in eager mode, for speed, and
:func:`traceable` replaces just those two steps, on one model instance, for the duration of an
export:

* **the attention mask of the transformers** (SASRec, BERT4Rec): with SDPA they skip the mask
  when no row of the batch is padded (``bool(attention_mask.all())``). Here the mask is always
  built, exactly as the models build it for a padded batch (SASRec: causal and real key, or
  the diagonal; BERT4Rec: real key). On an unpadded batch it allows every key the skipped
  mask allows, so the attention is the same;
* **the recurrence over real positions** (GRU4Rec, LSTM + attention): the models pack each
  batch's real positions (``pack_padded_sequence``, whose shapes depend on the lengths) unless
  no row is padded. Here each row's real positions are moved to the front by a stable
  partition computed with cumulative sums (no sort, no packing), the RNN runs over the whole
  batch, and the states are put back where they came from, zero at padded positions. An RNN is
  causal: a real position's state depends only on the real positions before it, which are the
  same as in the packed sequence, so the states are those packing gives.

Everything else is the model's own ``encode_sequences`` (embeddings, item text, categories,
time gaps, layers, heads), called as it is: :class:`EncoderGraph` maps positional inputs to
its keyword arguments. The tests compare the exported graph with eager ``encode_sequences`` on
every model type.

Example:
    >>> with traceable(model):                                       # doctest: +SKIP
    ...     program = torch.onnx.export(EncoderGraph(model, names), args, dynamo=True)
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator, Sequence

import torch
from torch import nn

__all__ = ["EncoderGraph", "traceable", "run_compacted", "full_attention_mask"]


class EncoderGraph(nn.Module):
    """``model.encode_sequences`` with its inputs given by position, in ``input_names`` order
    (an exporter's example arguments are a tuple).

    Args:
        model: A recsft sequence model in eval mode.
        input_names: The keyword names of ``encode_sequences`` the positional inputs stand for
            (``input_ids``, ``token_type_ids``, ``attention_mask``, ``time_gap_ids``).
    """

    def __init__(self, model: nn.Module, input_names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = tuple(input_names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, length)`` tensors → ``(batch, dim)`` user vectors."""
        return self.model.encode_sequences(**dict(zip(self.input_names, inputs)))


def full_attention_mask(attention_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """The boolean SDPA mask the transformers build for a padded batch, for any batch.

    Args:
        attention_mask: ``(batch, length)``, nonzero at real positions.
        causal: SASRec's mask (query ``t`` sees real keys ``<= t``, and itself) rather than
            BERT4Rec's (every query sees every real key).

    Returns:
        ``(batch, 1, 1, length)`` (bidirectional) or ``(batch, 1, length, length)`` (causal).
    """
    real = attention_mask.bool()[:, None, None, :]
    if not causal:
        return real
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    earlier = positions[None, :] <= positions[:, None]  # key j visible from query t when j <= t
    return (earlier & real) | (positions[None, :] == positions[:, None])


def run_compacted(rnn: nn.RNNBase, inputs: torch.Tensor,
                  attention_mask: torch.Tensor) -> torch.Tensor:
    """:func:`recsft.modeling.rnn.run_over_real_positions` without packing or sorting.

    Args:
        rnn: A ``batch_first`` GRU or LSTM.
        inputs: ``(batch, length, input_size)`` embedded inputs.
        attention_mask: ``(batch, length)``, nonzero at real positions (anywhere in the row).

    Returns:
        ``(batch, length, hidden)`` last-layer states; zero at padded positions.
    """
    real = attention_mask.bool()
    flags = real.long()
    count = flags.sum(dim=1, keepdim=True)
    # Where each position goes: real ones to 0..n-1 in order, padded ones to n..length-1.
    target = torch.where(real, flags.cumsum(1) - 1, count + (1 - flags).cumsum(1) - 1)
    compact = torch.zeros_like(inputs).scatter(1, target[..., None].expand_as(inputs), inputs)
    states = rnn(compact)[0]
    restored = states.gather(1, target[..., None].expand(-1, -1, states.shape[-1]))
    return restored * real[..., None].to(restored.dtype)


def _causal(model: nn.Module) -> bool:
    """Whether a transformer model's attention is causal (SASRec) or bidirectional (BERT4Rec).

    Raises:
        NotImplementedError: a transformer model type this module does not know.
    """
    from recsft.modeling.bert4rec import Bert4RecModel
    from recsft.modeling.sasrec import SASRecModel

    if isinstance(model, SASRecModel):
        return True
    if isinstance(model, Bert4RecModel):
        return False
    raise NotImplementedError(f"no traceable attention mask for {type(model).__name__}")


@contextlib.contextmanager
def traceable(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model``'s data-dependent steps are branch-free (see the module
    docstring); afterwards the model is as it was.

    The replacements are attributes of this instance only (other instances of the class, and
    other threads using them, are untouched). A transformer runs with SDPA attention inside the
    block (the implementation the masks are built for), and gets its own implementation back.

    Args:
        model: A recsft sequence model.

    Yields:
        ``model``.

    Raises:
        NotImplementedError: a model of a family this module does not know.
    """
    from recsft.modeling.layers import TransformerSequenceModel
    from recsft.modeling.rnn import RecurrentPreTrainedModel

    restore_attention = None
    if isinstance(model, TransformerSequenceModel):
        causal = _causal(model)
        name = "_attention_mask"
        if model.config._attn_implementation != "sdpa":
            restore_attention = model.config._attn_implementation
            model.set_attn_implementation("sdpa")

        def replacement(self, embedded: torch.Tensor, attention_mask: torch.Tensor):
            return full_attention_mask(attention_mask, causal)
    elif isinstance(model, RecurrentPreTrainedModel):
        name = "encode"

        def replacement(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                        attention_mask: torch.Tensor | None = None,
                        time_gap_ids: torch.Tensor | None = None) -> torch.Tensor:
            if attention_mask is None:
                attention_mask = input_ids != self.config.pad_token_id
            embedded = self.embeddings(input_ids, token_type_ids, time_gap_ids)
            return run_compacted(self.rnn, embedded, attention_mask)
    else:
        raise NotImplementedError(f"no traceable encoder for {type(model).__name__}")
    setattr(model, name, types.MethodType(replacement, model))
    try:
        yield model
    finally:
        delattr(model, name)
        if restore_attention is not None:
            model.set_attn_implementation(restore_attention)
