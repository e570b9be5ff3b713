"""Tests for recsft.evaluation.metrics (ranking and classification metrics, offline loading)."""

from __future__ import annotations

import math

import evaluate
import numpy as np
import pytest

from recsft.evaluation.metrics import (
    METRICS,
    ClassificationMetrics,
    RankingMetrics,
    classification_metrics,
    compute_from_ranks,
    compute_ranking_metrics,
    load_metric,
    metric_script_path,
    ranking_metrics_per_user,
    ranking_metrics_per_user_from_ranks,
)

LOG2_3 = math.log2(3)


def _naive_user(pred: list[int], rel: list[int], k: int) -> dict[str, float]:
    """Straightforward per-user reference implementation of the documented definitions."""
    rel_set = set(rel)
    seen: set[int] = set()
    hit_positions = []
    for i, item in enumerate(pred[:k]):
        if item in rel_set and item not in seen:
            hit_positions.append(i)
        seen.add(item)
    n_hits = len(hit_positions)
    dcg = sum(1.0 / math.log2(i + 2) for i in hit_positions)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel_set))))
    return {
        f"recall@{k}": n_hits / len(rel_set),
        f"ndcg@{k}": dcg / idcg,
        f"mrr@{k}": 1.0 / (hit_positions[0] + 1) if hit_positions else 0.0,
        f"hit_rate@{k}": float(n_hits > 0),
        f"precision@{k}": n_hits / k,
        f"map@{k}": sum((j + 1) / (i + 1) for j, i in enumerate(hit_positions)) / len(rel_set),
    }


def _naive(preds, refs, k_values) -> dict[str, float]:
    per_user = [
        {name: v for k in k_values for name, v in _naive_user(list(p), list(r), k).items()}
        for p, r in zip(preds, refs)
    ]
    return {name: float(np.mean([u[name] for u in per_user])) for name in per_user[0]}


def _random_lists(rng: np.random.Generator, n_users: int, max_rel: int = 1):
    """Random ragged rankings (0-24 items, duplicates possible) and 1..max_rel relevant ids."""
    preds, refs = [], []
    for _ in range(n_users):
        n_pred = int(rng.integers(0, 25))  # includes empty and shorter-than-K lists
        preds.append(rng.integers(0, 40, size=n_pred).tolist())  # may contain duplicates
        n_rel = int(rng.integers(1, max_rel + 1))
        refs.append(rng.integers(0, 40, size=n_rel).tolist())
    return preds, refs


# ------------------------------------------------------------------------------------------
# Ranking: hand-computed values
# ------------------------------------------------------------------------------------------


