"""Item categories from the shapes of item tables the readers produce."""

import numpy as np
import pandas as pd
import pytest

from recsft.data.categories import category_table, check_category_table, read_category_names
from recsft.errors import RecsftError

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


# ---------------------------------------------------------------------- tables and names on load


def test_a_table_from_category_table_passes_the_check():
    items = pd.DataFrame({"item_id": ["x", "y"], "genres": ["a|b", "c"]})
    table, names = category_table(items, TOKENS, first_item_id=2)
    checked = check_category_table(table, len(TOKENS), len(names), 2, first_item_id=2)
    assert checked.dtype == np.int64 and checked.tolist() == table.tolist()
    import torch

    check_category_table(torch.from_numpy(table), len(TOKENS), len(names))


@pytest.mark.parametrize("table, message", [
    (np.array([[0], [0], [1], [4], [0]]), "holds category id 4 in row 3, outside 0..3"),
    (np.array([[0], [0], [1], [-1], [0]]), "holds category id -1 in row 3, outside 0..3"),
    (np.array([[0], [2], [1], [1], [0]]), "gives special token 1 categories"),
    (np.zeros((4, 1), dtype=np.int64), r"has shape \(4, 1\), expected \(5, C >= 1\)"),
    (np.zeros((5, 0), dtype=np.int64), r"has shape \(5, 0\)"),
    (np.zeros(5, dtype=np.int64), r"has shape \(5,\)"),
    (np.zeros((5, 1), dtype=np.float32), "has dtype float32, expected integer category ids"),
    (np.zeros((5, 1), dtype=bool), "has dtype bool"),
])
def test_crafted_tables_are_refused_naming_the_file(table, message):
    with pytest.raises(RecsftError, match=f"run/model.safetensors: category table {message}"):
        check_category_table(table, len(TOKENS), 3, first_item_id=2,
                             source="run/model.safetensors")


def test_table_width_is_checked_when_given():
    with pytest.raises(RecsftError, match=r"has shape \(5, 2\), expected \(5, 3\)"):
        check_category_table(np.zeros((5, 2), dtype=np.int64), 5, 3, max_item_categories=3)


def test_category_names_are_read_and_checked(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text('["a", "b"]')
    assert read_category_names(path, num_categories=2) == ["a", "b"]
    for text, message in [('["a", "b"]', "lists 2 category names, but the model has 3"),
                          ('{"a": 1}', "expected a JSON list of category names, got dict"),
                          ('["a", 3]', "category name 1 is 3, expected a string"),
                          ('["a", "a", "b"]', "category name 'a' appears twice"),
                          ('["a"', "cannot read the category names"),
                          ("[" * 100_000, "cannot read the category names")]:
        path.write_text(text)
        with pytest.raises(RecsftError, match=f"{path}: {message}"):
            read_category_names(path, num_categories=3)
    path.unlink()
    with pytest.raises(RecsftError, match=f"{path}: no such category names file"):
        read_category_names(path)
