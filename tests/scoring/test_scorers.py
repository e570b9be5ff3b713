
import numpy as np
import pytest
import torch

import recsft.scoring.model as scoring_model
from recsft.scoring import vectors
from recsft.scoring.inputs import model_inputs
from recsft.scoring.model import ModelScorer
from recsft.scoring.popularity import popularity_scorer
from recsft.scoring.vectors import VectorScorer
from tests.retrieval.tiny_run import ITEMS, tiny_parts  # noqa: E402


def test_small_cpu_score_products_stay_in_torch_and_large_ones_use_numpy(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    items, users = torch.randn(50, 8, generator=generator), torch.randn(6, 8, generator=generator)
    scorer = VectorScorer(items)
    expected = users @ items.T
    torch.testing.assert_close(scorer.score_vectors(users), expected)
    numpy_items = scorer._items_t
    scorer._items_t = np.zeros_like(numpy_items)  # tells which path scored
    torch.testing.assert_close(scorer.score_vectors(users), expected)  # 2,400 MACs: torch
    monkeypatch.setattr(vectors, "NUMPY_PRODUCT_WORK", users.numel() * len(items))
    assert scorer.score_vectors(users).abs().sum() == 0  # at the threshold: numpy
    scorer._items_t = numpy_items
    torch.testing.assert_close(scorer.score_vectors(users), expected)


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec", "gru4rec"])
def test_model_scorer_encodes_cpu_batches_in_slices_with_the_same_vectors(model_type,
                                                                          monkeypatch):
    model, tokenizer = tiny_parts(model_type)
    rng = np.random.default_rng(3)
    histories = [list(rng.choice(ITEMS, size=rng.integers(1, 7), replace=False))
                 for _ in range(20)]
    histories.sort(key=len)  # as the evaluator's chunks: by history length
    batch = model_inputs(tokenizer, model.config, histories)
    calls = []
    original = model.encode_sequences

    def counted(input_ids, token_type_ids, attention_mask, *args, **kwargs):
        calls.append((input_ids.shape, int(attention_mask.sum(dim=1).max())))
        return original(input_ids, token_type_ids, attention_mask, *args, **kwargs)

    monkeypatch.setattr(model, "encode_sequences", counted)
    budget = 3 * batch["input_ids"].shape[1]
    monkeypatch.setattr(scoring_model, "CPU_ENCODE_TOKENS", budget)
    sliced = ModelScorer(model).query_vectors(batch)
    assert sum(shape[0] for shape, _ in calls) == 20
    # Each slice is cut to its longest row and holds at most the budget of positions.
    assert all(shape[1] == longest for shape, longest in calls)
    assert all(shape[0] * shape[1] <= budget for shape, _ in calls)
    assert min(shape[1] for shape, _ in calls) < batch["input_ids"].shape[1]
    assert len(calls) < 7  # fewer slices than without the cut (20 rows, 3 a slice)
    with torch.no_grad():
        whole = original(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    torch.testing.assert_close(sliced, whole, atol=1e-5, rtol=1e-5)  # packed vs eager maps


def test_popularity_scores_rank_by_count_with_ties_by_item_index():
    counts = np.array([1.0, 5.0, 5.0, 0.0])
    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "seen": torch.zeros(2, 1)}
    scores = popularity_scorer(counts)(batch)
    assert scores.shape == (2, 4)
    assert scores[0].argsort(descending=True).tolist() == [1, 2, 0, 3]
    assert torch.equal(scores[0], scores[1])
