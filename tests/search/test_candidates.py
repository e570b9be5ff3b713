"""First-stage search candidates: BM25 (with CJK), dense retrieval, recall, union."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsft.errors import RecsftError
from recsft.search.bm25 import ITEMS_FILE, BM25Retriever
from recsft.search.candidates import (
    Ranked,
    candidate_recall,
    ranked_rows,
    union_candidates,
)
from recsft.search.terms import search_terms
from tests.search.conftest import DENSE_ITEMS

pytest.importorskip("bm25s")

TITLES = {
    "i0": "Nitrile exam gloves, powder free, blue, box of 100",
    "i1": "Borosilicate glass beaker 250 ml with spout",
    "i2": "Digital pH meter with calibration buffer solution",
    "i3": "Stainless steel lab spatula set",
    "i4": "Safety goggles, anti-fog, clear lens",
    "i5": "Glass graduated cylinder 100 ml",
}
CJK_TITLES = {
    "c0": "智能手机保护壳 防摔 透明",
    "c1": "无线蓝牙耳机 降噪",
    "c2": "手机充电器 快充 20W",
    "c3": "不锈钢保温杯 500ml",
}


def generated_items(n: int, seed: int) -> dict[str, str]:
    """Random titles from a small vocabulary (distinct words per item)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)]
    return {f"g{i}": " ".join(rng.choice(words, size=6, replace=False)) for i in range(n)}


def test_terms_lower_nfkc_and_cjk_bigrams():
    assert search_terms("ＰＨ Meter") == ["ph", "meter"]
    assert search_terms("保温杯", cjk="chars") == ["保", "温", "杯"]
    assert search_terms("保温杯", cjk="bigrams") == ["保温", "温杯"]
    assert search_terms("杯 abc中文", cjk="bigrams") == ["杯", "abc", "中文"]
    with pytest.raises(RecsftError, match="cjk"):
        BM25Retriever(TITLES, cjk="words")


def test_bm25_ranks_the_best_matching_title_first():
    retriever = BM25Retriever(TITLES)
    scores, ids = retriever.search(["glass beaker", "pH meter calibration", "GOGGLES"], k=3)
    assert scores.dtype == np.float32 and scores.shape == (3, 3)
    assert [row[0] for row in ids] == ["i1", "i2", "i4"]
    # "glass" also matches the cylinder, below the beaker; nothing else matches.
    assert ids[0] == ["i1", "i5", None] and scores[0, 2] == -np.inf
    assert np.all(np.diff(scores[0, :2]) <= 0)


def test_bm25_unknown_query_and_k_beyond_items_give_empty_slots():
    retriever = BM25Retriever(TITLES)
    scores, ids = retriever.search(["microscope", ""], k=10)
    assert ids == [[None] * 10, [None] * 10] and np.all(scores == -np.inf)
    with pytest.raises(RecsftError, match="k=0"):
        retriever.search(["glass"], k=0)
    with pytest.raises(RecsftError, match="not one string"):
        retriever.search("glass", k=1)


def test_bm25_cjk_queries():
    retriever = BM25Retriever({**TITLES, **CJK_TITLES})
    _, ids = retriever.search(["手机壳", "蓝牙耳机", "保温杯"], k=2)
    assert [row[0] for row in ids] == ["c0", "c1", "c3"]
    # "手机" (phone) matches both phone items first; its character 机 also matches 耳机
    # (earphones) below them. With bigrams alone only the two phone items match.
    _, ids = retriever.search(["手机"], k=5)
    assert set(ids[0][:2]) == {"c0", "c2"} and ids[0][2:] == ["c1", None, None]
    _, ids = BM25Retriever({**TITLES, **CJK_TITLES}, cjk="bigrams").search(["手机"], k=5)
    assert set(ids[0][:2]) == {"c0", "c2"} and ids[0][2:] == [None] * 3


