"""Recommender: exact results, exclusion, filters, cold start, batches, similar items,
explanations and bad input."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch

from recsft.errors import RunFolderError  # noqa: E402
from recsft.retrieval.popularity import POPULARITY_FILE, Popularity  # noqa: E402
from recsft.retrieval.recommender import Recommender  # noqa: E402
from recsft.runs import Run  # noqa: E402
from tests.retrieval.tiny_run import COUNTS, ITEMS, save_run, tiny_parts  # noqa: E402

HISTORY = ["i03", "i10", "i07", "i22"]


def brute_force(recommender: Recommender, history: list[str], k: int,
                banned: set[str] = frozenset(), allowed: set[str] | None = None) -> list[str]:
    """Score every item with the model and take the best ``k`` outside ``banned`` (unknown
    items read as ``[UNK]``)."""
    model, tokenizer = recommender.model, recommender.tokenizer
    batch = tokenizer.encode_histories([history], max_length=recommender.max_length,
                                       append_mask=recommender.append_mask, return_tensors="pt")
    with torch.no_grad():
        scores = (model.encode_sequences(**batch) @ model.item_embeddings().T)[0].double()
    ranked = [ITEMS[i] for i in torch.argsort(scores, descending=True, stable=True).tolist()]
    keep = [i for i in ranked if i not in banned and i not in history
            and (allowed is None or i in allowed)]
    return keep[:k]


@pytest.fixture(params=["sasrec", "bert4rec", "gru4rec"])
def recommender(request) -> Recommender:
    model, tokenizer = tiny_parts(request.param)
    return Recommender(model, tokenizer, popularity=COUNTS)


def test_recommend_equals_scoring_every_item(recommender) -> None:
    got = recommender.recommend(HISTORY, k=7)
    assert [i for i, _ in got] == brute_force(recommender, HISTORY, 7)
    assert all(a[1] >= b[1] for a, b in zip(got, got[1:]))
    assert not {i for i, _ in got} & set(HISTORY)


def test_exclude_and_filters(recommender) -> None:
    top = [i for i, _ in recommender.recommend(HISTORY, k=3)]
    got = recommender.recommend(HISTORY, k=5, exclude=top[:2])
    assert [i for i, _ in got] == brute_force(recommender, HISTORY, 5, banned=set(top[:2]))
    allowed = {f"i{n:02d}" for n in range(0, 60, 3)} | {"not-an-item"}
    by_set = recommender.recommend(HISTORY, k=4, filter=allowed)
    assert [i for i, _ in by_set] == brute_force(recommender, HISTORY, 4, allowed=allowed)
    by_predicate = recommender.recommend(HISTORY, k=4, filter=lambda i: int(i[1:]) % 3 == 0)
    assert by_predicate == by_set
    with_history = recommender.recommend(HISTORY, k=60, exclude_history=False)
    assert set(HISTORY) <= {i for i, _ in with_history}
    with pytest.raises(TypeError, match="not a single string"):
        recommender.recommend(HISTORY, k=3, filter="i01")


def test_unknown_items_are_read_as_unk_and_reported(recommender, caplog) -> None:
    history = ["ghost", *HISTORY, "phantom"]
    with caplog.at_level(logging.WARNING, logger="recsft.retrieval.recommender"):
        got = recommender.recommend(history, k=5)
    assert [i for i, _ in got] == brute_force(recommender, history, 5)
    assert got == recommender.recommend(["[UNK]", *HISTORY, "[UNK]"], k=5)
    assert "read 2 item id(s) unknown to the model as [UNK]" in caplog.text
    assert recommender.unknown_items(["ghost", "i01"]) == ["ghost"]


def test_empty_or_unknown_history_falls_back_to_popularity(recommender) -> None:
    assert recommender.recommend([], k=3) == [("i00", 60.0), ("i01", 59.0), ("i02", 58.0)]
    assert [i for i, _ in recommender.recommend(["ghost"], k=2)] == ["i00", "i01"]
    assert [i for i, _ in recommender.recommend([], k=2, exclude=["i00"])] == ["i01", "i02"]
    assert [i for i, _ in recommender.recommend([], k=2, filter={"i05", "i09", "i50"})] == [
        "i05", "i09"]


def test_popularity_fallback_skips_items_removed_from_the_index(recommender) -> None:
    recommender.index.remove(["i00", "i02"])
    assert [i for i, _ in recommender.recommend([], k=2)] == ["i01", "i03"]
    assert "i00" not in {i for i, _ in recommender.recommend(HISTORY, k=58)}


def test_empty_history_without_popularity_is_a_clear_error() -> None:
    model, tokenizer = tiny_parts("sasrec")
    recommender = Recommender(model, tokenizer)
    with pytest.raises(ValueError, match="no item popularity to fall back on"):
        recommender.recommend([], k=3)


def test_batch_equals_one_at_a_time(recommender) -> None:
    histories = [HISTORY, [], ["i01", "i02"], ["ghost"], ["i30", "i31", "i32", "i33", "i34"]]
    exclude = [["i05"], [], ["i04"], ["i00"], []]
    batch = recommender.recommend_batch(histories, k=4, exclude=exclude, batch_size=2)
    single = [recommender.recommend(h, k=4, exclude=e) for h, e in zip(histories, exclude)]
    assert [[i for i, _ in row] for row in batch] == [[i for i, _ in row] for row in single]
    np.testing.assert_allclose([[s for _, s in row] for row in batch],
                               [[s for _, s in row] for row in single], rtol=1e-5, atol=1e-6)


def test_event_types_and_timestamps_must_be_parallel(recommender) -> None:
    types = ["view", "cart", "view", "view"]
    times = [0, 60, 3600, 7200]
    got = recommender.recommend(HISTORY, k=3, event_types=types, timestamps=times)
    assert len(got) == 3
    with pytest.raises(ValueError, match=r"event_types\[1\]: expected 2 entries, one per"):
        recommender.recommend_batch([HISTORY, ["i1", "i2"]], k=3,
                                    event_types=[types, ["view"]])
    with pytest.raises(ValueError, match=r"timestamps: expected one row per history \(1\), got 2"):
        recommender.recommend_batch([HISTORY], k=3, timestamps=[times, times])
    with pytest.raises(ValueError, match=r"timestamps\[0\]: expected 4 entries"):
        recommender.recommend(HISTORY, k=3, timestamps=[])  # the service wants every time
    with pytest.raises(TypeError, match=r"histories\[0\] must be a sequence"):
        recommender.recommend_batch(["i01"], k=3)
    with pytest.raises(ValueError, match="k must be an integer from 1 to the catalogue size"):
        recommender.recommend(HISTORY, k=0)


def test_similar_items_are_cosine_neighbours(recommender) -> None:
    items = recommender.model.item_embeddings().detach().double().numpy()
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    cosine = unit @ unit[7]
    expected = [ITEMS[i] for i in np.argsort(-cosine, kind="stable") if i != 7][:5]
    got = recommender.similar_items("i07", k=5)
    assert [i for i, _ in got] == expected
    np.testing.assert_allclose([s for _, s in got], np.sort(cosine)[::-1][1:6], rtol=1e-5)
    assert [i for i, _ in recommender.similar_items("i07", k=2, exclude=expected[:1])] == \
        expected[1:3]
    with pytest.raises(KeyError, match="unknown item id 'ghost': not among the model's 60"):
        recommender.similar_items("ghost")


def test_occlusion_explanation_is_the_score_drop(recommender) -> None:
    item = recommender.recommend(HISTORY, k=1)[0][0]
    history = HISTORY + ["ghost"]
    weights = recommender.explain(history, item)
    assert sorted(w.position for w in weights) == [0, 1, 2, 3, 4]  # ghost is read as [UNK]
    target = recommender.item_vector(item).astype(np.float64)
    full = recommender.encode([history])[0] @ target
    for w in weights:
        without = [h for n, h in enumerate(history) if n != w.position]
        drop = full - recommender.encode([without])[0] @ target
        assert w.weight == pytest.approx(drop, rel=1e-4, abs=1e-5)
        assert w.item_id == history[w.position]
    assert [w.weight for w in weights] == sorted((w.weight for w in weights), reverse=True)
    assert recommender.explain([], item) == []
    with pytest.raises(KeyError, match="ghost"):
        recommender.explain(HISTORY, "ghost")
    with pytest.raises(ValueError, match="unknown explanation method 'shap'"):
        recommender.explain(HISTORY, item, method="shap")


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_attention_explanation(model_type) -> None:
    model, tokenizer = tiny_parts(model_type)
    recommender = Recommender(model, tokenizer)
    implementation = model.config._attn_implementation
    long_history = [f"i{n:02d}" for n in range(20, 32)]  # longer than the 8-token window
    weights = recommender.explain(long_history, "i01", method="attention")
    window = 8 - int(recommender.append_mask)
    assert sorted(w.position for w in weights) == list(range(12 - window, 12))
    assert all(0.0 <= w.weight <= 1.0 for w in weights)
    assert sum(w.weight for w in weights) <= 1.0 + 1e-5
    if model_type == "sasrec":  # the newest event is the query itself: all weight is history
        assert sum(w.weight for w in weights) == pytest.approx(1.0, abs=1e-5)
    assert model.config._attn_implementation == implementation


def test_attention_explanation_needs_a_transformer() -> None:
    model, tokenizer = tiny_parts("gru4rec")
    with pytest.raises(ValueError, match="GRU4RecModel has no self-attention layers"):
        Recommender(model, tokenizer).explain(HISTORY, "i01", method="attention")


def test_from_pretrained_reads_the_run_folder(tmp_path) -> None:
    run = save_run(tmp_path / "run")
    recommender = Recommender.from_pretrained(run)
    assert recommender.popularity is not None and recommender.popularity.count("i00") == 60.0
    assert [i for i, _ in recommender.recommend([], k=1)] == ["i00"]
    assert [i for i, _ in recommender.recommend(HISTORY, k=5)] == brute_force(
        recommender, HISTORY, 5)
    with open(os.path.join(run, POPULARITY_FILE), "w") as handle:
        json.dump({"i00": -1}, handle)
    with pytest.raises(RunFolderError, match=f"{POPULARITY_FILE}: differs from the file"):
        Recommender.from_pretrained(run)
    # Even recorded in the manifest (a crafted folder), the counts themselves are checked.
    with pytest.raises(ValueError, match=f"{POPULARITY_FILE}: popularity of item 'i00' must be "
                                         "a non-negative number"):
        Run.seal(run)


def test_popularity_ranks_stably() -> None:
    popularity = Popularity({"a": 1, "b": 3, "c": 3, "d": 0})
    assert popularity.top(3) == [("b", 3.0), ("c", 3.0), ("a", 1.0)]
    assert popularity.top(5, exclude={"b"}, keep=lambda i: i != "a") == [("c", 3.0), ("d", 0.0)]
    with pytest.raises(ValueError, match="popularity of item 'x'"):
        Popularity({"x": float("nan")})


def _chain(weight: float, smoothing: float = 0.0):
    from recsft.modeling.transitions import ItemTransitions, TransitionSettings

    # i22 is followed by i40 three times and by i41 once; i07 by i50.
    rows = [[22, 40], [22, 40], [22, 40], [22, 41], [7, 50]]
    return ItemTransitions.fit(rows, len(ITEMS), TransitionSettings(
        order_weights=(1.0,), weight=weight, smoothing=smoothing))


def test_transitions_mix_the_chain_into_the_ranking() -> None:
    from recsft.scoring.mixture import MixtureScorer

    model, tokenizer = tiny_parts("sasrec")
    plain = Recommender(model, tokenizer, popularity=COUNTS)
    # Weight 0: the model's own ranking and scores, through the dense path.
    alone = Recommender(model, tokenizer, popularity=COUNTS, transitions=_chain(0.0))
    for got, want in zip(alone.recommend(HISTORY, k=6), plain.recommend(HISTORY, k=6)):
        assert got[0] == want[0] and got[1] == pytest.approx(want[1], rel=1e-5)
    # The chain alone (decay 0.3: i22 reads 1 / 1.417, i07 0.3 / 1.417): i40 0.53, i50 0.21,
    # i41 0.18.
    chained = Recommender(model, tokenizer, popularity=COUNTS, transitions=_chain(1.0))
    assert [i for i, _ in chained.recommend(HISTORY, k=3)] == ["i40", "i50", "i41"]
    assert [i for i, _ in chained.recommend(HISTORY, k=2, exclude=["i40"])] == ["i50", "i41"]
    assert [i for i, _ in chained.recommend(HISTORY, k=1, filter={"i50", "i01"})] == ["i50"]
    # Scores are the mixture's log-probabilities, as in evaluation.
    mixed = Recommender(model, tokenizer, popularity=COUNTS, transitions=_chain(0.6, 2.0))
    got = mixed.recommend(HISTORY, k=len(ITEMS))
    batch = tokenizer.encode_histories([HISTORY], max_length=8, append_mask=False,
                                       return_tensors="pt")
    with torch.no_grad():
        logits = model.encode_sequences(**batch) @ model.item_embeddings().T
    scores = MixtureScorer(lambda _: logits, mixed.transitions, tokenizer.first_item_id, 0.6,
                           2.0)({**batch, "index": torch.tensor([0])})[0]
    want = sorted(((ITEMS[n], float(s)) for n, s in enumerate(scores)
                   if ITEMS[n] not in HISTORY), key=lambda pair: -pair[1])
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
    assert mixed.recommend_batch([HISTORY, []], k=4) == [mixed.recommend(HISTORY, k=4),
                                                         plain.recommend([], k=4)]


def test_transitions_must_be_fitted_for_the_same_items(tmp_path) -> None:
    from recsft.modeling.transitions import ItemTransitions

    model, tokenizer = tiny_parts("sasrec")
    with pytest.raises(ValueError, match="no mixture weight"):
        Recommender(model, tokenizer, transitions=ItemTransitions.fit([[0, 1]], len(ITEMS)))
    with pytest.raises(ValueError, match="not the same run"):
        Recommender(model, tokenizer, transitions=ItemTransitions.fit(
            [[0, 1]], 5, _chain(0.5).settings))
    run = save_run(tmp_path / "run")
    with pytest.raises(RunFolderError, match="recsft transitions --run"):
        Recommender.from_pretrained(run, transitions=True)
    _chain(1.0).save(run)
    Run.seal(run)
    loaded = Recommender.from_pretrained(run, transitions=True)
    assert [i for i, _ in loaded.recommend(HISTORY, k=2)] == ["i40", "i50"]
