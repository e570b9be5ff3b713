import pytest
import torch
import torch.nn.functional as F

from recsft.modeling import losses
from recsft.modeling.chunked_ce import chunked_cross_entropy


def data(rows=13, items=29, dim=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    queries = torch.randn(rows, dim, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(items + 2, dim, generator=g, dtype=dtype, requires_grad=True)
    targets = torch.randint(0, items, (rows,), generator=g)
    return queries, weight, targets


@pytest.mark.parametrize("chunk_rows", [1, 4, 13, 100])
def test_same_loss_and_gradients_as_the_whole_softmax(chunk_rows):
    queries, weight, targets = data()
    # Items as a slice of a larger table, like item_embeddings() after the special tokens.
    loss = chunked_cross_entropy(queries, weight[2:], targets, chunk_rows)
    loss.backward()
    chunked = queries.grad.clone(), weight.grad.clone()
    queries.grad, weight.grad = None, None
    reference = F.cross_entropy(queries @ weight[2:].T, targets)
    reference.backward()
    torch.testing.assert_close(loss, reference.float())
    torch.testing.assert_close(chunked[0], queries.grad)
    torch.testing.assert_close(chunked[1], weight.grad)
    assert torch.all(chunked[1][:2] == 0)  # special tokens get no gradient


def test_float32_agrees_with_the_whole_softmax():
    queries, weight, targets = data(rows=40, items=300, dim=16, seed=3, dtype=torch.float32)
    chunked = chunked_cross_entropy(queries, weight, targets, 7)
    torch.testing.assert_close(chunked, F.cross_entropy(queries @ weight.T, targets),
                               atol=1e-5, rtol=1e-5)


def test_bad_arguments_are_refused():
    queries, weight, targets = data()
    with pytest.raises(ValueError, match="chunk_rows must be at least 1"):
        chunked_cross_entropy(queries, weight, targets, 0)
    with pytest.raises(ValueError, match="at least one row"):
        chunked_cross_entropy(queries[:0], weight, targets[:0], 4)


class Config:
    loss = "ce"


def test_item_loss_goes_block_by_block_above_the_threshold_in_training_only(monkeypatch):
    queries, weight, targets = data(rows=20, items=50)
    items = weight[2:]
    whole_loss, logits = losses.item_loss(queries, items, targets, Config())
    assert logits.shape == (20, 50)
    monkeypatch.setattr(losses, "CE_CHUNK_THRESHOLD", 20 * 50 - 1)
    monkeypatch.setattr(losses, "CE_CHUNK_ELEMENTS", 6 * 50)
    chunked_loss, none = losses.item_loss(queries, items, targets, Config())
    assert none is None
    torch.testing.assert_close(chunked_loss, whole_loss.float())
    with torch.no_grad():  # evaluation keeps the logits
        assert losses.item_loss(queries, items, targets, Config())[1].shape == (20, 50)