def test_single_target_hand_computed():
    # user 0: target 3 at rank 2 -> ndcg = 1/log2(2+2) = 0.5, mrr = 1/3
    # user 1: target 9 at rank 0 -> ndcg = 1/log2(2) = 1, mrr = 1
    # user 2: target 42 not recommended -> all zeros
    preds = [[7, 8, 3, 1], [9, 5], [1, 2, 3]]
    refs = [[3], [9], [42]]
    out = compute_ranking_metrics(preds, refs, k_values=(1, 3))
    # K=1: only user 1 hits.
    assert out["recall@1"] == pytest.approx(1 / 3)
    assert out["hit_rate@1"] == pytest.approx(1 / 3)
    assert out["ndcg@1"] == pytest.approx(1 / 3)
    assert out["mrr@1"] == pytest.approx(1 / 3)
    assert out["precision@1"] == pytest.approx(1 / 3)  # (0 + 1/1 + 0) / 3
    # K=3: users 0 and 1 hit.
    assert out["recall@3"] == pytest.approx(2 / 3)
    assert out["hit_rate@3"] == pytest.approx(2 / 3)
    assert out["ndcg@3"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert out["mrr@3"] == pytest.approx((1 / 3 + 1.0 + 0.0) / 3)
    assert out["precision@3"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)  # hits / K
    assert out["map@3"] == out["mrr@3"]  # one relevant item: AP is the reciprocal rank
    assert set(out) == {
        f"{m}@{k}" for m in ("recall", "ndcg", "mrr", "hit_rate", "precision", "map")
        for k in (1, 3)
    }
    assert all(isinstance(v, float) for v in out.values())


def test_multi_target_hand_computed():
    # rel = {1, 2, 3}; ranking [1, 9, 3, 8, 2]
    # K=2: hits at rank 0 -> recall 1/3, precision 1/2,
    #      DCG = 1, IDCG(min(2,3)=2) = 1 + 1/log2(3) -> ndcg = 1 / (1 + 1/log2 3)
    # K=5: hits at ranks 0, 2, 4 -> recall 1, precision 3/5,
    #      DCG = 1 + 1/log2(4) + 1/log2(6), IDCG(3) = 1 + 1/log2(3) + 1/log2(4)
    out = compute_ranking_metrics([[1, 9, 3, 8, 2]], [[1, 2, 3]], k_values=[2, 5])
    assert out["recall@2"] == pytest.approx(1 / 3)
    assert out["precision@2"] == pytest.approx(1 / 2)
    assert out["ndcg@2"] == pytest.approx(1 / (1 + 1 / LOG2_3))
    assert out["mrr@2"] == 1.0
    assert out["recall@5"] == pytest.approx(1.0)
    assert out["precision@5"] == pytest.approx(3 / 5)
    dcg = 1 + 1 / 2 + 1 / math.log2(6)
    idcg = 1 + 1 / LOG2_3 + 1 / 2
    assert out["ndcg@5"] == pytest.approx(dcg / idcg)


def test_multi_target_first_hit_late_and_duplicates():
    # rel = {4, 6}; ranking [0, 6, 6, 4]: the second 6 is a duplicate, not a hit.
    # K=3: one hit (rank 1): recall 1/2, mrr 1/2, ndcg = (1/log2 3) / (1 + 1/log2 3)
    # K=4: hits at ranks 1 and 3: recall 1, precision 2/4,
    #      ndcg = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
    out = compute_ranking_metrics([[0, 6, 6, 4]], [[4, 6, 6]], k_values=[3, 4])
    assert out["recall@3"] == pytest.approx(0.5)
    assert out["mrr@3"] == pytest.approx(0.5)
    assert out["ndcg@3"] == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert out["recall@4"] == pytest.approx(1.0)
    assert out["precision@4"] == pytest.approx(0.5)
    assert out["ndcg@4"] == pytest.approx((1 / LOG2_3 + 1 / math.log2(5)) / (1 + 1 / LOG2_3))


def test_single_target_duplicates_count_once():
    # target 5 appears at ranks 0 and 1: one hit, recall 1 (not 2), precision 1/2.
    out = compute_ranking_metrics([[5, 5]], [[5]], k_values=[2])
    assert out["recall@2"] == 1.0
    assert out["precision@2"] == 0.5
    assert out["ndcg@2"] == 1.0


def test_empty_and_short_predictions():
    # user 0 has no recommendations at all; user 1 has 2 (< K=5), the target at rank 1:
    # ndcg = 1/log2(3), precision = 1/5 (K is the denominator).
    out = compute_ranking_metrics([[], [4, 2]], [[2], [2]], k_values=[5])
    assert out["hit_rate@5"] == 0.5
    assert out["ndcg@5"] == pytest.approx((0 + 1 / LOG2_3) / 2)
    assert out["precision@5"] == pytest.approx((0 + 1 / 5) / 2)
    # Every list empty, multi-target: everything is 0.
    out = compute_ranking_metrics([[], []], [[1, 2], [3]], k_values=[3])
    assert all(v == 0.0 for v in out.values())


def test_ndcg_idcg_capped_by_k():
    # |rel| = 4 > K = 2, both top-2 are hits -> DCG = IDCG -> ndcg 1, recall 2/4.
    out = compute_ranking_metrics([[1, 2, 0]], [[1, 2, 3, 4]], k_values=[2])
    assert out["ndcg@2"] == pytest.approx(1.0)
    assert out["recall@2"] == 0.5


def test_array_fast_path_matches_lists():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 30, size=(50, 12))
    refs_single = rng.integers(0, 30, size=50)
    refs_multi = [rng.integers(0, 30, size=int(rng.integers(1, 4))).tolist() for _ in range(50)]
    for refs_array, refs_list in (
        (refs_single, [[int(t)] for t in refs_single]),
        (refs_multi, refs_multi),
    ):
        a = ranking_metrics_per_user(preds, refs_array, k_values=(1, 5, 20))
        b = ranking_metrics_per_user(preds.tolist(), refs_list, k_values=(1, 5, 20))
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].shape == (50,)
            np.testing.assert_array_equal(a[name], b[name])


