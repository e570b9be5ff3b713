"""set_training_items: items held out of training are not negatives of the training loss."""

from __future__ import annotations

import pytest
import torch

from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.sasrec import SASRecModel


def test_the_loss_ranks_targets_among_the_known_items_only():
    torch.manual_seed(0)
    model = SASRecModel(SASRecConfig(vocab_size=24, first_item_id=4, hidden_size=16,
                                     max_position_embeddings=6, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0))
    ids = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11]])
    labels = torch.full_like(ids, -100)
    labels[:, -1] = torch.tensor([12, 13])
    known = torch.ones(20, dtype=torch.bool)
    known[[0, 3, 15]] = False
    model.train()
    full = model(input_ids=ids, labels=labels).loss
    model.set_training_items(known)
    restricted = model(input_ids=ids, labels=labels).loss
    users = model.encode_sequences(ids)
    logits = users @ model.item_embeddings()[known].T
    position = torch.cumsum(known.long(), 0) - 1
    expected = torch.nn.functional.cross_entropy(logits, position[labels[:, -1] - 4])
    torch.testing.assert_close(restricted, expected)
    assert restricted < full
    model.eval()  # evaluation scores every item
    torch.testing.assert_close(model(input_ids=ids, labels=labels).loss, full)
    with pytest.raises(ValueError, match="training items mask"):
        model.set_training_items(torch.ones(5, dtype=torch.bool))
