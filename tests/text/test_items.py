"""Item text: templates over an item table's columns, NFKC, whitespace, the readers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsft.errors import RecsftError
from recsft.text.items import ItemTextError, item_texts, read_item_table, table_texts


def test_template_fills_columns_and_leaves_missing_cells_empty():
    items = pd.DataFrame({"item_id": ["a", "b", "c"],
                          "title": ["Glue", "Tape", None],
                          "categories": [["Tools", "Adhesives"], [], np.nan],
                          "brand": ["Gorilla", None, "Acme"]})
    assert item_texts(items, "{title}. {categories}. {brand}") == [
        "Glue. Tools, Adhesives. Gorilla", "Tape. .", ". . Acme"]


def test_a_bare_column_name_is_a_template():
    items = pd.DataFrame({"item_id": ["a"], "text": ["  Sanding\troll \n 80 grit "]})
    assert item_texts(items, "text") == ["Sanding roll 80 grit"]


def test_nfkc_and_whitespace():
    # Full-width letters and digits, a ligature, an ideographic space, a non-breaking space.
    items = pd.DataFrame({"item_id": ["a"], "title": ["Ｇｌｕｅ　８\u00a0oz ﬁne 手机"]})
    assert item_texts(items, "{title}") == ["Glue 8 oz fine 手机"]


def test_a_missing_column_names_the_table_and_the_column():
    items = pd.DataFrame({"item_id": ["a"], "title": ["Glue"]})
    with pytest.raises(ItemTextError, match=r"items\.csv has no column 'brand'.*'title'"):
        item_texts(items, "{title} {brand}", source="items.csv")
    with pytest.raises(RecsftError, match="no column 'name'"):
        item_texts(items, "name")


@pytest.mark.parametrize("template", ["{title", "{}", "{0} {title}"])
def test_malformed_templates_are_refused(template):
    items = pd.DataFrame({"item_id": ["a"], "title": ["Glue"]})
    with pytest.raises(ItemTextError, match="data.item_text"):
        item_texts(items, template)


def test_scientific_text_file(tmp_path):
    path = tmp_path / "Tiny.text"
    path.write_text("item_id:token\ttext:token_seq\n"
                    "B01\tGorilla Glue, 8 ounce. Industrial & Scientific. \n"
                    "B02\tSanding roll 80 grit. Abrasives.\n", encoding="utf-8")
    assert table_texts(path, "text") == {"B01": "Gorilla Glue, 8 ounce. Industrial & Scientific.",
                                         "B02": "Sanding roll 80 grit. Abrasives."}


def test_csv_and_jsonl_tables(tmp_path):
    csv = tmp_path / "items.csv"
    csv.write_text("item_id,title,brand\n1,Glue,Gorilla\n2,Tape,\n", encoding="utf-8")
    assert table_texts(csv, "{title} ({brand})") == {"1": "Glue (Gorilla)", "2": "Tape ()"}
    jsonl = tmp_path / "meta.jsonl"
    jsonl.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in [
        {"asin": "X1", "title": "华为手机", "categories": ["数码", "手机"]},
        {"asin": "X2", "title": "炒锅", "categories": ["厨具"]}]) + "\n", encoding="utf-8")
    assert table_texts(jsonl, "{title}: {categories}") == {"X1": "华为手机: 数码, 手机",
                                                          "X2": "炒锅: 厨具"}


def test_a_missing_table_is_a_recsft_error(tmp_path):
    with pytest.raises(RecsftError, match="nope.csv"):
        read_item_table(tmp_path / "nope.csv")
