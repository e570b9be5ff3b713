"""The shortcut of ``encode_sequences`` (fused projections, last query only in the last layer)
gives the full encoder's last state."""

import pytest
import torch

from recsft.modeling import Bert4RecConfig, Bert4RecModel, SASRecConfig, SASRecModel


@pytest.mark.parametrize("family", ["bert4rec", "sasrec"])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encode_sequences_equals_the_last_state_of_the_full_encoder(
        family, implementation, layers, padded, norm_first):
    config_class, model_class = {"bert4rec": (Bert4RecConfig, Bert4RecModel),
                                 "sasrec": (SASRecConfig, SASRecModel)}[family]
    torch.manual_seed(0)
    config = config_class(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=layers, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=12,
                          attn_implementation=implementation, norm_first=norm_first)
    model = model_class(config).eval()
    if norm_first:  # LayerNorms away from their identity start, so that misplacing one shows
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "LayerNorm" in name or "final_layer_norm" in name:
                    parameter.add_(0.3 * torch.randn_like(parameter))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(4, 54, (4, 10), generator=g)
    if padded:
        ids[0, :4] = 0
        ids[2, :9] = 0  # a single real event
    types = torch.randint(4, 6, (4, 10), generator=g)
    mask = (ids != 0).long()
    with torch.no_grad():
        fast = model.encode_sequences(ids, types, mask)
        full = model.output_transform(model.encode(ids, types, mask)[:, -1])
    assert fast.shape == (4, 16)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_the_shortcut_has_gradients_like_the_full_encoder(norm_first):
    torch.manual_seed(0)
    config = SASRecConfig(vocab_size=30, first_item_id=4, num_token_types=6, hidden_size=8,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                          max_position_embeddings=8, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0, norm_first=norm_first)
    model = SASRecModel(config).train()
    ids = torch.randint(4, 30, (2, 6))
    types = torch.full_like(ids, 4)
    model.encode_sequences(ids, types).sum().backward()
    fast = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.output_transform(model.encode(ids, types)[:, -1]).sum().backward()
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            torch.testing.assert_close(fast[name], parameter.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_norm_first_blocks_are_torchs_pre_layernorm_encoder_layers(implementation):
    """Each ``norm_first`` block computes what ``nn.TransformerEncoderLayer(norm_first=True)``
    does with the same weights (causal mask, no dropout), then the final LayerNorm."""
    torch.manual_seed(0)
    config = SASRecConfig(vocab_size=30, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                          max_position_embeddings=8, norm_first=True, use_event_types=False,
                          attn_implementation=implementation)
    model = SASRecModel(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    ids = torch.randint(4, 30, (3, 8))
    with torch.no_grad():
        ours = model.encode(ids)
        hidden = model.embeddings(ids)
        causal = torch.ones(8, 8, dtype=torch.bool).triu(1)  # True: not allowed
        for block in model.encoder.layer:
            attention = block.attention
            reference = torch.nn.TransformerEncoderLayer(
                16, 2, 24, dropout=0.0, activation="relu", batch_first=True, norm_first=True,
                layer_norm_eps=config.layer_norm_eps).eval()
            projections = (attention.self.query, attention.self.key, attention.self.value)
            reference.self_attn.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))
            reference.self_attn.in_proj_bias.copy_(torch.cat([p.bias for p in projections]))
            reference.self_attn.out_proj.load_state_dict(attention.output.dense.state_dict())
            reference.norm1.load_state_dict(attention.output.LayerNorm.state_dict())
            reference.linear1.load_state_dict(block.intermediate.dense.state_dict())
            reference.linear2.load_state_dict(block.output.dense.state_dict())
            reference.norm2.load_state_dict(block.output.LayerNorm.state_dict())
            hidden = reference(hidden, src_mask=causal)
        expected = model.final_layer_norm(hidden)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    post = SASRecModel(SASRecConfig(**{**config.to_dict(), "norm_first": False})).eval()
    post.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(post.encode(ids), ours, atol=1e-3)
