"""SASRec's causal mask through transformers' ``create_causal_mask`` (with ``cache=None``, the
5.24+ name) equals an explicitly built causal + padding mask, warns about nothing, and the eager
and SDPA paths encode alike (issue 22)."""

import warnings

import pytest
import torch

from tests.modeling.test_sasrec import batch, tiny_model


def explicit_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``(batch, 1, L, L)`` boolean: a query sees the real keys up to itself, and itself."""
    length = attention_mask.shape[1]
    allowed = torch.zeros(attention_mask.shape[0], 1, length, length, dtype=torch.bool)
    for row in range(attention_mask.shape[0]):
        for query in range(length):
            for key in range(length):
                allowed[row, 0, query, key] = key == query or (
                    key < query and bool(attention_mask[row, key]))
    return allowed


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_the_mask_is_the_explicit_causal_padding_mask(attn_implementation):
    model = tiny_model(attn_implementation)
    ids, types, mask = batch()
    embedded = model.embeddings(ids, types)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning / DeprecationWarning from the call
        built = model._causal_mask(embedded, mask)
    expected = explicit_mask(mask)
    assert built.shape == (3, 1, 8, 8)
    if attn_implementation == "sdpa":
        assert built.dtype == torch.bool
        assert torch.equal(built, expected)
    else:  # additive: 0 where allowed, the dtype's minimum elsewhere
        assert built.dtype == embedded.dtype
        minimum = torch.finfo(embedded.dtype).min
        assert torch.equal(built, torch.where(expected, 0.0, minimum))


def test_without_padding_eager_gets_the_plain_causal_mask_and_sdpa_none():
    ids, types, mask = batch()
    ids, types, mask = ids[1:2], types[1:2], mask[1:2]
    assert bool(mask.all())
    sdpa = tiny_model("sdpa")
    assert sdpa._causal_mask(sdpa.embeddings(ids, types), mask) is None  # SDPA's is_causal
    eager = tiny_model("eager")
    built = eager._causal_mask(eager.embeddings(ids, types), mask)
    assert torch.equal(built == 0, torch.ones(8, 8, dtype=torch.bool).tril().expand(1, 1, 8, 8))


def test_eager_and_sdpa_encode_alike():
    ids, types, mask = batch()
    eager, sdpa = tiny_model("eager"), tiny_model("sdpa")
    with torch.no_grad():
        real = mask.bool()
        torch.testing.assert_close(eager.encode(ids, types, mask)[real],
                                   sdpa.encode(ids, types, mask)[real], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(eager.encode_sequences(ids, types, mask),
                                   sdpa.encode_sequences(ids, types, mask), atol=1e-5, rtol=1e-5)
