import json

import pytest
import torch
from transformers import AutoConfig, AutoModel

from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.sasrec import SASRecModel
from recsft.tokenization import pad_left
from recsft.training.collators import CausalCollator

# recsft.modeling registers the family with the Auto classes; registering again is a no-op.
AutoConfig.register(SASRecConfig.model_type, SASRecConfig, exist_ok=True)
AutoModel.register(SASRecConfig, SASRecModel, exist_ok=True)


def tiny_model(attn_implementation="sdpa", **kwargs):
    torch.manual_seed(0)
    config = SASRecConfig(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          max_position_embeddings=12, **kwargs)
    model = SASRecModel(config).eval()
    model.set_attn_implementation(attn_implementation)
    return model


def batch(seed=1, length=8):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 54, (3, length), generator=g)
    ids[0, :3] = 0  # left padding
    ids[2, :1] = 0
    types = torch.randint(4, 6, (3, length), generator=g)
    types[ids == 0] = 0
    return ids, types, (ids != 0).long()


def next_item_labels(ids):
    """Labels as the CausalCollator makes them: the next input at every real position."""
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    labels[ids == 0] = -100
    return labels


def test_config_defaults_and_class_attributes():
    config = SASRecConfig()
    assert config.model_type == "recsft_sasrec"
    assert config.uses_mask_token is False and config.to_dict()["uses_mask_token"] is False
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        SASRecConfig(uses_mask_token=True)
    assert config.is_decoder and not config.add_cross_attention
    assert not config.use_output_transform
    assert (config.loss, config.num_negatives, config.negative_sampling, config.gbce_t) == (
        "ce", 256, "uniform", 0.75
    )


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_shapes_tied_scores_and_hand_computed_loss(attn_implementation):
    model = tiny_model(attn_implementation)
    ids, types, mask = batch()
    users = model.encode_sequences(ids, types, mask)
    assert users.shape == (3, 16)
    assert model.item_embeddings().shape == (50, 16)
    labels = next_item_labels(ids)
    out = model(ids, types, mask, labels=labels)
    selected = labels != -100
    assert out.last_hidden_state.shape == (3, 8, 16)
    assert out.logits.shape == (int(selected.sum()), 50)
    # The output layer is the item embedding matrix: logits == hidden states · items.
    hidden = out.last_hidden_state[selected]
    torch.testing.assert_close(out.logits, hidden @ model.item_embeddings().T)
    # The user vector is the newest position's hidden state.
    torch.testing.assert_close(users, out.last_hidden_state[:, -1])
    # Cross-entropy by hand: log-sum-exp minus the target's logit, averaged over positions.
    targets = labels[selected] - 4
    rows = torch.arange(len(targets))
    expected = (out.logits.logsumexp(dim=-1) - out.logits[rows, targets]).mean()
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_causal_outputs_do_not_see_later_items(attn_implementation):
    model = tiny_model(attn_implementation)
    ids, types, mask = batch()
    t = 5
    changed, changed_types = ids.clone(), types.clone()
    changed[:, t + 1:] = torch.where(ids[:, t + 1:] == 4, 5, 4)
    changed_types[:, t + 1:] = torch.where(types[:, t + 1:] == 4, 5, 4)
    before = model.encode(ids, types, mask)
    after = model.encode(changed, changed_types, mask)
    real = mask[:, : t + 1].bool()
    torch.testing.assert_close(before[:, : t + 1][real], after[:, : t + 1][real])
    assert not torch.allclose(before[:, t + 1:], after[:, t + 1:])
    # Without padding SDPA gets no explicit mask and relies on is_causal (config.is_decoder).
    alone = model.encode(ids[1:2], types[1:2], mask[1:2])
    torch.testing.assert_close(alone[:, : t + 1], model.encode(changed[1:2], changed_types[1:2],
                                                               mask[1:2])[:, : t + 1])


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_attention_mask_is_causal_and_padding_aware_with_no_empty_row(attn_implementation):
    model = tiny_model(attn_implementation)
    ids, types, mask = batch()
    built = model._causal_mask(model.embeddings(ids, types), mask)[:, 0]  # (batch, L, L)
    allowed = built if built.dtype == torch.bool else built == 0
    length = ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    real = mask.bool()
    expected = causal & real[:, None, :]  # a real query sees the real keys up to itself
    assert torch.equal(allowed[real], expected[real])
    # A padding query has no earlier real key: it sees only itself (no empty softmax row).
    itself = torch.eye(length, dtype=torch.bool).expand(3, -1, -1)
    assert torch.equal(allowed[~real], itself[~real])


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_left_padding_does_not_change_the_user_vector(attn_implementation):
    model = tiny_model(attn_implementation)
    ids, types, mask = batch()
    short = model.encode_sequences(ids[:1, 3:], types[:1, 3:], mask[:1, 3:])
    padded = model.encode_sequences(ids[:1], types[:1], mask[:1])
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-5)
    # Every real position agrees, not only the newest one.
    torch.testing.assert_close(model.encode(ids[:1, 3:], types[:1, 3:], mask[:1, 3:]),
                               model.encode(ids[:1], types[:1], mask[:1])[:, 3:],
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_padding_rows_stay_finite_and_gradients_too(attn_implementation):
    model = tiny_model(attn_implementation).train()
    ids, types, mask = batch()
    ids[1] = 0  # a row of padding only
    types[1], mask[1] = 0, 0
    out = model(ids, types, mask, labels=next_item_labels(ids))
    assert torch.isfinite(out.last_hidden_state).all()
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_no_labelled_position_gives_a_zero_loss():
    model = tiny_model().train()
    ids, types, mask = batch()
    out = model(ids, types, mask, labels=torch.full_like(ids, -100))
    assert out.loss.item() == 0.0 and out.logits.shape == (0, 50)
    out.loss.backward()
    assert model.embeddings.items.weight.grad is not None


@pytest.mark.parametrize("norm_first", [False, True])
def test_save_load_round_trip_through_auto_classes(tmp_path, norm_first):
    model = tiny_model(loss="ce", num_negatives=16, negative_sampling="popularity", gbce_t=0.5,
                       norm_first=norm_first)
    if norm_first:
        with torch.no_grad():
            model.final_layer_norm.weight.mul_(1.5)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "recsft_sasrec" and saved["num_negatives"] == 16
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, SASRecConfig) and config.uses_mask_token is False
    assert (config.loss, config.num_negatives, config.negative_sampling, config.gbce_t) == (
        "ce", 16, "popularity", 0.5
    )
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, SASRecModel) and loaded.config.is_decoder
    assert loaded.config.norm_first is norm_first
    ids, types, mask = batch()
    torch.testing.assert_close(loaded.encode_sequences(ids, types, mask),
                               model.encode_sequences(ids, types, mask))