def test_random_against_naive_reference():
    rng = np.random.default_rng(1234)
    # max_rel 1: single-target path; 5: broadcast membership; 60 (> 32): sorted-key membership
    for max_rel in (1, 5, 60):
        preds, refs = _random_lists(rng, 200, max_rel)
        got = compute_ranking_metrics(preds, refs, k_values=(1, 5, 10, 20))
        expected = _naive(preds, refs, (1, 5, 10, 20))
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name


def test_compute_from_ranks_agrees_exactly_with_list_path():
    rng = np.random.default_rng(7)
    n_users, n_items, n_recs = 500, 60, 25
    k_values = (1, 5, 10, 20, 50)
    # Each user's ranking is a random permutation prefix; targets sometimes not ranked.
    preds = np.stack([rng.permutation(n_items)[:n_recs] for _ in range(n_users)])
    targets = rng.integers(0, n_items, size=n_users)
    ranks = np.full(n_users, np.inf)
    for u in range(n_users):
        pos = np.flatnonzero(preds[u] == targets[u])
        if pos.size:
            ranks[u] = pos[0]
    from_ranks = compute_from_ranks(ranks, k_values)
    from_lists = compute_ranking_metrics(preds.tolist(), [[int(t)] for t in targets], k_values)
    assert from_ranks == from_lists  # exact equality, not approx
    # A large finite sentinel behaves like inf; integer ranks are accepted.
    int_ranks = np.where(np.isfinite(ranks), ranks, 10**9).astype(np.int64)
    assert compute_from_ranks(int_ranks, k_values) == from_ranks
    # The general (multi-target) code path gives exactly the same per-user values too:
    # add one extra user with two targets to force it, then drop that user.
    general = ranking_metrics_per_user(
        preds.tolist() + [[0, 1]], [[int(t)] for t in targets] + [[0, 1]], k_values
    )
    per_rank = ranking_metrics_per_user_from_ranks(ranks, k_values)
    for name, values in per_rank.items():
        np.testing.assert_array_equal(general[name][:-1], values)


def test_compute_from_ranks_hand_computed():
    # ranks 0, 3, unranked; K = 4: ndcg = (1 + 1/log2(5) + 0) / 3, mrr = (1 + 1/4 + 0) / 3
    out = compute_from_ranks([0, 3, np.inf], k_values=[4])
    assert out["ndcg@4"] == pytest.approx((1 + 1 / math.log2(5)) / 3)
    assert out["mrr@4"] == pytest.approx((1 + 0.25) / 3)
    assert out["recall@4"] == pytest.approx(2 / 3)
    assert out["precision@4"] == pytest.approx(2 / 12)


@pytest.mark.parametrize("bad", [[-1.0], [np.nan], [1.5], [[0, 1]]])
def test_compute_from_ranks_rejects_bad_ranks(bad):
    with pytest.raises(ValueError):
        compute_from_ranks(np.asarray(bad), k_values=[5])


def test_empty_references_raise_naming_row():
    with pytest.raises(ValueError, match=r"references\[1\]"):
        compute_ranking_metrics([[1], [2], [3]], [[1], [], [3]], k_values=[5])
    metric = load_metric("ranking", keep_in_memory=True)
    with pytest.raises(ValueError, match=r"references\[0\]"):
        metric.compute(predictions=[[1, 2]], references=[[]])


def test_input_validation():
    with pytest.raises(ValueError, match="same number of users"):
        compute_ranking_metrics([[1]], [[1], [2]], k_values=[5])
    for bad_k in ([0], [], [2.5], [True]):
        with pytest.raises(ValueError, match="k_values"):
            compute_ranking_metrics([[1]], [[1]], k_values=bad_k)
    with pytest.raises(ValueError, match="zero users"):
        compute_ranking_metrics([], [], k_values=[5])
    # A single int is accepted as k_values.
    assert set(compute_ranking_metrics([[1]], [[1]], k_values=3)) == {
        "recall@3",
        "ndcg@3",
        "mrr@3",
        "hit_rate@3",
        "precision@3",
        "map@3",
    }


# ------------------------------------------------------------------------------------------
# Ranking: evaluate.Metric
# ------------------------------------------------------------------------------------------


