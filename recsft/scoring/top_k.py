"""The exact top-K of a dense score matrix, cut into blocks on the CPU."""

from __future__ import annotations

import torch

#: Catalogue size from which :func:`block_top_k` cuts rows into blocks on the CPU.
BLOCK_TOP_K_ITEMS = 8192


def block_top_k(scores: torch.Tensor, k: int, block: int = 32) -> torch.Tensor:
    """Indices of each row's ``k`` largest scores, best first: ``(B, V)`` -> ``(B, k)``.

    Exact, and about twice as fast as ``scores.topk(k)`` over a large catalogue on the CPU:
    the row is cut into blocks of ``block`` items, the ``k`` blocks with the largest maxima are
    kept (every one of the ``k`` best items lies in one of them: a block holding one has a
    maximum at least the ``k``-th best score, and at most ``k`` blocks do), and the top ``k`` is
    taken among their ``k × block`` items. Ties at the ``k``-th score may resolve differently
    from ``torch.topk`` (whose order among equal scores is unspecified too). Catalogues below
    :data:`BLOCK_TOP_K_ITEMS` items and accelerators use ``torch.topk`` directly (at 1,682
    items ``torch.topk`` takes half the time; the blocks win from about 7,000 items at
    ``k = 10`` and 9,000 at ``k = 20``, 943 rows on the project's machine).
    """
    rows, width = scores.shape
    full = width // block
    if (width < BLOCK_TOP_K_ITEMS or full < 4 * k or scores.device.type != "cpu"
            or not scores.is_contiguous()):
        return scores.topk(k, dim=1).indices
    maxima = scores.as_strided((rows, full, block), (width, block, 1)).amax(dim=2)
    if width > full * block:
        tail = scores[:, full * block:].amax(dim=1, keepdim=True)
        maxima = torch.cat([maxima, tail], dim=1)
    blocks = maxima.topk(k, dim=1).indices  # (rows, k)
    candidates = (blocks[:, :, None] * block + torch.arange(block)).reshape(rows, -1)
    inside = candidates < width
    values = scores.gather(1, candidates.clamp(max=width - 1))
    values = values.masked_fill(~inside, float("-inf"))
    return candidates.gather(1, values.topk(k, dim=1).indices)