def test_output_transform_is_optional():
    model = tiny_model(use_output_transform=True)
    ids, types, mask = batch()
    labels = next_item_labels(ids)
    out = model(ids, types, mask, labels=labels)
    queries = model.output_transform(out.last_hidden_state[labels != -100])
    torch.testing.assert_close(out.logits, queries @ model.item_embeddings().T)


def test_small_initialisation_of_item_embeddings():
    model = tiny_model()
    assert model.item_embeddings().std().item() == pytest.approx(0.02, rel=0.3)


def test_too_long_sequence_is_rejected():
    model = tiny_model()
    with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
        model.encode_sequences(torch.full((1, 13), 5))


def test_hidden_size_must_divide_heads():
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        SASRecConfig(hidden_size=30, num_attention_heads=4)


def test_learns_a_deterministic_successor_pattern():
    """Item i is always followed by item i + 1 (cyclically): top-1 next item is learnable."""
    torch.manual_seed(0)
    num_items, first = 30, 4
    config = SASRecConfig(vocab_size=first + num_items, first_item_id=first, num_token_types=5,
                          hidden_size=32, num_hidden_layers=1, num_attention_heads=1,
                          intermediate_size=32, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0, max_position_embeddings=8)
    model = SASRecModel(config)
    collator = CausalCollator(pad_token_id=0, max_length=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def sequences(n, generator):
        starts = torch.randint(0, num_items, (n,), generator=generator).tolist()
        lengths = torch.randint(2, 10, (n,), generator=generator).tolist()
        return [[first + (s + k) % num_items for k in range(n_)] for s, n_ in zip(starts, lengths)]

    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(100):
        rows = sequences(32, g)
        features = [{"input_ids": r, "token_type_ids": [4] * len(r)} for r in rows]
        loss = model(**collator(features)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    histories = sequences(200, torch.Generator().manual_seed(1))
    held_out = pad_left([h[-8:] for h in histories], [[4] * len(h[-8:]) for h in histories],
                        return_tensors="pt")
    with torch.no_grad():
        users = model.encode_sequences(
            held_out["input_ids"], held_out["token_type_ids"], held_out["attention_mask"]
        )
    predicted = (users @ model.item_embeddings().T).argmax(dim=-1) + first
    expected = torch.tensor([first + (h[-1] - first + 1) % num_items for h in histories])
    assert (predicted == expected).float().mean().item() > 0.9
