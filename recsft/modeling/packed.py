"""oneDNN-packed linear maps for CPU inference of the transformer models.

:func:`packed_projections` gives, for each layer of a :class:`~recsft.modeling.layers.
TransformerSequenceModel`, a :class:`PackedProjections`: the layer's weights reordered once
into oneDNN's blocked layout, and every linear map done by one oneDNN call with its epilogue
fused — bias and activation (``relu``, exact ``gelu``) after the first feed-forward product,
bias and residual addition after the attention output and the second feed-forward product.
The values are those of the eager maps up to the order of float additions (about 1e-6
relative), and fewer passes over the activations: the encoder of MovieLens 100K evaluation
(SASRec, hidden 64, length 50, 2 layers) spends most of its time in these small products.

These are the kernels torch's own CPU inference path (Inductor with frozen weights) calls:
``torch.ops.mkldnn._reorder_linear_weight`` and ``torch.ops.mkldnn._linear_pointwise``.
They are private to torch, so :func:`packed_projections` returns ``None`` — and callers use
the eager maps — wherever they are missing or do not apply (not float32 on the CPU, oneDNN
switched off with ``torch.backends.mkldnn.flags(enabled=False)``, a model in training mode).

The packs are a snapshot: build them again after the weights change.
"""

from __future__ import annotations

import torch
from torch import nn

from recsft.modeling.layers import LayerProjections, TransformerSequenceModel

#: Rows (positions) per product the weights are laid out for; CPU evaluation encodes slices of
#: about this many (:data:`recsft.evaluation.ranking.CPU_ENCODE_TOKENS`).
PACKING_ROWS = 4096


def packing_available() -> bool:
    """Whether this torch build has oneDNN's packed linear kernels, switched on."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    try:
        torch.ops.mkldnn._reorder_linear_weight  # noqa: B018 (the lookup is the test)
        torch.ops.mkldnn._linear_pointwise  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def packed_projections(model: nn.Module, rows: int = PACKING_ROWS
                       ) -> list[PackedProjections] | None:
    """One :class:`PackedProjections` per encoder layer of ``model``, for its
    ``encode_sequences(..., projections=...)``; ``None`` where they do not apply.

    Args:
        model: A model in eval mode; only :class:`TransformerSequenceModel` float32 models on
            the CPU are packed.
        rows: Positions per product the weights are laid out for.
    """
    if not isinstance(model, TransformerSequenceModel) or model.training:
        return None
    parameter = next(model.parameters())
    if parameter.device.type != "cpu" or parameter.dtype != torch.float32:
        return None
    if not packing_available():
        return None
    layers = list(model.encoder.layer)
    return [PackedProjections(layer, rows, last=index == len(layers) - 1)
            for index, layer in enumerate(layers)]


def _fused_activation(act: nn.Module) -> tuple[str, str] | None:
    """oneDNN's post-op name and algorithm for a feed-forward activation, if it has one."""
    from transformers.activations import GELUActivation

    if isinstance(act, nn.ReLU):
        return "relu", ""
    if isinstance(act, GELUActivation) and getattr(act, "act", None) is nn.functional.gelu:
        return "gelu", "none"  # the exact (erf) GELU
    return None


class _PackedLinear:
    """``nn.Linear`` maps (several stacked into one product) with a oneDNN-packed weight."""

    def __init__(self, rows: int, *linears: nn.Linear) -> None:
        with torch.no_grad():
            weight = torch.cat([linear.weight for linear in linears]).detach()
            self.bias = torch.cat([linear.bias for linear in linears]).detach()
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, rows)

    def __call__(self, hidden: torch.Tensor, attr: str = "none", algorithm: str = ""
                 ) -> torch.Tensor:
        """``(..., in)`` → ``(..., out)``, with the post-op ``attr`` fused."""
        return torch.ops.mkldnn._linear_pointwise(hidden, self.weight, self.bias, attr, [],
                                                  algorithm)

    def add(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + linear(hidden)``, the addition fused."""
        return torch.ops.mkldnn._linear_pointwise.binary(
            hidden, residual.contiguous(), self.weight, self.bias, "add")


class PackedProjections(LayerProjections):
    """A ``BertLayer``'s linear maps through oneDNN-packed weights, for inference only.

    The same maps as :class:`~recsft.modeling.layers.LayerProjections` in eval mode (no
    dropout). A model's last layer is used by ``encode_sequences`` for its last position only
    (query apart from key and value); the others for every position (query, key and value in
    one product).

    Args:
        layer: A ``BertLayer`` in eval mode.
        rows: Positions per product the weights are laid out for.
        last: Pack for the last layer's use.
    """

    def __init__(self, layer: nn.Module, rows: int = PACKING_ROWS, last: bool = False) -> None:
        super().__init__(layer)
        attention = layer.attention.self
        if last:
            self._query = _PackedLinear(rows, attention.query)
            self._key_value = _PackedLinear(rows, attention.key, attention.value)
        else:
            self._query_key_value = _PackedLinear(rows, attention.query, attention.key,
                                                  attention.value)
        self._attention_output = _PackedLinear(rows, layer.attention.output.dense)
        self._intermediate = _PackedLinear(rows, layer.intermediate.dense)
        self._output = _PackedLinear(rows, layer.output.dense)
        self._activation = _fused_activation(layer.intermediate.intermediate_act_fn)
        self.last = last

    def query_key_value(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.last:
            raise ValueError("packed for the last layer: query and key/value apart")
        return self._query_key_value(hidden).split(self.width, dim=-1)

    def key_value(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not self.last:
            return super().key_value(hidden)
        return self._key_value(hidden).split(self.width, dim=-1)

    def query(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.last:
            return super().query(hidden)
        return self._query(hidden)

    def attention_output(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self._attention_output.add(context, residual)

    def intermediate(self, hidden: torch.Tensor) -> torch.Tensor:
        if self._activation is None:
            return self.layer.intermediate.intermediate_act_fn(self._intermediate(hidden))
        return self._intermediate(hidden, *self._activation)

    def output(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self._output.add(hidden, residual)
