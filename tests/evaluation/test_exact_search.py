import os
import sys

import numpy as np
import pytest
import torch

from recsft.data.split import EvalSet
from recsft.evaluation.exact_search import filtered_top_k, flat_index, search_pays
from recsft.evaluation.ranking import ModelScorer, RankingEvaluator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "retrieval"))
from tiny_run import ITEMS, tiny_parts  # noqa: E402


def dense_top_k(queries, items, k, exclude):
    scores = torch.from_numpy(queries @ items.T)
    for row, excluded in enumerate(exclude):
        scores[row, excluded[excluded >= 0]] = float("-inf")
    return scores.topk(k, dim=1).indices.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_filtered_top_k_equals_masked_dense_top_k(seed):
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(500, 8)).astype(np.float32)
    queries = rng.normal(size=(40, 8)).astype(np.float32)
    exclude = np.full((40, 12), -1, dtype=np.int64)
    for row in range(40):
        # Exclude some of the row's true best items, so that the filter really matters.
        best = np.argsort(-(queries[row] @ items.T))[:30]
        chosen = rng.choice(best, size=rng.integers(0, 13), replace=False)
        exclude[row, :len(chosen)] = chosen
    found = filtered_top_k(flat_index(items), queries, 10, exclude)
    assert found is not None and found.shape == (40, 10)
    np.testing.assert_array_equal(found, dense_top_k(queries, items, 10, exclude))
    assert not np.isin(found[0], exclude[0][exclude[0] >= 0]).any()


def test_filtered_top_k_without_exclusions_is_plain_search():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(200, 4)).astype(np.float32)
    queries = rng.normal(size=(5, 4)).astype(np.float32)
    expected = np.argsort(-(queries @ items.T), axis=1)[:, :7]
    np.testing.assert_array_equal(filtered_top_k(flat_index(items), queries, 7), expected)


def test_filtered_top_k_declines_what_it_cannot_answer_well():
    rng = np.random.default_rng(4)
    index = flat_index(rng.normal(size=(100, 4)).astype(np.float32))
    queries = rng.normal(size=(3, 4)).astype(np.float32)
    long_history = np.tile(np.arange(40), (3, 1))
    assert filtered_top_k(index, queries, 10, long_history) is None  # 50 > 100 / 8
    queries[1] = np.nan
    assert filtered_top_k(index, queries, 10) is None


def tiny_eval_set(n_users=30, seed=0):
    rng = np.random.default_rng(seed)
    histories = [list(rng.choice(ITEMS, size=rng.integers(1, 7), replace=False))
                 for _ in range(n_users)]
    targets = [str(rng.choice(ITEMS)) for _ in range(n_users)]
    return EvalSet([f"u{i}" for i in range(n_users)], histories,
                   [["view"] * len(h) for h in histories], targets)


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_evaluator_gives_the_same_lists_through_the_index_as_densely(model_type, monkeypatch):
    import recsft.evaluation.ranking as ranking

    answered = []

    def counted(*args, **kwargs):
        found = filtered_top_k(*args, **kwargs)
        answered.append(found is not None)
        return found

    def checked(*args, **kwargs):
        pays = search_pays(*args, **kwargs)
        if not pays:  # declined before the search, without calling it
            answered.append(False)
        return pays

    monkeypatch.setattr(ranking, "filtered_top_k", counted)
    monkeypatch.setattr(ranking, "search_pays", checked)
    monkeypatch.setattr(ranking, "EXACT_CHUNK_USERS", 8)
    model, tokenizer = tiny_parts(model_type)
    eval_set = tiny_eval_set()
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=8, ks=(1, 2),
                                 batch_size=8, append_mask=model_type == "bert4rec")
    scorer = ModelScorer(model)
    top_index, targets = evaluator.top_k(scorer)
    # Chunks of short histories go through the index; the longest (2 + 6 > 60 / 8) does not.
    assert answered and any(answered) and not all(answered)
    top_dense, targets_dense = evaluator.top_k(lambda batch: scorer(batch))
    np.testing.assert_array_equal(top_index, top_dense)
    np.testing.assert_array_equal(targets, targets_dense)
    seen = [set(tokenizer.items_to_ids(h)) for h in eval_set.histories]
    offset = tokenizer.first_item_id
    assert all(not (set(row + offset) & s) for row, s in zip(top_index, seen))


