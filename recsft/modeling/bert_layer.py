"""A transformers ``BertLayer`` restated: the pre-LayerNorm block, and the layer with fused
projections used in training and for CPU inference.

:func:`_bert_layer` computes what ``BertLayer(hidden, mask)`` does (or, with ``norm_first``,
:func:`_pre_norm_layer`), with the linear maps of a :class:`LayerProjections` and, under SDPA,
the attention of :func:`recsft.modeling.dropout.attention_forward`.
"""

from __future__ import annotations

import torch
from torch import nn


def _pre_norm_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None
                    ) -> torch.Tensor:
    """A transformers ``BertLayer``'s modules as a pre-LayerNorm block.

    ``h = x + dropout(dense(attention(LN1(x))))``, then ``h + dropout(W2 act(W1 LN2(h)))``,
    where ``LN1`` is the layer's ``attention.output.LayerNorm`` and ``LN2`` its
    ``output.LayerNorm``. The attention module is called as a module (hooks, e.g. the attention
    weights read by :mod:`recsft.retrieval.explain`, see it).

    Args:
        layer: A ``BertLayer``.
        hidden: ``(batch, length, hidden)`` states entering it.
        mask: The encoder's attention mask (as for the ``BertLayer``).

    Returns:
        ``(batch, length, hidden)``.
    """
    attention = layer.attention
    context, _ = attention.self(attention.output.LayerNorm(hidden), attention_mask=mask)
    return _block_output(layer, LayerProjections(layer), context, hidden, norm_first=True)


class LayerProjections:
    """The linear maps of a transformers ``BertLayer`` as :func:`_bert_layer` applies them.

    This eager version calls ``nn.functional.linear`` on the layer's own parameters, with the
    query, key and value projections as one matrix product (one pass over the states instead
    of three) and dropout as in the layer (active in training mode). Subclasses may compute the
    same maps otherwise (:class:`recsft.modeling.packed.PackedProjections`: oneDNN kernels with
    fused epilogues, for CPU inference).

    Args:
        layer: A ``BertLayer``.
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self.width = layer.attention.self.all_head_size

    def _fused(self, hidden: torch.Tensor, *projections: nn.Linear) -> tuple[torch.Tensor, ...]:
        weight = torch.cat([p.weight for p in projections])
        bias = torch.cat([p.bias for p in projections])
        return nn.functional.linear(hidden, weight, bias).split(self.width, dim=-1)

    def query_key_value(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(batch, length, hidden)`` → query, key and value ``(batch, length, width)``."""
        attention = self.layer.attention.self
        return self._fused(hidden, attention.query, attention.key, attention.value)

    def key_value(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(batch, length, hidden)`` → key and value ``(batch, length, width)``."""
        attention = self.layer.attention.self
        return self._fused(hidden, attention.key, attention.value)

    def query(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(batch, length, hidden)`` → query ``(batch, length, width)``."""
        return self.layer.attention.self.query(hidden)

    def attention_output(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + dropout(dense(context))``, both ``(batch, length, hidden)``."""
        output = self.layer.attention.output
        return residual + output.dropout(output.dense(context))

    def intermediate(self, hidden: torch.Tensor) -> torch.Tensor:
        """``act(W1 hidden)`` ``(batch, length, intermediate)``; ReLU in place when no
        gradient is recorded (no copy of the widest activation)."""
        intermediate = self.layer.intermediate
        states = intermediate.dense(hidden)
        if isinstance(intermediate.intermediate_act_fn, nn.ReLU) and not torch.is_grad_enabled():
            return states.relu_()
        return intermediate.intermediate_act_fn(states)

    def output(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + dropout(W2 hidden)`` ``(batch, length, hidden)``."""
        output = self.layer.output
        return residual + output.dropout(output.dense(hidden))


def _block_output(layer: nn.Module, projections: LayerProjections, context: torch.Tensor,
                  residual: torch.Tensor, norm_first: bool) -> torch.Tensor:
    """A ``BertLayer``'s output from its attention ``context`` ``(batch, length, width)``
    and the states ``residual`` that entered it: attention output projection, residual and
    feed-forward block, post-LayerNorm (BERT's) or pre-LayerNorm (``norm_first``)."""
    first, second = layer.attention.output.LayerNorm, layer.output.LayerNorm
    attended = projections.attention_output(context, residual)
    if not norm_first:
        attended = first(attended)
        return second(projections.output(projections.intermediate(attended), attended))
    return projections.output(projections.intermediate(second(attended)), attended)


def _bert_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None,
                last_only: bool = False, norm_first: bool = False,
                projections: LayerProjections | None = None) -> torch.Tensor:
    """A transformers ``BertLayer`` (self-attention, no cache), restated for inference speed.

    The same computation as ``layer(hidden, mask)`` (or :func:`_pre_norm_layer` with
    ``norm_first``), with the linear maps of ``projections`` (fused query, key and value
    projections, :class:`LayerProjections`), and, with ``last_only``, the queries and the
    feed-forward block of the last position only (keys and values still come from every
    position). Dropout applies in training mode as in the layer; under SDPA the attention is
    :func:`recsft.modeling.dropout.attention_forward` (SDPA, or cheaper dropout masks on the CPU).

    Args:
        layer: A ``BertLayer`` of the encoder.
        hidden: ``(batch, length, hidden)`` states entering it.
        mask: The encoder's attention mask (``(batch, 1, length, length)`` boolean or additive,
            or ``None``); with ``last_only`` its last query row is used.
        last_only: Compute the output of the last position only.
        norm_first: A pre-LayerNorm block (the LayerNorms before the sub-layers).
        projections: The layer's linear maps (default: eager :class:`LayerProjections`).

    Returns:
        ``(batch, length, hidden)``, or ``(batch, 1, hidden)`` with ``last_only``.
    """
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    from recsft.modeling.dropout import attention_forward

    attention = layer.attention.self
    projections = projections or LayerProjections(layer)
    batch, length, _ = hidden.shape
    width = attention.all_head_size
    residual = hidden[:, -1:] if last_only else hidden
    if norm_first:
        hidden = layer.attention.output.LayerNorm(hidden)
    if last_only:
        query = projections.query(hidden[:, -1:])
        key, value = projections.key_value(hidden)
    else:
        query, key, value = projections.query_key_value(hidden)

    def heads(states: torch.Tensor) -> torch.Tensor:
        shape = (batch, -1, attention.num_attention_heads, attention.attention_head_size)
        return states.reshape(shape).transpose(1, 2)

    if last_only and mask is not None:
        mask = mask[:, :, -1:, :]
    implementation = attention.config._attn_implementation
    interface = (attention_forward if implementation == "sdpa" else
                 ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward))
    context, _ = interface(attention, heads(query), heads(key), heads(value), mask,
                           dropout=attention.dropout.p if attention.training else 0.0,
                           scaling=attention.scaling)
    return _block_output(layer, projections, context.reshape(batch, -1, width), residual,
                         norm_first)
