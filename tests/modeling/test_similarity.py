"""similarity: cosine — unit item vectors, logits scaled by the temperature in training, and a
ranking that matches what training scored."""

from __future__ import annotations

import pytest
import torch

from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.sasrec import SASRecModel


def _model(**fields):
    torch.manual_seed(0)
    return SASRecModel(SASRecConfig(vocab_size=24, first_item_id=4, hidden_size=16,
                                    max_position_embeddings=6, hidden_dropout_prob=0.0,
                                    attention_probs_dropout_prob=0.0, **fields)).eval()


def test_cosine_trains_on_scaled_cosines_and_ranks_alike():
    model = _model(similarity="cosine", temperature=0.1)
    items = model.item_embeddings()
    torch.testing.assert_close(items.norm(dim=1), torch.ones(20))
    ids = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11]])
    labels = torch.full_like(ids, -100)
    labels[:, -1] = torch.tensor([12, 13])
    out = model(input_ids=ids, labels=labels)
    users = model.encode_sequences(ids)
    cosines = torch.nn.functional.normalize(users, dim=1) @ items.T
    expected = torch.nn.functional.cross_entropy(cosines / 0.1, labels[:, -1] - 4)
    torch.testing.assert_close(out.loss, expected)
    # Inner products with the unit item matrix rank as the cosines do.
    assert torch.equal((users @ items.T).argsort(dim=1), cosines.argsort(dim=1))


def test_dot_is_the_default_and_unknown_values_are_refused():
    model = _model()
    assert model.config.similarity == "dot"
    assert not torch.allclose(model.item_embeddings().norm(dim=1), torch.ones(20))
    with pytest.raises(ValueError, match="similarity"):
        SASRecConfig(similarity="euclid")
    with pytest.raises(ValueError, match="temperature"):
        SASRecConfig(similarity="cosine", temperature=0.0)