def test_ranking_metric_compute_and_add_batch(tmp_path):
    preds = [[7, 8, 3, 1], [9, 5], [1, 2, 3], [4, 6, 6, 4]]
    refs = [[3], [9], [42], [4, 6]]
    expected = compute_ranking_metrics(preds, refs, k_values=(1, 3, 10))

    metric = load_metric("ranking", cache_dir=str(tmp_path))
    assert isinstance(metric, RankingMetrics)
    assert metric.compute(predictions=preds, references=refs, k_values=(1, 3, 10)) == expected

    metric = load_metric("ranking", keep_in_memory=True)
    metric.add_batch(predictions=preds[:2], references=refs[:2])
    metric.add_batch(predictions=preds[2:], references=refs[2:])
    assert metric.compute(k_values=(1, 3, 10)) == expected

    # Default cut-offs 5, 10, 20.
    metric = load_metric("ranking", keep_in_memory=True)
    out = metric.compute(predictions=preds, references=refs)
    assert {key.split("@")[1] for key in out} == {"5", "10", "20"}


def test_evaluate_load_by_path_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = metric_script_path("ranking")
    assert path.endswith("ranking.py")
    rng = np.random.default_rng(3)
    preds, refs = _random_lists(rng, 100, max_rel=5)

    loaded = evaluate.load(path, keep_in_memory=True)
    assert type(loaded).__name__ == "RankingMetrics"
    via_path = loaded.compute(predictions=preds, references=refs, k_values=(5, 10))
    via_registry = load_metric("ranking", keep_in_memory=True).compute(
        predictions=preds, references=refs, k_values=(5, 10)
    )
    assert via_path == via_registry

    loaded_cls = evaluate.load(metric_script_path("classification"), keep_in_memory=True)
    assert type(loaded_cls).__name__ == "ClassificationMetrics"
    assert loaded_cls.compute(predictions=[1, 0, 1], references=[1, 1, 1])["recall"] == 2 / 3


# ------------------------------------------------------------------------------------------
# Classification
# ------------------------------------------------------------------------------------------


def test_classification_binary_hand_computed():
    # refs  1 1 1 0 0 0 1 0
    # preds 1 0 1 1 0 0 1 1
    # TP = 3 (idx 0, 2, 6), FN = 1 (idx 1), FP = 2 (idx 3, 7), TN = 2 (idx 4, 5)
    # accuracy = 5/8, precision = 3/5, recall = 3/4, f1 = 2*3/(2*3 + 2 + 1) = 6/9
    refs = [1, 1, 1, 0, 0, 0, 1, 0]
    preds = [1, 0, 1, 1, 0, 0, 1, 1]
    out = load_metric("classification", keep_in_memory=True).compute(
        predictions=preds, references=refs
    )
    assert out == pytest.approx(
        {"accuracy": 5 / 8, "precision": 3 / 5, "recall": 3 / 4, "f1": 6 / 9}
    )
    # pos_label=0: TP = 2, FP = 1 (idx 1), FN = 2 (idx 3, 7) -> P = 2/3, R = 1/2, F1 = 4/7
    out = classification_metrics(preds, refs, average="binary", pos_label=0)
    assert out == pytest.approx(
        {"accuracy": 5 / 8, "precision": 2 / 3, "recall": 1 / 2, "f1": 4 / 7}
    )


