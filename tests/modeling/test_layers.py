"""The shortcut of ``encode_sequences`` (fused projections, last query only in the last layer)
gives the full encoder's last state."""

import pytest
import torch

from recsft.modeling import Bert4RecConfig, Bert4RecModel, SASRecConfig, SASRecModel


@pytest.mark.parametrize("family", ["bert4rec", "sasrec"])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("padded", [True, False])
def test_encode_sequences_equals_the_last_state_of_the_full_encoder(
        family, implementation, layers, padded):
    config_class, model_class = {"bert4rec": (Bert4RecConfig, Bert4RecModel),
                                 "sasrec": (SASRecConfig, SASRecModel)}[family]
    torch.manual_seed(0)
    config = config_class(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=layers, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=12,
                          attn_implementation=implementation)
    model = model_class(config).eval()
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


def test_the_shortcut_has_gradients_like_the_full_encoder():
    torch.manual_seed(0)
    config = SASRecConfig(vocab_size=30, first_item_id=4, num_token_types=6, hidden_size=8,
                          num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                          max_position_embeddings=8, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)
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
