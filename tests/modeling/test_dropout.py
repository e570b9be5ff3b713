import pytest
import torch
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from recsft.modeling.bert4rec import Bert4RecModel
from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.dropout import Dropout, apply_dropout, attention_forward, keep_mask
from recsft.modeling.sasrec import SASRecModel


def test_keep_mask_drops_with_probability_p_independently():
    torch.manual_seed(0)
    for p in (0.1, 0.2, 0.5):
        mask = ~keep_mask((400, 500), p)
        assert mask.shape == (400, 500) and mask.dtype == torch.bool
        # 200,000 draws: the standard error of the rate is below 0.0012.
        assert abs(mask.float().mean().item() - p) < 0.005
        # Neighbours (the four 16-bit parts of one 64-bit draw) are not correlated.
        flat = mask.flatten().float()
        pairs = (flat[:-1] * flat[1:]).mean().item()
        assert abs(pairs - p * p) < 0.005
    assert keep_mask((1000,), 0.0).all()
    assert keep_mask((7, 3), 0.3).shape == (7, 3)  # a count not divisible by four


def test_apply_dropout_zeroes_and_scales_and_its_gradient_follows_the_mask():
    torch.manual_seed(1)
    hidden = torch.randn(50, 40, requires_grad=True)
    out = apply_dropout(hidden, 0.25)
    kept = out != 0
    assert torch.allclose(out[kept], hidden.detach()[kept] / 0.75)
    out.sum().backward()
    assert torch.allclose(hidden.grad, kept.float() / 0.75)
    assert apply_dropout(hidden, 0.25, training=False) is hidden
    assert apply_dropout(hidden, 0.0) is hidden


def test_dropout_module_is_the_identity_in_eval_mode():
    module = Dropout(0.3)
    hidden = torch.randn(4, 5)
    assert torch.equal(module.eval()(hidden), hidden)
    assert (module.train()(torch.ones(1000)) == 0).any()


def _qkv(seed=0, batch=3, heads=2, length=6, dim=4):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=g) for _ in range(3)]


class _Module(nn.Module):
    def __init__(self, is_causal):
        super().__init__()
        self.is_causal = is_causal


@pytest.mark.parametrize("mask_kind", ["bool", "additive", "causal", "none"])
def test_attention_without_dropout_is_sdpa(mask_kind):
    query, key, value = _qkv()
    module, mask = _Module(mask_kind == "causal"), None
    if mask_kind in ("bool", "additive"):
        mask = torch.ones(3, 1, 6, 6, dtype=torch.bool).tril()
        if mask_kind == "additive":
            mask = torch.zeros(3, 1, 6, 6).masked_fill(~mask, float("-inf"))
    ours, _ = attention_forward(module, query, key, value, mask, dropout=0.0)
    theirs, _ = sdpa_attention_forward(module, query, key, value, mask, dropout=0.0)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("mask_kind", ["bool", "additive", "causal", "none"])
def test_attention_with_dropout_drops_weights_of_the_attention(mask_kind):
    """With dropout, the output is softmax(q kᵀ/√d + mask) with the drawn mask's weights zeroed
    and the rest scaled, times v: recomputed here by hand from the same random draw."""
    query, key, value = _qkv(seed=3)
    module = _Module(mask_kind == "causal")
    keep = torch.ones(3, 1, 6, 6, dtype=torch.bool).tril()
    keep[0, :, :, :2] = False
    keep |= torch.eye(6, dtype=torch.bool)
    mask = {"bool": keep, "none": None, "causal": None,
            "additive": torch.zeros(3, 1, 6, 6).masked_fill(~keep, float("-inf"))}[mask_kind]
    torch.manual_seed(7)
    ours, _ = attention_forward(module, query, key, value, mask, dropout=0.3)
    torch.manual_seed(7)
    dropped = ~keep_mask((3, 2, 6, 6), 0.3)
    scores = query @ key.transpose(-1, -2) / 2.0
    if mask_kind in ("bool", "additive"):
        scores = scores.masked_fill(~keep, float("-inf"))
    elif mask_kind == "causal":
        scores = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    weights = scores.softmax(-1).masked_fill(dropped, 0.0) / 0.7
    expected = (weights @ value).transpose(1, 2)
    assert ours.shape == (3, 6, 2, 4)
    assert torch.allclose(ours, expected, atol=1e-6)


def _model(model_type, norm_first=False, dropout=0.0):
    torch.manual_seed(0)
    config_class, model_class = {"sasrec": (SASRecConfig, SASRecModel),
                                 "bert4rec": (Bert4RecConfig, Bert4RecModel)}[model_type]
    config = config_class(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          max_position_embeddings=12, norm_first=norm_first,
                          hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = model_class(config)
    model.set_attn_implementation("sdpa")
    return model


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_training_forward_without_dropout_equals_evaluation(model_type, norm_first):
    """Training runs the layers through recsft's restatement; with dropout off it must compute
    what the evaluation path (transformers' encoder, or the pre-LayerNorm blocks) does."""
    model = _model(model_type, norm_first)
    ids = torch.randint(4, 54, (3, 8), generator=torch.Generator().manual_seed(1))
    ids[0, :3] = 0
    mask = (ids != 0).long()
    trained = model.train().encode(ids, attention_mask=mask)
    evaluated = model.eval().encode(ids, attention_mask=mask)
    real = mask.bool()
    assert torch.allclose(trained[real], evaluated[real], atol=1e-5)


def test_models_use_recsft_dropout_and_keep_their_weights():
    model = _model("sasrec", dropout=0.2)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is Dropout for m in dropouts)
    assert all(m.p == 0.2 for m in dropouts)
    ids = torch.randint(4, 54, (2, 8), generator=torch.Generator().manual_seed(2))
    model.train()
    first, second = model.encode(ids), model.encode(ids)
    assert not torch.allclose(first, second)  # dropout is active in training
    model.eval()
    assert torch.equal(model.encode(ids), model.encode(ids))
