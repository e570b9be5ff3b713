"""Models that read item text: every model type, both representations, the id mask, new items
and a save/load round trip."""

from __future__ import annotations

import pytest
import torch

from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.configuration_rnn import GRU4RecConfig, LSTMAttentionConfig
from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.item_text import TextAdaptor

CONFIGS = {"bert4rec": Bert4RecConfig, "sasrec": SASRecConfig, "gru4rec": GRU4RecConfig,
           "lstm_attention": LSTMAttentionConfig}
FIRST, ITEMS, TEXT_DIM = 4, 20, 12


def _model(model_type: str, representation: str, fusion: str = "sum", seed: int = 0):
    from recsft.modeling import type_classes

    _, model_class = type_classes(model_type)
    torch.manual_seed(seed)
    config = CONFIGS[model_type](vocab_size=FIRST + ITEMS, first_item_id=FIRST, hidden_size=16,
                                 max_position_embeddings=8, item_representation=representation,
                                 text_fusion=fusion, text_dim=TEXT_DIM, text_experts=3)
    model = model_class(config).eval()
    texts = torch.randn(ITEMS, TEXT_DIM, generator=torch.Generator().manual_seed(1))
    model.set_item_text(texts)
    return model, texts


def test_adaptor_is_the_mixture_of_whitened_projections():
    torch.manual_seed(0)
    adaptor = TextAdaptor(6, 4, experts=3, dropout=0.0).eval()
    torch.nn.init.normal_(adaptor.bias)
    x = torch.randn(5, 6)
    weights = torch.softmax(adaptor.gate(x), dim=-1)
    w = adaptor.experts.weight.view(3, 4, 6)
    expected = sum(weights[:, k, None] * ((x - adaptor.bias[k]) @ w[k].T) for k in range(3))
    torch.testing.assert_close(adaptor(x), expected)


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
@pytest.mark.parametrize("representation", ["text", "id+text"])
def test_every_model_reads_text_on_both_sides(model_type, representation):
    model, texts = _model(model_type, representation)
    ids = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11]])
    labels = torch.full_like(ids, -100)
    labels[:, -1] = torch.tensor([12, 13])
    model.train()
    out = model(input_ids=ids, labels=labels)
    out.loss.backward()
    adaptor = model.embeddings.text.adaptor
    assert adaptor.experts.weight.grad is not None and adaptor.experts.weight.grad.abs().sum() > 0
    model.eval()
    # The output side: changing one item's text changes its column only.
    before = model.item_embeddings().detach().clone()
    changed = texts.clone()
    changed[3] += 5.0
    model.set_item_text(changed)
    after = model.item_embeddings().detach()
    assert not torch.allclose(after[3], before[3])
    torch.testing.assert_close(after[torch.arange(ITEMS) != 3], before[torch.arange(ITEMS) != 3])


@pytest.mark.parametrize("fusion", ["sum", "concat", "gate"])
def test_items_without_an_id_are_scored_from_text_alone(fusion):
    model, texts = _model("sasrec", "id+text", fusion)
    has_id = torch.ones(ITEMS, dtype=torch.bool)
    has_id[:5] = False
    model.set_item_text(texts, has_id)
    with torch.no_grad():
        model.embeddings.items.weight[FIRST:FIRST + 5] += 100.0  # never read
        model.embeddings.items.weight[FIRST + 5] += 100.0        # read
    matrix = model.item_embeddings()
    text = model.embeddings.text
    zero = torch.zeros(5, 16)
    expected = text(torch.arange(FIRST, FIRST + 5), zero)
    torch.testing.assert_close(matrix[:5], expected)
    assert matrix[5].abs().max() > 10  # a warm item keeps its id
    assert model.embeddings.text.id_mask[:FIRST].tolist() == [1.0] * FIRST


def test_text_only_reads_no_item_id():
    model, _ = _model("bert4rec", "text")
    before = model.item_embeddings().detach().clone()
    with torch.no_grad():
        model.embeddings.items.weight[FIRST:] += 50.0
    torch.testing.assert_close(model.item_embeddings().detach(), before)


@pytest.mark.parametrize("model_type", ["sasrec", "gru4rec"])
def test_new_items_leave_the_old_scores_as_they_were(model_type, tmp_path):
    from recsft.modeling.factory import load_model

    model, _ = _model(model_type, "id+text")
    ids = torch.tensor([[0, 5, 6, 7]])
    users = model.encode_sequences(ids).detach()
    old = (users @ model.item_embeddings().T).detach()
    new = torch.randn(3, TEXT_DIM)
    model.add_items(new)
    assert model.config.vocab_size == FIRST + ITEMS + 3
    scores = (model.encode_sequences(ids) @ model.item_embeddings().T).detach()
    torch.testing.assert_close(scores[:, :ITEMS], old)
    assert scores.shape == (1, ITEMS + 3)
    model.save_pretrained(tmp_path)
    again = load_model(tmp_path)
    torch.testing.assert_close((again.encode_sequences(ids) @ again.item_embeddings().T
                                ).detach(), scores)
    assert again.embeddings.text.id_mask[-3:].tolist() == [0.0, 0.0, 0.0]


def test_an_id_model_takes_no_text():
    from recsft.modeling.sasrec import SASRecModel

    model = SASRecModel(SASRecConfig(vocab_size=FIRST + ITEMS, first_item_id=FIRST))
    with pytest.raises(ValueError, match="reads no item text"):
        model.set_item_text(torch.zeros(ITEMS, 4))
    with pytest.raises(ValueError, match="item_representation is 'id'"):
        model.add_items(torch.zeros(1, 4))


def test_text_needs_its_width_and_known_values():
    with pytest.raises(ValueError, match="item_representation"):
        SASRecConfig(item_representation="words")
    with pytest.raises(ValueError, match="text_fusion"):
        SASRecConfig(text_fusion="product")
    from recsft.modeling.sasrec import SASRecModel

    with pytest.raises(ValueError, match="text_dim is 0"):
        SASRecModel(SASRecConfig(item_representation="text"))


def test_id_dropout_leaves_out_ids_in_training_only():
    from recsft.modeling import type_classes

    _, model_class = type_classes("sasrec")
    torch.manual_seed(0)
    config = SASRecConfig(vocab_size=FIRST + ITEMS, first_item_id=FIRST, hidden_size=16,
                          max_position_embeddings=8, item_representation="id+text",
                          text_dim=TEXT_DIM, id_dropout=0.5)
    model = model_class(config)
    model.set_item_text(torch.randn(ITEMS, TEXT_DIM))
    model.embeddings.text.adaptor.dropout.p = 0.0
    with torch.no_grad():
        model.embeddings.items.weight += 10.0
    text = model.embeddings.text
    ids = torch.arange(FIRST + ITEMS).repeat(50)
    ids_vectors = model.embeddings.items(ids)
    text_only = text.adaptor(text.text_vectors[ids])
    model.train()
    fused = text(ids, ids_vectors)
    dropped = torch.isclose(fused, text_only).all(dim=1)
    assert 0.4 < dropped[ids >= FIRST].float().mean() < 0.6
    assert not dropped[ids < FIRST].any()  # special tokens keep their id
    model.eval()
    assert not torch.isclose(text(ids, ids_vectors), text_only).all(dim=1).any()
    with pytest.raises(ValueError, match="id_dropout"):
        SASRecConfig(id_dropout=1.0)
