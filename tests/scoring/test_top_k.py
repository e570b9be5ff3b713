import pytest
import torch

from recsft.scoring import top_k
from recsft.scoring.top_k import block_top_k


@pytest.mark.parametrize("width", [1000, 1003, 64])
def test_block_top_k_equals_torch_topk(width, monkeypatch):
    monkeypatch.setattr(top_k, "BLOCK_TOP_K_ITEMS", 0)  # blocks at every size
    generator = torch.Generator().manual_seed(width)
    scores = torch.randn(50, width, generator=generator)
    scores[:, :7] = float("-inf")  # filtered history items
    scores[3, -1] = 100.0  # the best item in the partial last block
    expected = scores.topk(10, dim=1).indices
    assert torch.equal(block_top_k(scores, 10, block=16), expected)
    assert block_top_k(scores, 10, block=16)[3, 0] == width - 1