def test_classification_multiclass_hand_computed():
    # refs  0 0 1 1 2 2
    # preds 0 1 1 1 0 2
    # label 0: TP 1, predicted 2, true 2 -> P 1/2, R 1/2, F1 1/2
    # label 1: TP 2, predicted 3, true 2 -> P 2/3, R 1,   F1 4/5
    # label 2: TP 1, predicted 1, true 2 -> P 1,   R 1/2, F1 2/3
    refs = [0, 0, 1, 1, 2, 2]
    preds = [0, 1, 1, 1, 0, 2]
    macro = classification_metrics(preds, refs, average="macro")
    assert macro["accuracy"] == pytest.approx(4 / 6)
    assert macro["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert macro["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert macro["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    # micro over all labels: sum TP = 4, sum predicted = sum true = 6 -> all 4/6
    micro = classification_metrics(preds, refs, average="micro")
    assert micro == pytest.approx(
        {"accuracy": 4 / 6, "precision": 4 / 6, "recall": 4 / 6, "f1": 4 / 6}
    )
    # micro restricted to labels [1, 2]: TP 3, predicted 4, true 4 -> 3/4
    sub = classification_metrics(preds, refs, average="micro", labels=[1, 2])
    assert sub["precision"] == pytest.approx(3 / 4)
    assert sub["recall"] == pytest.approx(3 / 4)
    # macro with an absent label 7: its P = R = F1 = 0 (zero_division) -> divides by 4
    with_absent = classification_metrics(preds, refs, average="macro", labels=[0, 1, 2, 7])
    assert with_absent["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 4)


def test_classification_zero_division():
    # Never predicts the positive class: precision 0/0 -> 0.0, recall 0/2 = 0, f1 0.
    out = classification_metrics([0, 0, 0], [1, 1, 0])
    assert out == {"accuracy": 1 / 3, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    # No positives anywhere: everything but accuracy is 0.0.
    out = classification_metrics([0, 0], [0, 0])
    assert out == {"accuracy": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_classification_errors():
    with pytest.raises(ValueError, match="binary"):
        classification_metrics([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label"):
        classification_metrics([0, 2], [2, 0], pos_label=1)
    with pytest.raises(ValueError, match="average"):
        classification_metrics([0, 1], [0, 1], average="weighted")
    with pytest.raises(ValueError, match="same length"):
        classification_metrics([0, 1], [0])


@pytest.mark.parametrize("average", ["binary", "macro", "micro"])
def test_classification_matches_sklearn(average):
    sk_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(42)
    n_classes = 2 if average == "binary" else 5
    for _ in range(5):
        refs = rng.integers(0, n_classes, size=300)
        preds = np.where(rng.random(300) < 0.6, refs, rng.integers(0, n_classes, size=300))
        metric = ClassificationMetrics(keep_in_memory=True)
        out = metric.compute(predictions=preds, references=refs, average=average)
        kw = {"average": average, "zero_division": 0}
        assert out["accuracy"] == pytest.approx(sk_metrics.accuracy_score(refs, preds))
        assert out["precision"] == pytest.approx(sk_metrics.precision_score(refs, preds, **kw))
        assert out["recall"] == pytest.approx(sk_metrics.recall_score(refs, preds, **kw))
        assert out["f1"] == pytest.approx(sk_metrics.f1_score(refs, preds, **kw))
    if average != "binary":
        # Explicit label subsets, including a label that never occurs.
        labels = [1, 3, 9]
        kw = {"average": average, "zero_division": 0, "labels": labels}
        out = classification_metrics(preds, refs, average=average, labels=labels)
        assert out["precision"] == pytest.approx(sk_metrics.precision_score(refs, preds, **kw))
        assert out["recall"] == pytest.approx(sk_metrics.recall_score(refs, preds, **kw))
        assert out["f1"] == pytest.approx(sk_metrics.f1_score(refs, preds, **kw))


# ------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------


def test_registry_and_unknown_name():
    assert sorted(METRICS) == ["classification", "probabilistic", "ranking"]
    assert METRICS["ranking"] is RankingMetrics
    assert METRICS["classification"] is ClassificationMetrics
    assert isinstance(load_metric("classification", keep_in_memory=True), ClassificationMetrics)
    with pytest.raises(ValueError, match="classification, probabilistic, ranking"):
        load_metric("accuracy")
    with pytest.raises(ValueError, match="known metrics"):
        metric_script_path("nope")


def test_membership_strategies_agree(monkeypatch):
    # Broadcast (few references) and sorted-key (many references) membership must give the
    # same per-user values; ids are large and negative to exercise the encoding.
    from recsft.evaluation.metrics import ranking

    rng = np.random.default_rng(99)
    preds, refs = _random_lists(rng, 300, max_rel=8)
    preds = [[10**12 - 3 * p for p in row] for row in preds]
    refs = [[10**12 - 3 * r for r in row] for row in refs]
    broadcast = ranking_metrics_per_user(preds, refs, (1, 5, 10, 30))
    monkeypatch.setattr(ranking, "_BROADCAST_MAX_REFS", 0)
    sorted_keys = ranking_metrics_per_user(preds, refs, (1, 5, 10, 30))
    for name, values in broadcast.items():
        np.testing.assert_array_equal(sorted_keys[name], values)
    expected = _naive(preds, refs, (1, 5, 10, 30))
    for name, value in expected.items():
        assert float(np.mean(broadcast[name])) == pytest.approx(value)
