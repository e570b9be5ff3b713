"""Search evaluation (full ranking and candidates, hand-computed metrics), the baseline scorers
and the paired comparison with Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsft.errors import RecsftError
from recsft.search.evaluate import (
    compare_scorers,
    evaluate_candidates,
    evaluate_search,
    target_ranks,
)
from recsft.search.events import SearchEvents
from recsft.search.scoring import BehaviourScorer, BM25Scorer, SearchScorer
from tests.search.conftest import DENSE_ITEMS as CATALOGUE

ITEMS = ["a", "b", "c", "d", "e"]
NEG = -np.inf
L3 = 1.0 / math.log2(3.0)  # the discount of rank 1 (0-based)
L5 = 1.0 / math.log2(5.0)  # of rank 3


class TableScorer:
    """Fixed per-event score rows (the scores a model would give), for hand-computed cases."""

    def __init__(self, table: dict[int, list[float]], name: str = "table",
                 items: list[str] = ITEMS) -> None:
        self.items, self.name, self.table = items, name, table
        self.calls: list[list[int]] = []

    def score(self, events: SearchEvents, rows) -> np.ndarray:
        self.calls.append(list(rows))
        return np.asarray([self.table[row] for row in rows], dtype=np.float32)


def make_events(histories, targets, splits=None, queries=None) -> SearchEvents:
    n = len(targets)
    return SearchEvents(
        user_ids=[f"u{i}" for i in range(n)], queries=queries or [f"q{i}" for i in range(n)],
        timestamps=np.arange(n), histories=histories,
        history_event_types=[["view"] * len(h) for h in histories], targets=targets,
        splits=splits or ["test"] * n)


# event 0: two targets, ranks 1 and 3; event 1: ties; event 2: the target is a history item;
# event 3: a target outside the catalogue and one scored -inf; event 4: train, not evaluated.
HAND = make_events(
    histories=[["a"], [], ["a", "c"], [], []],
    targets=[["b", "d"], ["c", "a"], ["a"], ["z", "e"], ["a"]],
    splits=["test", "test", "test", "test", "train"])
HAND_SCORES = {0: [5, 4, 3, 2, 1], 1: [1, 1, 1, 0, 0], 2: [3, 2, 9, 1, 0],
               3: [1, 2, 3, 4, NEG], 4: [9, 0, 0, 0, 0]}


def test_target_ranks_ties_against_the_target():
    ranks = target_ranks(np.array([1.0, 1.0, 1.0, 0.0, 0.0]), np.array([2, 0]))
    assert ranks.tolist() == [2.0, 1.0]  # b (tied, not a target) ranks above both
    assert target_ranks(np.array([0.0, NEG, NEG]), np.array([1])).tolist() == [math.inf]
    assert target_ranks(np.array([np.inf, 0.0]), np.array([1])).tolist() == [1.0]
    with pytest.raises(RecsftError, match="NaN"):
        target_ranks(np.array([np.nan, 0.0]), np.array([1]))


@pytest.mark.parametrize("batch_size", [1, 2, 256])
def test_full_ranking_hand_computed(batch_size):
    scorer = TableScorer(HAND_SCORES)
    result = evaluate_search(scorer, HAND, ks=(2, 4), n_resamples=200, batch_size=batch_size)
    per = result["per_event"]
    assert per["recall@2"] == pytest.approx([0.5, 0.5, 1.0, 0.0])
    assert per["recall@4"] == pytest.approx([1.0, 1.0, 1.0, 0.0])
    assert per["ndcg@2"] == pytest.approx([L3 / (1 + L3), L3 / (1 + L3), L3, 0.0])
    assert per["ndcg@4"] == pytest.approx([(L3 + L5) / (1 + L3), (L3 + 1 / math.log2(4)) /
                                           (1 + L3), L3, 0.0])
    assert per["mrr"] == pytest.approx([0.5, 0.5, 0.5, 0.0])
    assert result["metrics"]["mrr"]["mean"] == pytest.approx(1.5 / 4)
    low, high = result["metrics"]["mrr"]["ci95_low"], result["metrics"]["mrr"]["ci95_high"]
    assert 0.0 <= low <= 1.5 / 4 <= high <= 0.5
    protocol = result["protocol"]
    assert protocol["ranking"] == "full" and protocol["filter_history"] is False
    assert (protocol["searches"], protocol["targets"], protocol["items"]) == (4, 7, 5)
    assert protocol["targets_outside_catalogue"] == 1 and protocol["targets_in_history"] == 1
    assert all(len(rows) <= batch_size for rows in scorer.calls)
    assert sorted(r for rows in scorer.calls for r in rows) == [0, 1, 2, 3]  # not the train one


def test_filter_history_removes_history_items():
    result = evaluate_search(TableScorer(HAND_SCORES), HAND, ks=(2,), filter_history=True,
                             n_resamples=0)
    per = result["per_event"]
    # event 0: "a" removed, so b is first and d third; event 2: the target "a" is gone.
    assert per["recall@2"] == pytest.approx([0.5, 0.5, 0.0, 0.0])
    assert per["mrr"] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert per["ndcg@2"] == pytest.approx([1 / (1 + L3), L3 / (1 + L3), 0.0, 0.0])
    assert result["protocol"]["filter_history"] is True
    assert result["metrics"]["mrr"]["ci95_low"] is None  # n_resamples=0: means only


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(RecsftError, match="valid"):
        evaluate_search(TableScorer(HAND_SCORES), HAND, split="valid")
    with pytest.raises(RecsftError, match="shape"):
        evaluate_search(TableScorer({r: [0, 1] for r in range(5)}), HAND)
    with pytest.raises(RecsftError, match="ks"):
        evaluate_search(TableScorer(HAND_SCORES), HAND, ks=(0,))


def test_candidates_in_list_order_and_by_a_scorer():
    lists = [["d", "b", "e"], ["a", "c"], ["b"], ["e", "c"]]
    first = [["a", "b", "c"], ["a", "b", "c"], ["a"], ["c", "d"]]
    result = evaluate_candidates(lists, HAND, ks=(1, 2), first_stage=first, recall_k=2,
                                 n_resamples=0)
    per = result["per_event"]
    # event 3: "e" first of its list, "z" (outside the catalogue) never found.
    assert per["recall@1"] == pytest.approx([0.5, 0.5, 0.0, 0.5])
    assert per["recall@2"] == pytest.approx([1.0, 1.0, 0.0, 0.5])
    assert per["mrr"] == pytest.approx([1.0, 1.0, 0.0, 1.0])
    assert per["ndcg@2"] == pytest.approx([1.0, 1.0, 0.0, 1 / (1 + L3)])
    recall = result["candidate_recall"]["per_event"]["recall@2"]
    assert recall == pytest.approx([0.5, 0.5, 1.0, 0.0])
    assert result["protocol"]["ranking"] == "candidates"
    assert result["protocol"]["mean_candidates"] == pytest.approx(2.0)
    # The same candidate sets ordered by a scorer: event 0 d(2) < b(4); e is -inf in event 3.
    ordered = evaluate_candidates(lists, HAND, ks=(1,), scorer=TableScorer(HAND_SCORES),
                                  n_resamples=0)
    assert ordered["per_event"]["recall@1"] == pytest.approx([0.5, 0.5, 0.0, 0.0])
    assert ordered["per_event"]["mrr"] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert ordered["protocol"]["candidates_sha256"] == result["protocol"]["candidates_sha256"]
    # Candidate objects (the two-stage scorer's candidates) are read by their item ids.
    from recsft.search.candidates import Candidate

    objects = evaluate_candidates([[Candidate(i) for i in row] for row in lists], HAND,
                                  ks=(1, 2), first_stage=first, recall_k=2, n_resamples=0)
    assert objects["per_event"] == result["per_event"]
    # Lists of every event (train one included) are accepted too; filter_history drops "a".
    lists5 = [*lists, ["a"]]
    filtered = evaluate_candidates(lists5, HAND, ks=(1,), filter_history=True, n_resamples=0)
    assert filtered["per_event"]["mrr"] == pytest.approx([1.0, 1.0, 0.0, 1.0])
    with pytest.raises(RecsftError, match="one per event"):
        evaluate_candidates(lists[:3], HAND)
    with pytest.raises(RecsftError, match="carry none"):
        evaluate_candidates(None, HAND)


def _paired_case(n=60, seed=0):
    """``n`` events with one target each; "good" ranks it first, "noisy" at random depths,
    "same" equals good."""
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(30)]
    target_cols = rng.integers(0, len(items), n)
    events = make_events([[] for _ in range(n)], [[items[c]] for c in target_cols])
    good, noisy = {}, {}
    for row, column in enumerate(target_cols):
        base = rng.random(len(items))
        good[row] = (base + 2.0 * (np.arange(len(items)) == column)).tolist()
        noisy[row] = base.tolist()
    return events, items, good, noisy


def test_compare_scorers_holm_on_a_clearly_better_scorer():
    events, items, good, noisy = _paired_case()
    results = {name: evaluate_search(TableScorer(table, name, items), events, ks=(10,),
                                     n_resamples=200)
               for name, table in (("two_stage", good), ("noisy", noisy), ("same", good))}
    compared = compare_scorers(results, "two_stage", n_permutations=2000, n_resamples=200)
    assert compared["family"] == 2 * 3 and compared["split"] == "test"
    better = compared["comparisons"]["noisy"]
    for key in ("ndcg@10", "mrr", "recall@10"):
        assert better[key]["difference"]["mean"] > 0
        assert better[key]["wilcoxon_p_holm"] < 0.01
        assert better[key]["permutation_p_holm"] < 0.01
        assert better[key]["t_test_p_holm"] >= better[key]["t_test_p"]
    same = compared["comparisons"]["same"]["mrr"]
    assert same["difference"]["mean"] == 0 and same["wilcoxon_p_holm"] == 1.0
    # Holm: the smallest of m p-values is multiplied by m.
    raw = sorted(c[k]["t_test_p"] for c in compared["comparisons"].values() for k in c)
    adjusted = sorted(c[k]["t_test_p_holm"] for c in compared["comparisons"].values()
                      for k in c)
    assert adjusted[0] == pytest.approx(min(1.0, 6 * raw[0]))
    other = evaluate_search(TableScorer(noisy, "noisy", items), events, ks=(10,),
                            filter_history=True, n_resamples=0)
    with pytest.raises(RecsftError, match="filter_history"):
        compare_scorers({"two_stage": results["two_stage"], "noisy": other}, "two_stage")
    with pytest.raises(RecsftError, match="reference"):
        compare_scorers(results, "missing")


def test_bm25_scorer_on_a_tiny_table():
    pytest.importorskip("bm25s")
    texts = {"a": "red epoxy glue", "b": "blue duct tape", "c": "glue stick", "d": "lab coat"}
    scorer = BM25Scorer(texts)
    assert isinstance(scorer, SearchScorer) and scorer.items == list(texts)
    events = make_events([[], []], [["a"], ["d"]], queries=["epoxy glue", "unknown words"])
    scores = scorer.score(events, [0, 1])
    assert scores.shape == (2, 4) and scores.dtype == np.float32
    assert scores[0].argmax() == 0 and scores[0, 2] > 0 and scores[0, 1] == 0
    assert not scores[1].any()
    result = evaluate_search(scorer, events, ks=(1,), n_resamples=0)
    # No term matches the second query: the all-zero ties go against the target (rank 4).
    assert result["per_event"]["mrr"] == pytest.approx([1.0, 0.25])


DENSE_ITEMS = {**CATALOGUE, "none": ""}


def test_dense_and_hem_scorers_with_minilm(encoder, tmp_path):
    from recsft.search.scoring import DenseScorer, HEMScorer

    events = make_events(
        [[], ["d5", "d5", "gone"], ["d0"]], [["d0"], ["d3"], ["d3"]],
        queries=["power tool for making holes in walls", "sneakers to jog in",
                 "something for my weekend"])
    dense = DenseScorer(DENSE_ITEMS, encoder=encoder, cache_folder=tmp_path / "cache")
    scores = dense.score(events, [0, 1, 2])
    assert scores.shape == (3, 7) and np.isneginf(scores[:, 6]).all()
    assert scores[0].argmax() == 0 and scores[1].argmax() == 3
    result = evaluate_search(dense, events, ks=(1,), n_resamples=0)
    assert result["per_event"]["recall@1"][:2] == [1.0, 1.0]
    # HEM: weight 0 is the query alone; weight 1 the history alone (its own item first).
    hem0 = HEMScorer(DENSE_ITEMS, encoder=encoder, cache_folder=tmp_path / "cache",
                     history_weight=0.0)
    np.testing.assert_allclose(hem0.score(events, [0, 1, 2]), scores, atol=1e-5)
    hem1 = HEMScorer(DENSE_ITEMS, encoder=encoder, cache_folder=tmp_path / "cache",
                     history_weight=1.0)
    personal = hem1.score(events, [1, 2])
    assert personal[0].argmax() == 5 and personal[1].argmax() == 0
    assert personal[0, 5] == pytest.approx(1.0, abs=1e-4)
    # An empty history leaves the query alone, whatever the weight.
    hem = HEMScorer(DENSE_ITEMS, encoder=encoder, cache_folder=tmp_path / "cache")
    np.testing.assert_allclose(hem.score(events, [0]), scores[:1], atol=1e-5)
    mixed = hem.score(events, [2])[0]
    assert mixed[0] > scores[2, 0]  # the drill of the history is pulled up
    with pytest.raises(RecsftError, match="history_weight"):
        HEMScorer(DENSE_ITEMS, encoder=encoder, history_weight=2.0)


def test_behaviour_scorer_on_a_tiny_run(trained_run):
    from recsft.retrieval.recommender import Recommender

    config, _ = trained_run
    recommender = Recommender.from_pretrained(config.run_dir)
    known = list(recommender.tokenizer.item_ids)
    catalogue = ["not-in-the-model", *known[:40]]
    history = known[3:8]
    events = make_events([history, [], ["never-seen"]], [[known[0]], [known[1]], [known[2]]])
    scorer = BehaviourScorer(recommender, items=catalogue)
    scores = scorer.score(events, [0, 1, 2])
    assert scores.shape == (3, 41) and np.isneginf(scores[:, 0]).all()
    expected = recommender.encode([history], [["view"] * 5]) @ recommender.item_matrix()[:40].T
    np.testing.assert_allclose(scores[0, 1:], expected[0], rtol=1e-5, atol=1e-5)
    # Histories the model cannot read get the training popularity, as Recommender does.
    popular = [recommender.popularity.count(item) for item in known[:40]]
    np.testing.assert_allclose(scores[1, 1:], popular)
    np.testing.assert_allclose(scores[2, 1:], popular)
    # Over the model's own catalogue, the top items are the Recommender's (history kept).
    full = BehaviourScorer(recommender)
    top = np.argsort(-full.score(events, [0])[0], kind="stable")[:5]
    answer = recommender.recommend(history, k=5, event_types=["view"] * 5,
                                   exclude_history=False)
    assert [known[j] for j in top] == [item for item, _ in answer]
    result = evaluate_search(full, events, ks=(10,), n_resamples=0)
    assert result["protocol"]["items"] == len(known) and len(result["per_event"]["mrr"]) == 3
