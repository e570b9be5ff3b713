"""Inputs beyond item ids, for every model type: time gaps and item categories."""

import pytest
import torch

from recsft.modeling import MODEL_TYPES

VOCAB, FIRST = 14, 4


def build(model_type, **fields):
    config_class, model_class = MODEL_TYPES[model_type]
    extra = {"num_attention_heads": 2, "intermediate_size": 32} if "rnn" not in str(
        config_class) else {}
    config = config_class(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1,
                          max_position_embeddings=8, hidden_dropout_prob=0.0, **extra, **fields)
    torch.manual_seed(0)
    return model_class(config).eval()


def batch():
    ids = torch.tensor([[0, 5, 6, 7, 2], [4, 9, 10, 11, 2]])
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids),
            "attention_mask": (ids != 0).long(),
            "time_gap_ids": torch.tensor([[0, 1, 5, 6, 1], [1, 3, 3, 20, 1]])}


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_time_gaps_are_read_only_when_switched_on(model_type):
    inputs = batch()
    changed = {**inputs, "time_gap_ids": inputs["time_gap_ids"].flip(1).clamp(min=1)}
    changed["time_gap_ids"][0, 0] = 0
    with torch.no_grad():
        on = build(model_type, use_time_gaps=True)
        assert not torch.allclose(on.encode_sequences(**inputs), on.encode_sequences(**changed))
        off = build(model_type, use_time_gaps=False)
        assert torch.equal(off.encode_sequences(**inputs), off.encode_sequences(**changed))


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_categories_join_the_item_vectors_and_are_saved(model_type, tmp_path):
    model = build(model_type, num_categories=2, max_item_categories=2)
    table = torch.zeros(VOCAB, 2, dtype=torch.long)
    table[FIRST:FIRST + 3, 0] = 1       # items 0..2 in category 1
    table[FIRST + 2, 1] = 2             # item 2 also in category 2
    model.set_item_categories(table)
    before = model.item_embeddings().detach().clone()
    with torch.no_grad():
        model.embeddings.categories.embeddings.weight[1] += 1.0
    moved = (model.item_embeddings().detach() - before).abs().sum(dim=1) > 0
    assert moved.tolist() == [True, True, True] + [False] * (VOCAB - FIRST - 3)
    # The mean of two categories moves by half.
    delta = model.item_embeddings().detach() - before
    assert torch.allclose(delta[2], torch.full_like(delta[2], 0.5))

    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.embeddings.categories.table, table)
    inputs = batch()
    with torch.no_grad():
        assert torch.allclose(loaded.encode_sequences(**inputs), model.encode_sequences(**inputs))


def test_category_table_is_checked():
    model = build("sasrec", num_categories=2)
    with pytest.raises(ValueError, match="expected"):
        model.set_item_categories(torch.zeros(VOCAB, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="category ids must be in 0..2"):
        model.set_item_categories(torch.full((VOCAB, 1), 3))
    with pytest.raises(ValueError, match="no item categories"):
        build("sasrec").set_item_categories(torch.zeros(VOCAB, 1, dtype=torch.long))


def test_sasrec_stays_causal_with_time_gaps():
    model = build("sasrec", use_time_gaps=True)
    inputs = batch()
    inputs = {k: v[:, :4] for k, v in inputs.items()}
    later = {k: v.clone() for k, v in inputs.items()}
    later["time_gap_ids"][:, -1] = 30
    later["input_ids"][:, -1] = 12
    with torch.no_grad():
        a = model.encode(**{k: v for k, v in inputs.items() if k != "attention_mask"})
        b = model.encode(**{k: v for k, v in later.items() if k != "attention_mask"})
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6)
    assert not torch.allclose(a[:, -1], b[:, -1])
