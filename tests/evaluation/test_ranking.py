import numpy as np
import pytest
import torch

from recsft.data.split import EvalSet
from recsft.evaluation.ranking import RankingEvaluator
from recsft.evaluation.sampled import draw_negatives
from recsft.scoring.popularity import popularity_scorer
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
        drawn = draw_negatives(evaluator, user, 5, cdf, positive, rng)
        assert len(set(drawn.tolist())) == 5 and (drawn >= 20).all()
        assert not set(drawn.tolist()) & set(evaluator._seen[user].tolist())
    result = evaluator.evaluate_sampled(lookup_scorer(eval_set, scores, tokenizer), 5,
                                        "popularity")
    assert set(result) == {"recall@5_sampled5pop", "ndcg@5_sampled5pop", "mrr@5_sampled5pop",
                           "hit_rate@5_sampled5pop", "precision@5_sampled5pop",
                           "map@5_sampled5pop"}


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


def test_the_inputs_come_from_the_models_config_or_its_three_settings():
    from recsft.scoring.inputs import InputConfig

    tokenizer, eval_set, _ = setup(n_users=6, seed=2)
    by_hand = RankingEvaluator(eval_set, tokenizer, max_length=4, append_mask=True)
    by_config = RankingEvaluator(eval_set, tokenizer, {"max_position_embeddings": 4,
                                                       "uses_mask_token": True})
    assert by_hand._input_ids == by_config._input_ids
    assert all(ids[-1] == tokenizer.mask_token_id and len(ids) <= 4
               for ids in by_config._input_ids)
    assert by_config.protocol.max_length == 4
    causal = RankingEvaluator(eval_set, tokenizer, InputConfig(4))
    assert all(tokenizer.mask_token_id not in ids for ids in causal._input_ids)
    with pytest.raises(ValueError, match="the model's config, or"):
        RankingEvaluator(eval_set, tokenizer)
    with pytest.raises(ValueError, match="the model's config, or"):
        RankingEvaluator(eval_set, tokenizer, InputConfig(4), max_length=4)
