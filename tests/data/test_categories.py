"""Item categories from the shapes of item tables the readers produce."""

import numpy as np
import pandas as pd
import pytest

from recsft.data.categories import category_table

TOKENS = ["[PAD]", "[UNK]", "x", "y", "z"]


def test_single_string_lists_pipes_and_missing_items():
    items = pd.DataFrame({"item_id": ["x", "y", "w"],
                          "categories": [["b", "a"], "c|a", "d"]})
    table, names = category_table(items, TOKENS, first_item_id=2)
    assert names == ["a", "b", "c"]  # "d" belongs to no item of the vocabulary
    assert table.dtype == np.int64
    assert table.tolist() == [[0, 0], [0, 0], [2, 1], [3, 1], [0, 0]]


def test_cap_per_item_and_column_choice():
    items = pd.DataFrame({"item_id": ["x", "y", "z"], "genres": ["a|b|c", "b", None],
                          "category": ["k", "k", "m"]})
    table, names = category_table(items, TOKENS, first_item_id=2)
    assert names == ["k", "m"]  # ``category`` is looked for before ``genres``
    table, names = category_table(items, TOKENS, 2, column="genres", max_item_categories=2)
    assert table.tolist() == [[0, 0], [0, 0], [1, 2], [2, 0], [0, 0]]


def test_missing_column_is_named():
    items = pd.DataFrame({"item_id": ["x"], "title": ["t"]})
    with pytest.raises(ValueError, match="none of the category columns"):
        category_table(items, TOKENS, 2)
    with pytest.raises(ValueError, match="no column 'brand'"):
        category_table(items, TOKENS, 2, column="brand")


def test_recbole_class_field_is_space_separated():
    items = pd.DataFrame({"item_id": ["x", "y"], "class": ["Animation Children's Comedy", "War"]})
    table, names = category_table(items, TOKENS, first_item_id=2, max_item_categories=3)
    assert names == ["Animation", "Children's", "Comedy", "War"]
    assert table[2].tolist() == [1, 2, 3] and table[3].tolist() == [4, 0, 0]
