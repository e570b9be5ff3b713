import numpy as np
import pytest
import torch

from recsft.data.split import EvalSet
from recsft.evaluation.ranking import RankingEvaluator, popularity_scorer
from recsft.tokenization import BehaviorTokenizer


def setup(n_users=50, n_items=30, seed=0):
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(n_items)]
    tokenizer = BehaviorTokenizer.from_sequences([items])
    histories = [list(rng.choice(items, size=rng.integers(1, 8), replace=False))
                 for _ in range(n_users)]
    targets = [str(rng.choice(items)) for _ in range(n_users)]
    eval_set = EvalSet([f"u{i}" for i in range(n_users)], histories,
                       [["view"] * len(h) for h in histories], targets)
    scores = torch.from_numpy(rng.normal(size=(n_users, n_items)).astype(np.float32))
    return tokenizer, eval_set, scores


def brute_force(eval_set, scores, k, filter_seen):
    ndcg, recall = [], []
    for u, target in enumerate(eval_set.targets):
        s = scores[u].numpy().copy()
        if filter_seen:
            s[[int(i[1:]) for i in eval_set.histories[u]]] = -np.inf
        rank = int((s > s[int(target[1:])]).sum())
        hit = rank < k and np.isfinite(s[int(target[1:])])
        recall.append(float(hit))
        ndcg.append(1 / np.log2(rank + 2) if hit else 0.0)
    return np.mean(recall), np.mean(ndcg)


def lookup_scorer(eval_set, scores, tokenizer):
    """Scores looked up by the user's row in the evaluation set (the batch carries it)."""

    def score(batch):
        return scores[batch["index"]].clone()

    return score


def test_full_ranking_matches_brute_force_with_and_without_filtering():
    tokenizer, eval_set, scores = setup()
    for filter_seen in (True, False):
        evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(5, 10),
                                     filter_seen=filter_seen, batch_size=7)
        metrics = evaluator.evaluate(lookup_scorer(eval_set, scores, tokenizer))
        for k in (5, 10):
            recall, ndcg = brute_force(eval_set, scores, k, filter_seen)
            assert abs(metrics[f"recall@{k}"] - recall) < 1e-9
            assert abs(metrics[f"ndcg@{k}"] - ndcg) < 1e-9
        assert evaluator.protocol.filter_seen is filter_seen
        assert evaluator.protocol.num_users == 50 and evaluator.protocol.ranking == "full"


def test_filtered_items_never_recommended():
    tokenizer, eval_set, scores = setup()
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(20,), batch_size=16)
    top, targets = evaluator.top_k(lookup_scorer(eval_set, scores, tokenizer))
    assert top.shape == (50, 20)
    for u, history in enumerate(eval_set.histories):
        seen = {int(i[1:]) for i in history}
        assert not seen & set(top[u][: 30 - len(seen)].tolist())
    assert targets.tolist() == [int(t[1:]) for t in eval_set.targets]


def test_most_popular_is_deterministic_and_ranks_by_count():
    tokenizer, eval_set, _ = setup()
    counts = np.zeros(30)
    counts[[3, 7, 1]] = [10, 10, 5]
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(3,), filter_seen=False)
    top, _ = evaluator.top_k(popularity_scorer(counts))
    assert (top[:, :3] == [3, 7, 1]).all()  # tie between 3 and 7 broken by item index


def test_evaluator_numbers_are_the_evaluate_modules_and_chunks_are_bounded():
    import evaluate

    from recsft.evaluation.metrics import metric_script_path

    tokenizer, eval_set, scores = setup()
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(5, 10), batch_size=64,
                                 max_chunk_scores=30 * 8)
    assert evaluator.batch_size == 8  # 8 users × 30 items per chunk
    scorer = lookup_scorer(eval_set, scores, tokenizer)
    top, targets = evaluator.top_k(scorer)
    module = evaluate.load(metric_script_path("ranking"), keep_in_memory=True)
    expected = module.compute(predictions=top, references=targets[:, None], k_values=(5, 10))
    assert evaluator.evaluate(scorer) == expected
    means, per_user = evaluator.evaluate_with_users(scorer)
    assert means == expected and {k: v.mean() for k, v in per_user.items()} == expected


def test_sampled_evaluation_names_its_protocol_and_matches_full_ranking_at_the_limit():
    tokenizer, eval_set, scores = setup(n_users=20, n_items=30)
    scorer = lookup_scorer(eval_set, scores, tokenizer)
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(5, 10), batch_size=8)
    full = evaluator.evaluate(scorer)
    sampled = evaluator.evaluate_sampled(scorer, num_negatives=5, seed=1)
    assert set(sampled) == {f"{key}_sampled5" for key in full}
    assert sampled == evaluator.evaluate_sampled(scorer, num_negatives=5, seed=1)
    assert sampled["ndcg@10_sampled5"] >= full["ndcg@10"]  # 5 negatives are easier to beat
    # Users with the fewest candidates bound the draw: with every item outside a history of
    # 7 and the target as negatives, the sampled ranking is the full one.
    small = RankingEvaluator(EvalSet(["u"], [["i0", "i1"]], [["view"] * 2], ["i2"]), tokenizer,
                             max_length=10, ks=(5, 10))
    one_user = lambda batch: scores[:1]  # noqa: E731
    assert small.evaluate_sampled(one_user, num_negatives=27) == {
        f"{k}_sampled27": v for k, v in small.evaluate(one_user).items()}
    with pytest.raises(ValueError, match="has 27 items to draw 28 negatives"):
        small.evaluate_sampled(one_user, num_negatives=28)


