import pytest
import torch
from transformers import AutoConfig, AutoModel

from recsft.modeling import Bert4RecConfig, Bert4RecModel


def tiny_model(**kwargs):
    torch.manual_seed(0)
    config = Bert4RecConfig(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                            num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            max_position_embeddings=12, **kwargs)
    return Bert4RecModel(config).eval()


def batch(seed=1, length=8):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 54, (3, length), generator=g)
    ids[0, :3] = 0  # left padding
    ids[:, -1] = 2  # [MASK] appended
    types = torch.randint(4, 6, (3, length), generator=g)
    return ids, types, (ids != 0).long()


def test_shapes_and_tied_scores():
    model = tiny_model()
    ids, types, mask = batch()
    users = model.encode_sequences(ids, types, mask)
    assert users.shape == (3, 16)
    assert model.item_embeddings().shape == (50, 16)
    labels = torch.full_like(ids, -100)
    labels[:, -1] = torch.tensor([5, 9, 53])
    out = model(ids, types, mask, labels=labels)
    assert out.logits.shape == (3, 50)
    # The output layer is the item embedding matrix: logits == user vectors · items.
    torch.testing.assert_close(out.logits, users @ model.item_embeddings().T)
    expected = torch.nn.functional.cross_entropy(out.logits, labels[:, -1] - 4)
    torch.testing.assert_close(out.loss, expected)


def test_padding_does_not_change_the_user_vector():
    model = tiny_model()
    ids, types, mask = batch()
    short = model.encode_sequences(ids[:1, 3:], types[:1, 3:], mask[:1, 3:])
    padded = model.encode_sequences(ids[:1], types[:1], mask[:1])
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-5)


def test_bidirectional_earlier_positions_see_later_items():
    model = tiny_model()
    ids, types, mask = batch()
    changed = ids.clone()
    changed[1, 6] = 4 if ids[1, 6] != 4 else 5
    before = model.encode(ids, types, mask)[1, 2]
    after = model.encode(changed, types, mask)[1, 2]
    assert not torch.allclose(before, after)


def test_save_load_round_trip_through_auto_classes(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert AutoConfig.from_pretrained(tmp_path).model_type == "recsft_bert4rec"
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, Bert4RecModel)
    ids, types, mask = batch()
    torch.testing.assert_close(loaded.encode_sequences(ids, types, mask),
                               model.encode_sequences(ids, types, mask))


def test_small_initialisation_of_item_embeddings():
    model = tiny_model()
    assert model.item_embeddings().std().item() == pytest.approx(0.02, rel=0.3)


def test_too_long_sequence_is_rejected():
    model = tiny_model()
    with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
        model.encode_sequences(torch.full((1, 13), 5))


def test_hidden_size_must_divide_heads():
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        Bert4RecConfig(hidden_size=30, num_attention_heads=4)


@pytest.mark.parametrize("padded", [True, False])
def test_sdpa_key_padding_mask_matches_transformers_eager_mask(padded):
    sdpa, eager = tiny_model(attn_implementation="sdpa"), tiny_model(attn_implementation="eager")
    ids, types, mask = batch()
    if not padded:
        ids, types, mask = ids[1:], types[1:], mask[1:]
    assert mask.all() != padded
    with torch.no_grad():
        fast, reference = sdpa.encode(ids, types, mask), eager.encode(ids, types, mask)
    real = mask.bool()
    torch.testing.assert_close(fast[real], reference[real], atol=1e-5, rtol=1e-5)
