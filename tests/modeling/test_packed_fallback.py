"""The private oneDNN ops of :mod:`recsft.modeling.packed` sit behind one guard: where they are
missing, fail or compute something else, the guard answers ``None`` and evaluation scores come
from the eager maps — the same numbers (issue 22)."""

import pytest
import torch

from recsft.modeling import packed
from recsft.modeling.packed import onednn_kernels, packed_projections, packing_available
from recsft.scoring.model import model_scorer
from tests.modeling.test_packed import _inputs, _model

needs_onednn = pytest.mark.skipif(not packing_available(),
                                  reason="this torch build has no usable oneDNN packed linears")


def _scores(model):
    """Full-catalogue scores ``(5, 50)`` of the tiny batch, and the scorer's projections."""
    scorer = model_scorer(model)
    batch = dict(zip(("input_ids", "token_type_ids", "attention_mask"), _inputs()))
    return scorer.score_vectors(scorer.query_vectors(batch)), scorer.projections


def _missing():
    raise AttributeError("'_OpNamespace' 'mkldnn' object has no attribute '_linear_pointwise'")


def _changed_signature():
    real = packed._lookup_kernels()

    def pointwise(*args):  # a release that takes other arguments
        raise TypeError("_linear_pointwise() expected at most 5 arguments")

    return real._replace(pointwise=pointwise)


def _wrong_numbers():
    real = packed._lookup_kernels()
    return real._replace(binary=lambda x, other, *rest: other)  # forgets the product


@needs_onednn
def test_the_guard_accepts_the_real_kernels():
    kernels = onednn_kernels()
    assert kernels is not None and kernels is onednn_kernels()  # checked once, then kept
    assert packed_projections(_model("sasrec")) is not None


@pytest.mark.parametrize("lookup", [_missing, _changed_signature, _wrong_numbers],
                         ids=["missing", "changed-signature", "wrong-numbers"])
@pytest.mark.parametrize("family", ["sasrec", "bert4rec"])
def test_a_broken_kernel_falls_back_to_the_eager_maps_with_the_same_scores(
        monkeypatch, lookup, family):
    model = _model(family)
    before, projections = _scores(model)  # real oneDNN kernels where this build has them
    assert (projections is not None) == packing_available()

    monkeypatch.setattr(packed, "_KERNELS", False)  # a fresh process: not checked yet
    monkeypatch.setattr(packed, "_lookup_kernels", lookup)
    assert onednn_kernels() is None
    assert not packing_available()
    after, projections = _scores(model)
    assert projections is None  # the eager maps: nn.functional.linear
    assert after.shape == (5, 50)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="not usable"):
        packed.PackedProjections(model.encoder.layer[0])