def test_popularity_sampling_draws_only_items_seen_in_training():
    tokenizer, eval_set, scores = setup(n_users=20, n_items=30)
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, ks=(5,))
    with pytest.raises(ValueError, match="needs the training item counts"):
        evaluator.evaluate_sampled(lookup_scorer(eval_set, scores, tokenizer), 5, "popularity")
    counts = np.zeros(30)
    counts[20:] = np.arange(1, 11)
    evaluator.item_counts = counts
    rng = np.random.default_rng(0)
    cdf, positive = np.cumsum(counts) / counts.sum(), counts > 0
    for user in range(20):
        drawn = evaluator._draw_negatives(user, 5, cdf, positive, rng)
        assert len(set(drawn.tolist())) == 5 and (drawn >= 20).all()
        assert not set(drawn.tolist()) & set(evaluator._seen[user].tolist())
    result = evaluator.evaluate_sampled(lookup_scorer(eval_set, scores, tokenizer), 5,
                                        "popularity")
    assert set(result) == {"recall@5_sampled5pop", "ndcg@5_sampled5pop", "mrr@5_sampled5pop",
                           "hit_rate@5_sampled5pop", "precision@5_sampled5pop",
                           "map@5_sampled5pop"}


@pytest.mark.parametrize("width", [1000, 1003, 64])
def test_block_top_k_equals_torch_topk(width, monkeypatch):
    from recsft.evaluation import ranking
    from recsft.evaluation.ranking import block_top_k

    monkeypatch.setattr(ranking, "BLOCK_TOP_K_ITEMS", 0)  # blocks at every size
    generator = torch.Generator().manual_seed(width)
    scores = torch.randn(50, width, generator=generator)
    scores[:, :7] = float("-inf")  # filtered history items
    scores[3, -1] = 100.0  # the best item in the partial last block
    expected = scores.topk(10, dim=1).indices
    assert torch.equal(block_top_k(scores, 10, block=16), expected)
    assert block_top_k(scores, 10, block=16)[3, 0] == width - 1



def test_small_cpu_score_products_stay_in_torch_and_large_ones_use_numpy(monkeypatch):
    from recsft.evaluation import ranking

    generator = torch.Generator().manual_seed(0)
    items, users = torch.randn(50, 8, generator=generator), torch.randn(6, 8, generator=generator)
    scorer = ranking.VectorScorer(items)
    expected = users @ items.T
    torch.testing.assert_close(scorer.score_vectors(users), expected)
    numpy_items = scorer._items_t
    scorer._items_t = np.zeros_like(numpy_items)  # tells which path scored
    torch.testing.assert_close(scorer.score_vectors(users), expected)  # 2,400 MACs: torch
    monkeypatch.setattr(ranking, "NUMPY_PRODUCT_WORK", users.numel() * len(items))
    assert scorer.score_vectors(users).abs().sum() == 0  # at the threshold: numpy
    scorer._items_t = numpy_items
    torch.testing.assert_close(scorer.score_vectors(users), expected)


def test_slices_encoded_side_by_side_come_back_in_order_and_threads_are_restored():
    from recsft.evaluation.ranking import encode_side_by_side

    seen_threads = []

    def encode(start, stop, first):
        seen_threads.append(torch.get_num_threads())
        return torch.arange(start, stop, dtype=torch.float32)[:, None] + first

    slices = [(0, 3, 1), (3, 4, 0), (4, 9, 2), (9, 10, 5)]
    before = torch.get_num_threads()
    expected = [encode(*piece) for piece in slices]
    seen_threads.clear()
    for workers in (1, 2, 8):
        got = encode_side_by_side(encode, slices, workers=workers)
        assert all(torch.equal(a, b) for a, b in zip(got, expected))
        assert torch.get_num_threads() == before
    # Two or more workers encode with one intra-op thread each; one worker keeps the usual.
    assert seen_threads[:4] == [before] * 4 and set(seen_threads[4:]) == {1}


def test_an_error_in_a_side_by_side_slice_reaches_the_caller():
    from recsft.evaluation.ranking import encode_side_by_side

    def encode(start, stop, first):
        if start == 2:
            raise ValueError("slice 2 failed")
        return torch.zeros(stop - start, 1)

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="slice 2 failed"):
        encode_side_by_side(encode, [(0, 2, 0), (2, 3, 0), (3, 5, 0)], workers=2)
    assert torch.get_num_threads() == before


def test_batches_carry_each_rows_history_count_and_offsets():
    tokenizer, eval_set, _ = setup(n_users=9, seed=4)
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=10, batch_size=4)
    for batch in evaluator._batches(None, 4):
        counts = (batch["seen"] >= 0).sum(dim=1)
        assert torch.equal(batch["seen_count"], counts)
        offsets = batch["seen_offsets"]
        assert offsets[0] == 0 and torch.equal(offsets.diff(), counts)
        for row in range(len(counts)):
            flat = batch["seen_flat"][offsets[row]:offsets[row + 1]] - row * evaluator.num_items
            assert torch.equal(flat, batch["seen"][row, : counts[row]])


def test_encoding_threads_are_kept_and_a_forked_child_starts_its_own():
    import os
    import signal

    import recsft.evaluation.ranking as ranking

    def encode(start, stop, first):
        return (start, stop, first)

    slices = [(0, 2, 0), (2, 3, 1), (3, 5, 0)]
    assert ranking.encode_side_by_side(encode, slices, workers=2) == slices
    pool = ranking._encode_pool(2)
    assert ranking.encode_side_by_side(encode, slices, workers=2) == slices
    assert ranking._encode_pool(2) is pool
    pid = os.fork()
    if pid == 0:  # the child: the parent's threads are not here
        ok = False
        try:
            signal.alarm(30)  # a pool without threads would wait forever
            ok = (ranking.encode_side_by_side(encode, slices, workers=2) == slices
                  and ranking._encode_pool(2) is not pool)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
