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


@pytest.mark.parametrize("keep_probabilities", [False, True])
@pytest.mark.parametrize("chunk_rows", [1, 4, 13, 100])
def test_same_loss_and_gradients_as_the_whole_softmax(chunk_rows, keep_probabilities):
    queries, weight, targets = data()
    # Items as a slice of a larger table, like item_embeddings() after the special tokens.
    loss = chunked_cross_entropy(queries, weight[2:], targets, chunk_rows, keep_probabilities)
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


def test_kept_probabilities_survive_a_second_backward_pass():
    """The backward pass reads the kept softmax without changing it (retain_graph)."""
    queries, weight, targets = data(rows=9, items=17)
    targets[:3] = 5  # repeated targets: the one-hot part adds several rows into one item
    loss = chunked_cross_entropy(queries, weight, targets, 4, keep_probabilities=True)
    loss.backward(retain_graph=True)
    first = queries.grad.clone(), weight.grad.clone()
    queries.grad, weight.grad = None, None
    loss.backward()
    torch.testing.assert_close(queries.grad, first[0])
    torch.testing.assert_close(weight.grad, first[1])
    queries.grad, weight.grad = None, None
    F.cross_entropy(queries @ weight.T, targets).backward()
    torch.testing.assert_close(weight.grad, first[1])


def test_item_loss_keeps_the_softmax_up_to_its_limit(monkeypatch):
    import recsft.modeling.chunked_ce as chunked_ce

    calls, real = [], chunked_ce.chunked_cross_entropy

    def spy(queries, items, targets, chunk_rows, keep_probabilities=False):
        calls.append(keep_probabilities)
        return real(queries, items, targets, chunk_rows, keep_probabilities)
    monkeypatch.setattr(chunked_ce, "chunked_cross_entropy", spy)
    queries, weight, targets = data(rows=20, items=50)
    items = weight[2:]
    monkeypatch.setattr(losses, "CE_CHUNK_THRESHOLD", 100)
    monkeypatch.setattr(losses, "CE_CHUNK_ELEMENTS", 6 * 50)
    monkeypatch.setattr(losses, "CE_KEEP_ELEMENTS", 20 * 50)
    kept, _ = losses.item_loss(queries, items, targets, Config())
    monkeypatch.setattr(losses, "CE_KEEP_ELEMENTS", 20 * 50 - 1)
    recomputed, _ = losses.item_loss(queries, items, targets, Config())
    assert calls == [True, False]
    torch.testing.assert_close(kept, recomputed)
