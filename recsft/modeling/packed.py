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
They are private to torch and may change or go in any release, so this module is their only
user and reaches them through one guard, :func:`onednn_kernels`: at first use it looks the ops
up and runs each form recsft calls once on a small product against
``torch.nn.functional.linear``; a missing op, an error or a different result makes it answer
``None`` for the rest of the process. :func:`packed_projections` then returns ``None`` — and
callers use the eager maps (:class:`~recsft.modeling.bert_layer.LayerProjections`, plain
``nn.functional.linear``), which give the same numbers — as it does wherever the packs do not
apply (not float32 on the CPU, oneDNN switched off with
``torch.backends.mkldnn.flags(enabled=False)``, a model in training mode).

The packs are a snapshot: build them again after the weights change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from recsft.modeling.bert_layer import LayerProjections
from recsft.modeling.layers import TransformerSequenceModel

#: Rows (positions) per product the weights are laid out for; CPU evaluation encodes slices of
#: about this many (:data:`recsft.evaluation.ranking.CPU_ENCODE_TOKENS`).
PACKING_ROWS = 4096


class OneDNNKernels(NamedTuple):
    """The oneDNN ops this module calls (private to torch; see :func:`onednn_kernels`)."""

    #: ``(weight (out, in), rows) -> packed weight``.
    reorder: Callable[..., torch.Tensor]
    #: ``(x, packed, bias, attr, scalars, algorithm) -> act(x W^T + b)``.
    pointwise: Callable[..., torch.Tensor]
    #: ``(x, other, packed, bias, "add") -> other + x W^T + b``.
    binary: Callable[..., torch.Tensor]


def _lookup_kernels() -> OneDNNKernels:
    """The ops, looked up in ``torch.ops`` (``AttributeError`` / ``RuntimeError`` if missing)."""
    mkldnn = torch.ops.mkldnn
    return OneDNNKernels(mkldnn._reorder_linear_weight, mkldnn._linear_pointwise,
                         mkldnn._linear_pointwise.binary)


#: The first answer of :func:`onednn_kernels` (``False``: not checked yet).
_KERNELS: OneDNNKernels | None | bool = False


def onednn_kernels() -> OneDNNKernels | None:
    """oneDNN's packed linear kernels where this torch build has them and they compute what
    ``nn.functional.linear`` computes, else ``None``; checked once per process, at first use.

    The check runs every form of the ops that :class:`PackedProjections` uses (plain, fused
    ReLU, fused exact GELU, fused residual addition) on a seeded ``(3, 5, 8)`` input and
    compares with the eager maps (``atol=1e-5``); any exception or difference means ``None``.
    """
    global _KERNELS
    if _KERNELS is False:
        _KERNELS = _checked_kernels()
    return _KERNELS


def _checked_kernels() -> OneDNNKernels | None:
    functional = nn.functional
    try:
        kernels = _lookup_kernels()
        generator = torch.Generator().manual_seed(0)
        x, residual = (torch.randn(3, 5, 8, generator=generator) for _ in range(2))
        weight, bias = torch.randn(6, 8, generator=generator), torch.randn(6, generator=generator)
        with torch.no_grad():
            packed = kernels.reorder(weight, 16)
            pairs = [
                (kernels.pointwise(x, packed, bias, "none", [], ""),
                 functional.linear(x, weight, bias)),
                (kernels.pointwise(x, packed, bias, "relu", [], ""),
                 functional.relu(functional.linear(x, weight, bias))),
                (kernels.pointwise(x, packed, bias, "gelu", [], "none"),
                 functional.gelu(functional.linear(x, weight, bias))),
                (kernels.binary(x, residual[..., :6].contiguous(), packed, bias, "add"),
                 residual[..., :6] + functional.linear(x, weight, bias)),
            ]
        if not all(isinstance(got, torch.Tensor) and got.shape == want.shape
                   and torch.allclose(got, want, atol=1e-5, rtol=1e-5) for got, want in pairs):
            return None
    except (AttributeError, RuntimeError, TypeError, ValueError, NotImplementedError):
        return None  # missing, renamed, or called differently in this torch build
    return kernels


def packing_available() -> bool:
    """Whether oneDNN is switched on and its packed linear kernels work (:func:`onednn_kernels`).
    """
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    return onednn_kernels() is not None


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

    def __init__(self, kernels: OneDNNKernels, rows: int, *linears: nn.Linear) -> None:
        self.kernels = kernels
        with torch.no_grad():
            weight = torch.cat([linear.weight for linear in linears]).detach()
            self.bias = torch.cat([linear.bias for linear in linears]).detach()
            self.weight = kernels.reorder(weight, rows)

    def __call__(self, hidden: torch.Tensor, attr: str = "none", algorithm: str = ""
                 ) -> torch.Tensor:
        """``(..., in)`` → ``(..., out)``, with the post-op ``attr`` fused."""
        return self.kernels.pointwise(hidden, self.weight, self.bias, attr, [], algorithm)

    def add(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + linear(hidden)``, the addition fused."""
        return self.kernels.binary(hidden, residual.contiguous(), self.weight, self.bias, "add")


class PackedProjections(LayerProjections):
    """A ``BertLayer``'s linear maps through oneDNN-packed weights, for inference only.

    The same maps as :class:`~recsft.modeling.bert_layer.LayerProjections` in eval mode (no
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
        kernels = onednn_kernels()
        if kernels is None:
            raise RuntimeError("oneDNN's packed linear kernels are not usable in this torch "
                               "build; check packing_available() first")
        attention = layer.attention.self
        if last:
            self._query = _PackedLinear(kernels, rows, attention.query)
            self._key_value = _PackedLinear(kernels, rows, attention.key, attention.value)
        else:
            self._query_key_value = _PackedLinear(kernels, rows, attention.query, attention.key,
                                                  attention.value)
        self._attention_output = _PackedLinear(kernels, rows, layer.attention.output.dense)
        self._intermediate = _PackedLinear(kernels, rows, layer.intermediate.dense)
        self._output = _PackedLinear(kernels, rows, layer.output.dense)
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
