
import numpy as np
import pytest
import torch

from recsft.data.split import EvalSet
from recsft.evaluation.ranking import RankingEvaluator
from recsft.scoring.exact_search import filtered_top_k, search_pays
from recsft.scoring.model import ModelScorer
from tests.retrieval.tiny_run import ITEMS, tiny_parts  # noqa: E402


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
    evaluator = RankingEvaluator(eval_set, tokenizer, model.config, ks=(1, 2), batch_size=8)
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
    from recsft.scoring.vectors import VectorScorer

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


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_slices_ranked_where_they_are_encoded_give_the_whole_batch_lists(model_type,
                                                                        monkeypatch):
    import recsft.evaluation.ranking as ranking
    import recsft.scoring.model as scoring_model

    model, tokenizer = tiny_parts(model_type)
    eval_set = tiny_eval_set(n_users=30, seed=7)
    evaluator = RankingEvaluator(eval_set, tokenizer, model.config, ks=(1, 3), batch_size=30)
    rows = []
    ranked = evaluator._dense_top_k

    def recorded(scores, batch, k, **where):
        rows.append(where.get("rows"))
        return ranked(scores, batch, k, **where)

    monkeypatch.setattr(evaluator, "_dense_top_k", recorded)
    monkeypatch.setattr(ranking, "search_pays", lambda *args, **kwargs: False)
    monkeypatch.setattr(scoring_model, "CPU_ENCODE_TOKENS", 16)
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
