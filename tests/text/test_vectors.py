"""Token-ordered text vectors and where a data section's item text comes from."""

from __future__ import annotations

import numpy as np
import pytest

from tests.text.checkpoint import tiny_bert


def test_a_named_dataset_finds_its_item_table_beside_the_events(tmp_path):
    from recsft.data.config import DataConfig
    from recsft.text.vectors import item_text_source

    (tmp_path / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t1\n")
    (tmp_path / "ml-100k.item").write_text("item_id:token\tmovie_title:token_seq\n1\tToy\n")
    table, template = item_text_source(DataConfig(source="ml-100k", path=str(tmp_path)))
    assert table == str(tmp_path / "ml-100k.item")
    assert template == "{movie_title} ({release_year}). {class}"
    mine = tmp_path / "mine.csv"
    assert item_text_source(DataConfig(source="ml-100k", path=str(tmp_path),
                                       item_table=str(mine), item_text="title")) == (
        str(mine), "title")
    assert item_text_source(DataConfig(source="synthetic")) == (None, None)


def test_vectors_follow_the_given_items_and_mark_those_without_text(tmp_path, monkeypatch):
    from recsft.text.encoder import TextEncoder
    from recsft.text.vectors import TokenTexts

    monkeypatch.setenv("RECSFT_CACHE", str(tmp_path / "cache"))
    encoder = TextEncoder(tiny_bert(tmp_path / "bert", pooling="mean"))
    texts = {"a": "glue tape", "b": "steel pan", "c": ""}
    result = TokenTexts.encode(texts, ["b", "x", "a", "c"], encoder)
    assert result.has_text.tolist() == [True, False, True, False]
    assert result.missing == 2
    assert not result.vectors[[1, 3]].any()
    direct = encoder.encode(["steel pan", "glue tape"])
    np.testing.assert_allclose(result.vectors[[0, 2]], direct, atol=1e-6)


def test_text_without_a_table_is_one_error(tmp_path):
    from recsft.data.config import DataConfig
    from recsft.errors import RecsftError
    from recsft.text.vectors import TokenTexts

    with pytest.raises(RecsftError, match="needs data.item_table and data.item_text"):
        TokenTexts.from_config(DataConfig(source="synthetic"), ["a"], purpose="the model")