def test_bm25_save_load_round_trip_without_pickle(tmp_path):
    items = {**generated_items(200, seed=1), **CJK_TITLES}
    retriever = BM25Retriever(items, cjk="bigrams")
    folder = tmp_path / "bm25"
    retriever.save(folder)
    for path in folder.glob("*.npy"):
        np.load(path, allow_pickle=False)  # raises on an object (pickled) array
    assert not [p for p in folder.iterdir() if p.suffix in (".pkl", ".pickle")]
    loaded = BM25Retriever.load(folder)
    queries = ["w1 w2 w3", "w59", "手机", "nothing"]
    a_scores, a_ids = retriever.search(queries, k=20)
    b_scores, b_ids = loaded.search(queries, k=20)
    assert a_ids == b_ids and np.array_equal(a_scores, b_scores)
    assert loaded.cjk == "bigrams" and loaded.item_ids == retriever.item_ids
    # Saving again replaces the index whole.
    BM25Retriever(TITLES).save(folder)
    assert BM25Retriever.load(folder).item_ids == list(TITLES)


def test_bm25_save_refuses_a_foreign_folder_and_load_checks_files(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(RecsftError, match="not a saved BM25 index"):
        BM25Retriever(TITLES).save(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(RecsftError, match="missing"):
        BM25Retriever.load(tmp_path / "absent")
    folder = tmp_path / "bm25"
    BM25Retriever(TITLES).save(folder)
    meta = json.loads((folder / ITEMS_FILE).read_text())
    meta["item_ids"] = meta["item_ids"][:-1]
    (folder / ITEMS_FILE).write_text(json.dumps(meta))
    with pytest.raises(RecsftError, match="5 item ids but the index holds 6"):
        BM25Retriever.load(folder)


class FixedRetriever:
    """Answers from a table of ranked lists (for candidate_recall's arithmetic)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def search(self, queries, k):
        ids = [(self.answers[q] + [None] * k)[:k] for q in queries]
        scores = np.array([[1.0 if i else -np.inf for i in row] for row in ids], np.float32)
        return scores, ids


def test_candidate_recall_hand_made_cases():
    retriever = FixedRetriever({"q1": ["a", "b", "c"], "q2": ["d", "e"], "q3": ["f"]})
    result = candidate_recall(retriever, ["q1", "q2", "q3", "q1"],
                              [{"b"}, {"x", "e"}, {"z"}, {"c", "a", "y", "w"}], k=2,
                              batch_size=3)
    # top-2: q1 -> a b, q2 -> d e, q3 -> f. Hits 1, 1, 0, 1; shares 1, 1/2, 0, 1/4.
    assert result["k"] == 2 and result["events"] == 4
    assert result["hit"]["mean"] == pytest.approx(0.75)
    assert result["target_recall"]["mean"] == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert result["hit"]["ci95_low"] <= 0.75 <= result["hit"]["ci95_high"]
    assert candidate_recall(retriever, ["q1", "q3"], [["c"], ["f"]], k=3)["hit"]["mean"] == 1.0
    assert candidate_recall(retriever, ["q1", "q3"], [["c"], ["f"]], k=2)["hit"]["mean"] == 0.5
    with pytest.raises(RecsftError, match="at least two search events"):
        candidate_recall(retriever, ["q1"], [["a"]])
    with pytest.raises(RecsftError, match="event 1 has no target"):
        candidate_recall(retriever, ["q1", "q2"], [["a"], []])
    with pytest.raises(RecsftError, match="2 queries but 1"):
        candidate_recall(retriever, ["q1", "q2"], [["a"]])


def test_candidate_recall_of_bm25_on_generated_items():
    items = generated_items(300, seed=3)
    retriever = BM25Retriever(items)
    ids = list(items)[:40]
    # Each query is three of its target's words: BM25 finds nearly all within 10.
    queries = [" ".join(items[i].split()[:3]) for i in ids]
    result = candidate_recall(retriever, queries, [[i] for i in ids], k=10)
    assert result["hit"]["mean"] >= 0.9
    assert result["hit"]["mean"] == result["target_recall"]["mean"]


def test_union_keeps_sources_and_deduplicates():
    bm25 = Ranked("bm25", ["a", "b", "c", None], [3.0, 2.0, 1.0, float("-inf")])
    dense = Ranked("dense", ["b", "d"], [0.9, 0.8])
    behaviour = Ranked("behaviour", ["e", "a", "f"])
    union = union_candidates(bm25, dense, behaviour)
    assert [c.item_id for c in union] == ["a", "b", "e", "d", "c", "f"]
    by_id = {c.item_id: c for c in union}
    assert by_id["a"].ranks == {"bm25": 0, "behaviour": 1}
    assert by_id["a"].scores == {"bm25": 3.0}
    assert by_id["b"].sources == ["bm25", "dense"]
    assert by_id["b"].scores == {"bm25": 2.0, "dense": 0.9}
    cut = union_candidates(bm25, dense, behaviour, k=3)
    assert [c.item_id for c in cut] == ["a", "b", "e"]
    assert cut[0].ranks == {"bm25": 0, "behaviour": 1}  # ranks beyond the cut are kept
    with pytest.raises(RecsftError, match="'bm25' is given twice"):
        union_candidates(bm25, Ranked("bm25", ["x"]))
    with pytest.raises(RecsftError, match="2 ids but 1 scores"):
        union_candidates(Ranked("x", ["a", "b"], [1.0]))


def test_union_of_retriever_rows():
    retriever = BM25Retriever(TITLES)
    scores, ids = retriever.search(["glass", "goggles"], k=3)
    rows = ranked_rows("bm25", scores, ids)
    assert len(rows) == 2 and rows[0].item_ids == ids[0] == ["i5", "i1", None]
    union = union_candidates(rows[0], Ranked("behaviour", ["i4", "i1"]))
    assert [c.item_id for c in union] == ["i5", "i4", "i1"]
    assert union[2].ranks == {"bm25": 1, "behaviour": 1}
    assert union[2].scores == {"bm25": pytest.approx(float(scores[0, 1]))}


# Paraphrases sharing no word with their item's text.
PARAPHRASES = {
    "power tool for making holes in walls": "d0",
    "sneakers to jog in": "d3",
    "bluetooth earphones that block out sound": "d5",
    "chef cutlery": "d2",
}


def test_dense_exact_text_first_and_paraphrases_beat_bm25(encoder, tmp_path):
    from recsft.search.dense import DenseRetriever

    dense = DenseRetriever({**DENSE_ITEMS, "empty": ""}, encoder=encoder,
                           cache_folder=tmp_path / "cache")
    assert "empty" not in dense.item_ids and len(dense) == len(DENSE_ITEMS)
    scores, ids = dense.search(list(DENSE_ITEMS.values()), k=2)
    assert [row[0] for row in ids] == list(DENSE_ITEMS)
    assert scores.dtype == np.float32 and np.allclose(scores[:, 0], 1.0, atol=1e-4)
    _, wide = dense.search(["drill"], k=10)
    assert wide[0][6:] == [None] * 4
    queries, targets = list(PARAPHRASES), [[t] for t in PARAPHRASES.values()]
    dense_recall = candidate_recall(dense, queries, targets, k=1)["hit"]["mean"]
    bm25_recall = candidate_recall(BM25Retriever(DENSE_ITEMS), queries, targets,
                                   k=1)["hit"]["mean"]
    assert bm25_recall == 0.0 and dense_recall >= 0.75
    # The second build reads the item vectors from the cache and gives the same answers.
    again = DenseRetriever(DENSE_ITEMS, encoder=encoder, cache_folder=tmp_path / "cache")
    assert again.search(queries, k=3)[1] == dense.search(queries, k=3)[1]