def test_vector_scorer_subclass_ranks_precomputed_vectors_exactly():
    from recsft.evaluation.ranking import VectorScorer

    model, tokenizer = tiny_parts("sasrec")
    eval_set = tiny_eval_set(n_users=12, seed=5)
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(12, 16, generator=generator)
    items = torch.randn(tokenizer.num_items, 16, generator=generator)

    class Lookup(VectorScorer):
        def query_vectors(self, batch):
            return users[batch["index"]]

    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=8, ks=(2,), batch_size=4,
                                 append_mask=False)
    top, _ = evaluator.top_k(Lookup(items))
    scores = users @ items.T
    offset = tokenizer.first_item_id
    for row, history in enumerate(eval_set.histories):
        scores[row, [i - offset for i in tokenizer.items_to_ids(history)]] = float("-inf")
    np.testing.assert_array_equal(top, scores.topk(2, dim=1).indices.numpy())


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec", "gru4rec"])
def test_model_scorer_encodes_cpu_batches_in_slices_with_the_same_vectors(model_type,
                                                                          monkeypatch):
    import recsft.evaluation.ranking as ranking

    model, tokenizer = tiny_parts(model_type)
    evaluator = RankingEvaluator(tiny_eval_set(n_users=20, seed=3), tokenizer, max_length=8,
                                 ks=(2,), batch_size=20, append_mask=model_type == "bert4rec")
    batch = evaluator._batches(None, 20)[0]
    calls = []
    original = model.encode_sequences

    def counted(input_ids, token_type_ids, attention_mask, *args, **kwargs):
        calls.append((input_ids.shape, int(attention_mask.sum(dim=1).max())))
        return original(input_ids, token_type_ids, attention_mask, *args, **kwargs)

    monkeypatch.setattr(model, "encode_sequences", counted)
    budget = 3 * batch["input_ids"].shape[1]
    monkeypatch.setattr(ranking, "CPU_ENCODE_TOKENS", budget)
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


def test_cpu_slices_fit_the_budget_at_each_slice_longest_row():
    from recsft.evaluation.ranking import cpu_slices

    lengths = torch.tensor([1, 2, 2, 3, 5, 8, 8, 8, 10, 10])
    slices = cpu_slices(lengths, 10, 16)
    assert slices[0][0] == 0 and slices[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    for start, stop, first in slices:
        longest = int(lengths[start:stop].max())
        assert first == 10 - longest
        assert (stop - start) * longest <= 16 or stop - start == 1
    assert cpu_slices(torch.tensor([4, 4]), 4, 1) == [(0, 1, 0), (1, 2, 0)]


def test_search_pays_exactly_where_filtered_top_k_searches():
    items = np.random.default_rng(0).standard_normal((80, 4)).astype(np.float32)
    index = flat_index(items)
    queries = np.ones((10, 4), dtype=np.float32)
    for width in (0, 3, 5, 6, 20):
        exclude = np.tile(np.arange(width), (10, 1)) if width else np.zeros((10, 0), np.int64)
        counts = (exclude >= 0).sum(axis=1)
        found = filtered_top_k(index, queries, 5, exclude, max_depth_share=0.125)
        assert search_pays(counts, 5, 80, max_depth_share=0.125) == (found is not None)


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_slices_ranked_where_they_are_encoded_give_the_whole_batch_lists(model_type,
                                                                        monkeypatch):
    import recsft.evaluation.ranking as ranking

    model, tokenizer = tiny_parts(model_type)
    eval_set = tiny_eval_set(n_users=30, seed=7)
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=8, ks=(1, 3), batch_size=30,
                                 append_mask=model_type == "bert4rec")
    rows = []
    ranked = evaluator._dense_top_k

    def recorded(scores, batch, k, **where):
        rows.append(where.get("rows"))
        return ranked(scores, batch, k, **where)

    monkeypatch.setattr(evaluator, "_dense_top_k", recorded)
    monkeypatch.setattr(ranking, "search_pays", lambda *args, **kwargs: False)
    monkeypatch.setattr(ranking, "CPU_ENCODE_TOKENS", 16)
    scorer = ModelScorer(model)
    top_sliced, targets = evaluator.top_k(scorer)
    # Several slices of the one batch, each ranked on its own rows (in the worker threads, so
    # recorded as they finish), together covering every row once.
    rows.sort()
    assert len(rows) > 2 and rows[0][0] == 0 and rows[-1][1] == 30
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    rows.clear()
    top_whole, targets_whole = evaluator.top_k(lambda batch: scorer(batch))
    assert rows == [None]  # a plain scorer: the whole batch at once
    np.testing.assert_array_equal(top_sliced, top_whole)
    np.testing.assert_array_equal(targets, targets_whole)
    seen = [set(tokenizer.items_to_ids(h)) for h in eval_set.histories]
    offset = tokenizer.first_item_id
    assert all(not (set(row + offset) & s) for row, s in zip(top_sliced, seen))
