"""An estimate of a training's peak memory, checked before the model is allocated.

A model too big for the machine would otherwise fail with an allocator traceback after all
the data preparation. The estimate is deliberately simple and errs high:

- parameters, their gradients and AdamW's two moments: 16 bytes per float32 parameter (the
  parameter count comes from the model built on PyTorch's ``meta`` device, which allocates
  nothing);
- the output layer's logits: ``batch × max_length`` rows over the catalogue, three float32
  tensors (logits, log-softmax, gradient); above
  :data:`~recsft.modeling.losses.CE_CHUNK_THRESHOLD` logits the chunked cross-entropy's three
  blocks (:data:`~recsft.modeling.losses.CE_CHUNK_ELEMENTS`) and, up to
  :data:`~recsft.modeling.losses.CE_KEEP_ELEMENTS`, the softmax it keeps; sampled losses
  score ``num_negatives`` columns instead;
- evaluation: ``evaluation.batch_size`` users' scores over the catalogue, twice;
- activations: about 24 float32 values per position, hidden unit and layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recsft.errors import ResourceError

_GIB = 1024**3


@dataclass
class MemoryEstimate:
    """Bytes of each part of the estimate.

    Attributes:
        parameters: Number of model parameters.
        weights_and_optimizer: 16 bytes per parameter.
        logits: Output-layer tensors of one batch.
        evaluation: Score blocks of one evaluation chunk.
        activations: Hidden states kept for the backward pass.
    """

    parameters: int
    weights_and_optimizer: int
    logits: int
    evaluation: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights_and_optimizer + self.logits + self.evaluation + self.activations

    def describe(self) -> str:
        return (f"{self.total / _GIB:.1f} GiB ({self.parameters:,} parameters: "
                f"{self.weights_and_optimizer / _GIB:.1f} GiB with gradients and optimizer; "
                f"logits {self.logits / _GIB:.1f} GiB; evaluation {self.evaluation / _GIB:.1f} "
                f"GiB; activations {self.activations / _GIB:.1f} GiB)")


def estimate_memory(parameters: int, num_items: int, hidden_size: int, num_layers: int,
                    batch_size: int, max_length: int, eval_batch_size: int,
                    loss: str = "ce", num_negatives: int = 256) -> MemoryEstimate:
    """Estimate the peak memory of training and validating one model (see the module text).

    Args:
        parameters: Model parameters.
        num_items: Catalogue size.
        hidden_size: Hidden width.
        num_layers: Layers.
        batch_size: Sequences per batch (per process).
        max_length: Positions per sequence.
        eval_batch_size: Users per evaluation chunk.
        loss: ``ce``, ``sampled_softmax`` or ``gbce``.
        num_negatives: Columns scored by the sampled losses.
    """
    from recsft.modeling.losses import CE_CHUNK_ELEMENTS, CE_CHUNK_THRESHOLD, CE_KEEP_ELEMENTS

    rows = batch_size * max_length
    columns = num_items if loss == "ce" else min(num_items, num_negatives + batch_size)
    logits = 3 * 4 * rows * columns
    if loss == "ce" and rows * columns > CE_CHUNK_THRESHOLD:
        kept = rows * columns if rows * columns <= CE_KEEP_ELEMENTS else 0
        logits = 4 * (3 * CE_CHUNK_ELEMENTS + kept)
    return MemoryEstimate(
        parameters=parameters,
        weights_and_optimizer=16 * parameters,
        logits=logits,
        evaluation=2 * 4 * eval_batch_size * num_items,
        activations=24 * 4 * rows * hidden_size * max(num_layers, 1),
    )


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable`` bounded by the cgroup's limit;
    ``None`` where neither can be read."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as a, open(usage_file, encoding="ascii") as b:
                limit, usage = a.read().strip(), int(b.read().strip())
            if limit.isdigit() and int(limit) < 1 << 60:
                found.append(int(limit) - usage)
            break
        except (OSError, ValueError):
            continue
    return min(found) if found else None


def check_memory(estimate: MemoryEstimate, available: int | None = None) -> None:
    """Refuse a training whose estimate exceeds the available memory.

    Args:
        estimate: From :func:`estimate_memory`.
        available: Bytes available (default: :func:`available_memory`; ``None`` skips).
            ``RECSFT_MEMORY_LIMIT_GB`` in the environment overrides it.

    Raises:
        ResourceError: with the estimate and what to change.
    """
    override = os.environ.get("RECSFT_MEMORY_LIMIT_GB")
    if override:
        available = int(float(override) * _GIB)
    elif available is None:
        available = available_memory()
    if available is None or estimate.total <= available:
        return
    raise ResourceError(
        f"this training needs about {estimate.describe()}, and {available / _GIB:.1f} GiB is "
        "available; make it smaller: model.hidden_size, training.batch_size, "
        "evaluation.batch_size, data.max_length, or model.loss: sampled_softmax with "
        "model.num_negatives for a large catalogue")
