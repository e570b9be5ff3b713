import numpy as np
import pytest

from recsft.evaluation.published import PublishedResult
from recsft.evaluation.seeds import aggregate_seeds, published_comparison


def _seeds(n_seeds=3, n_users=400, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random(n_users)
    return [{"ndcg@10": np.clip(base + rng.normal(0, 0.05, n_users), 0, 1),
             "recall@10": (base > 0.5).astype(float)} for _ in range(n_seeds)]


def test_seed_and_user_intervals_are_computed_apart():
    per_user = _seeds()
    summary = aggregate_seeds(per_user, n_resamples=200)
    ndcg = summary["ndcg@10"]
    means = [values["ndcg@10"].mean() for values in per_user]
    assert ndcg["per_seed"] == pytest.approx(means)
    assert ndcg["mean"] == pytest.approx(np.mean(means))
    assert ndcg["seeds"]["n"] == 3
    assert ndcg["seeds"]["ci95_low"] < ndcg["mean"] < ndcg["seeds"]["ci95_high"]
    # Users vary far more than the seeds here, so the users' interval is the wider one.
    assert (ndcg["users"]["ci95_high"] - ndcg["users"]["ci95_low"]
            > ndcg["seeds"]["ci95_high"] - ndcg["seeds"]["ci95_low"])
    # Identical seeds: no training spread, the users' interval remains.
    recall = summary["recall@10"]
    assert recall["seeds"]["ci95_low"] == pytest.approx(recall["seeds"]["ci95_high"])
    assert recall["users"]["ci95_low"] < recall["mean"] < recall["users"]["ci95_high"]


def test_one_seed_has_no_seed_interval():
    summary = aggregate_seeds(_seeds(n_seeds=1), n_resamples=100)
    assert summary["ndcg@10"]["seeds"] is None
    assert summary["ndcg@10"]["users"]["n_resamples"] == 100


def test_seeds_must_agree_on_metrics():
    per_user = _seeds(n_seeds=2)
    del per_user[1]["recall@10"]
    with pytest.raises(ValueError, match="seed 1 has metrics"):
        aggregate_seeds(per_user)
    with pytest.raises(ValueError, match="at least one seed"):
        aggregate_seeds([])


def test_published_comparison_says_where_the_interval_lies():
    summary = aggregate_seeds(_seeds(), n_resamples=100)
    mean = summary["ndcg@10"]["mean"]
    rows = published_comparison(summary, [
        PublishedResult("x", "low", {"ndcg@10": mean / 2}, "paper A"),
        PublishedResult("x", "high", {"ndcg@10": mean * 2, "mrr@99": 0.5}, "paper B"),
        PublishedResult("x", "same", {"ndcg@10": mean}, "paper C"),
    ])
    assert [(row["model"], row["verdict"]) for row in rows] == [
        ("low", "above"), ("high", "below"), ("same", "within")]
    assert rows[0]["ratio"] == pytest.approx(2.0) and rows[0]["interval"] == "seeds"
