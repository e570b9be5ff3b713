"""The content baseline's scorer on hand-made vectors: exact cosines, the newest-n rule,
special and unknown tokens skipped, empty histories."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsft.scoring.content import PROFILE_ITEMS, content_scorer, normalise_rows

FIRST = 4  # [PAD], [UNK], [MASK], [CLS]
PAD, UNK, MASK = 0, 1, 2
# Items 0..4 as token ids 4..8; item 4 has no text.
VECTORS = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3], [3, 4, 0], [0, 0, 0]], dtype=np.float32)


def _score(rows, **kwargs):
    return content_scorer(VECTORS, FIRST, **kwargs)({"input_ids": torch.tensor(rows)}).numpy()


def test_cosine_with_the_mean_of_the_newest_items():
    # Profile of items 0 and 1: (1, 1, 0) / sqrt(2).
    scores = _score([[PAD, PAD, 4, 5]])
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(scores, [[r, r, 0.0, (0.6 + 0.8) * r, 0.0]], atol=1e-6)
    assert scores.shape == (1, 5) and scores.dtype == np.float32


def test_only_the_newest_n_items_count():
    assert PROFILE_ITEMS == 3
    # Item 2 (oldest) falls out of the newest 3: items 0, 1, 3 -> (1, 1, 0) + (0.6, 0.8, 0).
    scores = _score([[6, 4, 5, 7]])
    profile = np.array([1.6, 1.8, 0.0]) / np.linalg.norm([1.6, 1.8, 0.0])
    np.testing.assert_allclose(scores[0], normalise_rows(VECTORS) @ profile, atol=1e-6)
    assert scores[0, 2] == 0.0
    # n = 1: the newest item only.
    np.testing.assert_allclose(_score([[6, 4, 5, 7]], n=1)[0],
                               normalise_rows(VECTORS) @ [0.6, 0.8, 0.0], atol=1e-6)


def test_special_and_unknown_tokens_are_skipped():
    # [UNK] and a trailing [MASK] neither count nor push older items out of the newest n.
    with_specials = _score([[6, UNK, 4, UNK, 5, MASK]], n=2)
    np.testing.assert_allclose(with_specials, _score([[PAD, PAD, PAD, PAD, 4, 5]], n=2),
                               atol=1e-6)
    # An item without text adds a zero vector: the direction is the others'.
    np.testing.assert_allclose(_score([[4, 8]]), _score([[PAD, 4]]), atol=1e-6)


@pytest.mark.parametrize("row", [[PAD, PAD, PAD], [UNK, MASK, PAD], [PAD, 8, MASK]])
def test_empty_profile_scores_all_zero(row):
    np.testing.assert_array_equal(_score([row]), np.zeros((1, 5), dtype=np.float32))


def test_rows_are_independent_in_a_batch():
    batch = _score([[PAD, PAD, 4], [PAD, 6, MASK], [PAD, PAD, PAD]])
    np.testing.assert_allclose(batch[0], _score([[4]])[0], atol=1e-6)
    np.testing.assert_allclose(batch[1], [0, 0, 1, 0, 0], atol=1e-6)
    assert not batch[2].any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="item_vectors"):
        content_scorer(np.zeros(3), FIRST)
    with pytest.raises(ValueError, match="n: expected"):
        content_scorer(VECTORS, FIRST, n=0)
