import numpy as np
import pytest

from recsft.evaluation.beyond_accuracy import beyond_accuracy, gini, intra_list_distance


def test_gini_known_values():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 0]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # (n - 1) / n for one item taking all
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)


def test_hand_computed_lists():
    top = np.array([[0, 1, 3], [0, 2, 3]])
    counts = np.array([6.0, 2.0, 0.0, 0.0, 0.0])
    out = beyond_accuracy(top, k=2, item_counts=counts)
    assert out["coverage@2"] == pytest.approx(3 / 5)
    assert out["gini@2"] == pytest.approx(gini([2, 1, 1, 0, 0]))
    assert out["avg_popularity@2"] == pytest.approx(((6 + 2) / 2 + (6 + 0) / 2) / 2)
    p = (counts + 1) / (8 + 5)
    expected = ((-np.log2(p[0]) - np.log2(p[1])) / 2 + (-np.log2(p[0]) - np.log2(p[2])) / 2) / 2
    assert out["novelty@2"] == pytest.approx(expected)
    assert "ild@2" not in out


def test_intra_list_distance_with_category_sets():
    categories = np.array([[1, 0], [1, 2], [3, 0], [0, 0]])  # item 3 has no category
    top = np.array([[0, 1, 2], [3, 0, 3], [0, 0, 3]])
    distances = intra_list_distance(top, categories)
    # user 0: d(0,1) = 1 - 1/2, d(0,2) = 1, d(1,2) = 1 -> mean 5/6
    assert distances[0] == pytest.approx(5 / 6)
    assert np.isnan(distances[1])  # one categorised item only: no pair
    assert distances[2] == pytest.approx(0.0)  # the same item twice
    out = beyond_accuracy(top, k=3, item_counts=np.ones(4), categories=categories)
    assert out["ild@3"] == pytest.approx((5 / 6 + 0.0) / 2)


def test_popularity_exposure_by_decile() -> None:
    from recsft.evaluation.beyond_accuracy import popularity_exposure

    counts = np.array([50.0, 30.0, 10.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    top = np.array([[0, 1, 2], [0, 1, -1], [0, 3, 4]])
    out = popularity_exposure(top, k=2, item_counts=counts, targets=np.array([9, 0, -1]))
    assert out["item_share"] == [0.1] * 10
    assert out["training_share"][:3] == [0.5, 0.3, 0.1]
    # k = 2 slots per user: item 0 three times, item 1 twice, item 3 once
    assert out["recommended_share"][0] == pytest.approx(0.5)
    assert out["recommended_share"][1] == pytest.approx(2 / 6)
    assert out["target_share"][0] == 0.5 and out["target_share"][9] == 0.5
    assert sum(out["recommended_share"]) == pytest.approx(1.0)
