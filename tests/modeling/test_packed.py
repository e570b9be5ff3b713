"""oneDNN-packed projections give the eager encoder's user vectors, and step aside where they do
not apply."""

import pytest
import torch

from recsft.modeling import Bert4RecConfig, Bert4RecModel, SASRecConfig, SASRecModel
from recsft.modeling.packed import PackedProjections, packed_projections, packing_available

needs_onednn = pytest.mark.skipif(not packing_available(),
                                  reason="this torch build has no oneDNN packed linears")


def _model(family: str, layers: int = 2, norm_first: bool = False, act: str | None = None):
    config_class, model_class = {"bert4rec": (Bert4RecConfig, Bert4RecModel),
                                 "sasrec": (SASRecConfig, SASRecModel)}[family]
    torch.manual_seed(0)
    extra = {} if act is None else {"hidden_act": act}
    config = config_class(vocab_size=54, first_item_id=4, num_token_types=6, hidden_size=16,
                          num_hidden_layers=layers, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=12,
                          norm_first=norm_first, **extra)
    model = model_class(config).eval()
    with torch.no_grad():  # biases and LayerNorms away from zero/identity, so misuse shows
        for name, parameter in model.named_parameters():
            if "bias" in name or "LayerNorm" in name or "final_layer_norm" in name:
                parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def _inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(4, 54, (5, 10), generator=g)
    ids[0, :4] = 0
    ids[2, :9] = 0  # a single real event
    types = torch.randint(4, 6, (5, 10), generator=g)
    return ids, types, (ids != 0).long()


@needs_onednn
@pytest.mark.parametrize("family,act", [("sasrec", None), ("bert4rec", None),
                                        ("sasrec", "gelu"), ("sasrec", "silu")])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("norm_first", [False, True])
def test_packed_encoding_equals_the_eager_one(family, act, layers, norm_first):
    model = _model(family, layers, norm_first, act)
    projections = packed_projections(model)
    assert [p.last for p in projections] == [False] * (layers - 1) + [True]
    with torch.inference_mode():
        eager = model.encode_sequences(*_inputs())
        packed = model.encode_sequences(*_inputs(), projections=projections)
    assert packed.shape == (5, 16)
    torch.testing.assert_close(packed, eager, atol=1e-5, rtol=1e-5)


@needs_onednn
def test_packs_are_a_snapshot_of_the_weights():
    model = _model("sasrec")
    projections = packed_projections(model)
    with torch.no_grad():
        model.encoder.layer[0].intermediate.dense.weight.mul_(2.0)
    with torch.inference_mode():
        stale = model.encode_sequences(*_inputs(), projections=projections)
        fresh = model.encode_sequences(*_inputs(), projections=packed_projections(model))
        eager = model.encode_sequences(*_inputs())
    torch.testing.assert_close(fresh, eager, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(stale, eager, atol=1e-3)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_no_packs_where_they_do_not_apply():
    from recsft.modeling import GRU4RecConfig, GRU4RecModel

    model = _model("sasrec")
    assert packed_projections(model.train()) is None
    assert packed_projections(_model("sasrec").double()) is None
    with torch.backends.mkldnn.flags(enabled=False):
        assert not packing_available()
        assert packed_projections(_model("sasrec")) is None
    rnn = GRU4RecModel(GRU4RecConfig(vocab_size=20, first_item_id=4, hidden_size=8)).eval()
    assert packed_projections(rnn) is None


@needs_onednn
def test_a_last_layer_pack_has_no_joint_query_key_value():
    model = _model("sasrec", layers=1)
    (last,) = packed_projections(model)
    assert isinstance(last, PackedProjections)
    with pytest.raises(ValueError, match="last layer"):
        last.query_key_value(torch.zeros(1, 2, 16))


def test_wrong_number_of_projections_is_refused():
    model = _model("sasrec", layers=2)
    with pytest.raises(ValueError, match="1 projections for 2 layers"):
        model.encode_sequences(*_inputs(), projections=[None])


@needs_onednn
def test_the_evaluation_scorer_encodes_through_packs_on_the_cpu():
    from recsft.scoring.model import model_scorer

    scorer = model_scorer(_model("bert4rec"))
    assert scorer.projections is not None
    batch = dict(zip(("input_ids", "token_type_ids", "attention_mask"), _inputs()))
    packed = scorer.query_vectors(batch)
    scorer.projections = None
    torch.testing.assert_close(packed, scorer.query_vectors(batch), atol=1e-5, rtol=1e-5)
