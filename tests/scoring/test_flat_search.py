import numpy as np
import pytest
import torch

from recsft.scoring.exact_search import filtered_top_k, flat_index, search_pays


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


def test_search_pays_exactly_where_filtered_top_k_searches():
    items = np.random.default_rng(0).standard_normal((80, 4)).astype(np.float32)
    index = flat_index(items)
    queries = np.ones((10, 4), dtype=np.float32)
    for width in (0, 3, 5, 6, 20):
        exclude = np.tile(np.arange(width), (10, 1)) if width else np.zeros((10, 0), np.int64)
        counts = (exclude >= 0).sum(axis=1)
        found = filtered_top_k(index, queries, 5, exclude, max_depth_share=0.125)
        assert search_pays(counts, 5, 80, max_depth_share=0.125) == (found is not None)
