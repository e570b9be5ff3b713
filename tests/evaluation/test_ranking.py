import numpy as np
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
