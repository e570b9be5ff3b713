"""Second stage of personalised search: pair features, re-rankers, the two-stage scorer."""

from __future__ import annotations

import numpy as np
import pytest

from recsft.errors import RecsftError
from recsft.search.bm25 import BM25Retriever
from recsft.search.events import SearchEvents, leave_last_out
from recsft.search.features import (
    FeatureConfig,
    RecommenderBehaviour,
    SearchSignals,
    TextSpace,
    feature_names,
    pair_features,
)
from recsft.search.reranker import LIGHTGBM_FILE, load_reranker, make_reranker
from recsft.search.two_stage import TwoStageScorer

pytest.importorskip("bm25s")
pytest.importorskip("lightgbm")

CATEGORIES = ["shirt", "shoes", "bag", "hat", "jacket", "socks"]
STYLES = {"sport": ["sport", "running", "mesh"], "formal": ["formal", "silk", "classic"]}


def shop(per_cell: int = 4) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Items of two styles in every category, each title ``category style-word model``
    (three words: BM25 cannot tell the styles of a category apart)."""
    items, texts, style_of = [], {}, {}
    n = 0
    for category in CATEGORIES:
        for style, words in STYLES.items():
            for k in range(per_cell):
                item = f"{style[0]}{n:03d}"
                items.append(item)
                texts[item] = f"{category} {words[k % len(words)]} model{n}"
                style_of[item] = style
                n += 1
    return items, texts, style_of


def bag_of_words(texts: dict[str, str], items: list[str]) -> TextSpace:
    """A real (if simple) text space: word counts over the catalogue's vocabulary."""
    vocab = {w: i for i, w in enumerate(sorted({w for t in texts.values() for w in t.split()}))}

    def encode(queries):
        out = np.zeros((len(queries), len(vocab)), dtype=np.float32)
        for row, query in enumerate(queries):
            for word in query.lower().split():
                if word in vocab:
                    out[row, vocab[word]] += 1
        return out

    return TextSpace(encode([texts[i] for i in items]), encode)


def make_events(items: list[str], texts: dict[str, str], style_of: dict[str, str],
                users: int = 80, searches: int = 4, seed: int = 0) -> SearchEvents:
    """Each user keeps to one style: a history of that style, a query naming only a category,
    the target an item of that category in the user's style (never in the history)."""
    rng = np.random.default_rng(seed)
    category_of = {i: texts[i].split()[0] for i in items}
    fields: dict[str, list] = {k: [] for k in ("user", "query", "hist", "kinds", "targets")}
    for u in range(users):
        style = "sport" if u % 2 == 0 else "formal"
        own = [i for i in items if style_of[i] == style]
        for _ in range(searches):
            category = str(rng.choice(CATEGORIES))
            pool = [i for i in own if category_of[i] != category]
            history = [str(i) for i in rng.choice(pool, size=5, replace=False)]
            target = str(rng.choice([i for i in own if category_of[i] == category]))
            fields["user"].append(f"u{u}")
            fields["query"].append(category)
            fields["hist"].append(history)
            fields["kinds"].append([str(k) for k in rng.choice(["view", "cart", "buy"], 5)])
            fields["targets"].append([target])
    return SearchEvents(fields["user"], fields["query"], np.arange(len(fields["user"])),
                        fields["hist"], fields["kinds"], fields["targets"],
                        leave_last_out(fields["user"], min_searches=3))


@pytest.fixture(scope="module")
def data():
    items, texts, style_of = shop()
    events = make_events(items, texts, style_of)
    counts = {item: float(n % 7) for n, item in enumerate(items)}
    signals = SearchSignals(items, bm25=BM25Retriever(texts), text=bag_of_words(texts, items),
                            popularity=counts)
    return items, texts, style_of, events, signals


def test_features_of_hand_built_pairs() -> None:
    items = ["a", "b", "c", "d"]
    texts = {"a": "red shirt", "b": "blue shirt", "c": "red hat", "d": "green sock"}
    signals = SearchSignals(items, bm25=BM25Retriever(texts), text=bag_of_words(texts, items),
                            popularity={"a": 9.0, "b": 1.0})
    events = SearchEvents(["u"], ["shirt"], [5], [["a", "b", "x", "a"]],
                          [["view", "cart", "view", "buy"]], [["b"]], ["train"])
    config = FeatureConfig(behaviour=False, sources=("bm25", "dense"))
    computed = signals.compute(events, [0])
    x, groups, names = pair_features(signals, computed, events, [0],
                                     [np.array([0, 1, 2])], config, {"bm25": 2, "dense": 1})
    assert names == feature_names(config) and x.dtype == np.float32
    assert x.shape == (3, len(names)) and groups.tolist() == [3]
    col = {name: x[:, j] for j, name in enumerate(names)}
    bm25 = signals.bm25.scores("shirt")
    np.testing.assert_allclose(col["bm25_score"], bm25[:3])
    assert col["bm25_score"][2] == 0 and col["bm25_rank"][2] == pytest.approx(np.log1p(2))
    np.testing.assert_allclose(col["popularity"], np.log1p([9.0, 1.0, 0.0]), rtol=1e-6)
    # "a" is the newest history event (position 1) and the 4th from the end; "x" is unknown.
    np.testing.assert_array_equal(col["history_position"][:2], [1, 3])
    assert np.isnan(col["history_position"][2]) and col["in_history"].tolist() == [1, 1, 0]
    assert col["count_view"].tolist() == [1, 0, 0] and col["count_buy"].tolist() == [1, 0, 0]
    assert col["count_cart"].tolist() == [0, 1, 0] and col["count_all"].tolist() == [2, 1, 0]
    # Both shirts match "shirt" (BM25 top-2); the hat shares no term with the query.
    assert col["source_bm25"].tolist() == [1, 1, 0]
    assert col["source_dense"].sum() == 1
    # HEM: the history is red-and-blue shirts; the red shirt is nearest the query + history.
    assert col["hem_cosine"][0] > col["hem_cosine"][2]
    with pytest.raises(RecsftError, match="behaviour"):
        pair_features(signals, computed, events, [0], [np.array([0])], FeatureConfig(),
                      {"bm25": 2, "dense": 1})


def test_behaviour_features_from_a_recommender() -> None:
    pytest.importorskip("torch")
    from recsft.retrieval.recommender import Recommender
    from tests.retrieval.tiny_run import COUNTS, ITEMS, tiny_parts

    model, tokenizer = tiny_parts("sasrec")
    recommender = Recommender(model, tokenizer, popularity=COUNTS)
    catalogue = ITEMS[:10] + ["new"]
    behaviour = RecommenderBehaviour(recommender, catalogue)
    histories = [["i01", "i02"], [], ["unknown"]]
    scores = behaviour.scores(histories, [["view", "cart"], [], ["view"]])
    expected = recommender.encode([histories[0]], [["view", "cart"]])[0] @ \
        recommender.item_matrix()[[tokenizer.item_ids.index(i) for i in ITEMS[:10]]].T
    np.testing.assert_allclose(scores[0, :10], expected, rtol=1e-5, atol=1e-6)
    assert np.isnan(scores[0, 10]) and np.isnan(scores[1:]).all()


def test_two_stage_uses_the_history_where_the_query_is_ambiguous(data) -> None:
    items, texts, style_of, events, signals = data
    test = [i for i, s in enumerate(events.splits) if s == "test"]
    user_style = [style_of[events.targets[r][0]] for r in test]

    def style_share(first: np.ndarray) -> float:
        return float(np.mean([style_of[items[c]] == s for c, s in zip(first, user_style)]))

    bm25_first = signals.compute(events, test).bm25.argmax(axis=1)
    assert style_share(bm25_first) <= 0.6
    query_only = FeatureConfig(behaviour=False, hem=False, history=False, behaviour_types=(),
                               sources=("bm25", "dense"))
    for kind in ("lightgbm", "linear"):
        scorer = TwoStageScorer.fit(signals, events, kind=kind, top_n=12)
        scores = scorer.score(events, test)
        assert scores.shape == (len(test), len(items)) and scores.dtype == np.float32
        assert np.isfinite(scores).all()
        first = scores.argmax(axis=1)
        # The query names the category only; the history tells the style.
        assert style_share(first) >= 0.95, kind
        assert all(texts[items[c]].startswith(events.queries[r]) for r, c in zip(test, first))
        # The same re-ranker with the query features alone cannot tell the styles apart.
        blind = TwoStageScorer.fit(signals, events, kind=kind, config=query_only, top_n=12)
        assert style_share(blind.score(events, test).argmax(axis=1)) <= 0.6, kind


def test_matches_the_search_scorer_protocol(data) -> None:
    scoring = pytest.importorskip("recsft.search.scoring")
    scorer = TwoStageScorer.fit(data[4], data[3], kind="linear", top_n=5)
    assert isinstance(scorer, scoring.SearchScorer) and scorer.name == "two-stage-linear"


def test_candidates_and_full_ranking(data) -> None:
    items, _, _, events, signals = data
    scorer = TwoStageScorer.fit(signals, events, kind="linear", top_n={"bm25": 5, "dense": 3})
    rows = [0, 1, 2]
    unions = scorer.candidates(events, rows)
    scores = scorer.score(events, rows)
    for n, union in enumerate(unions):
        assert 5 <= len(union) <= 8
        assert all(set(c.sources) <= {"bm25", "dense"} and c.sources for c in union)
        cols = [signals.column[c.item_id] for c in union]
        rest = np.setdiff1d(np.arange(len(items)), cols)
        # Every candidate above every other item.
        assert scores[n, cols].min() > scores[n, rest].max()
    hits = scorer.search("bag", events.histories[0], k=5)
    assert len(hits) == 5 and all(isinstance(s, float) for _, s in hits)
    assert hits == sorted(hits, key=lambda h: -h[1])
    with pytest.raises(RecsftError, match="k="):
        scorer.search("bag", [], k=0)
    with pytest.raises(RecsftError, match="not available"):
        TwoStageScorer.fit(signals, events, top_n={"behaviour": 5})


@pytest.mark.parametrize("kind", ["lightgbm", "linear"])
def test_reranker_save_load_round_trip(data, kind, tmp_path) -> None:
    _, _, _, events, signals = data
    scorer = TwoStageScorer.fit(signals, events, kind=kind, top_n=10)
    test = [i for i, s in enumerate(events.splits) if s == "test"]
    x, _, _, _ = scorer.features(events, test)
    scorer.save(tmp_path / "ranker")
    if kind == "lightgbm":
        text = (tmp_path / "ranker" / LIGHTGBM_FILE).read_text()
        assert text.startswith("tree") and scorer.reranker.info["best_iteration"] >= 1
    again = load_reranker(tmp_path / "ranker")
    assert again.kind == kind and again.feature_names == scorer.reranker.feature_names
    np.testing.assert_allclose(again.predict(x), scorer.reranker.predict(x), rtol=1e-6)
    loaded = TwoStageScorer.load(tmp_path / "ranker", signals)
    assert loaded.top_n == scorer.top_n
    np.testing.assert_allclose(loaded.score(events, test), scorer.score(events, test),
                               rtol=1e-6)
    # A second save replaces the saved re-ranker; a foreign folder is refused.
    scorer.save(tmp_path / "ranker")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RecsftError, match="refusing"):
        scorer.save(tmp_path / "other")
    with pytest.raises(RecsftError, match="missing"):
        load_reranker(tmp_path / "nothing")


def test_reranker_checks_its_input() -> None:
    ranker = make_reranker("linear", ["a", "b"])
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(RecsftError, match="expected all equal"):
        ranker.fit(x, np.zeros(4), [3], x, np.zeros(4), [4])
    with pytest.raises(RecsftError, match="nothing to learn"):
        ranker.fit(x, np.zeros(4), [4], x, np.zeros(4), [4])
    with pytest.raises(RecsftError, match="kind"):
        make_reranker("forest", ["a"])


def test_behaviour_model_as_a_first_stage_source(data) -> None:
    pytest.importorskip("torch")
    import torch

    from recsft.modeling.configuration_sasrec import SASRecConfig
    from recsft.modeling.sasrec import SASRecModel
    from recsft.retrieval.recommender import Recommender
    from recsft.tokenization import BehaviorTokenizer

    items, texts, _, events, _ = data
    tokenizer = BehaviorTokenizer.from_sequences([items[:-4]], event_types=["view", "cart"])
    torch.manual_seed(0)
    model = SASRecModel(SASRecConfig(
        vocab_size=len(tokenizer), first_item_id=tokenizer.first_item_id,
        num_token_types=tokenizer.num_token_types, max_position_embeddings=8,
        pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id,
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32))
    behaviour = RecommenderBehaviour(Recommender(model.eval(), tokenizer), items)
    signals = SearchSignals(items, bm25=BM25Retriever(texts), behaviour=behaviour)
    scorer = TwoStageScorer.fit(signals, events, kind="linear",
                                top_n={"bm25": 4, "behaviour": 4})
    assert "behaviour_score" in scorer.reranker.feature_names
    unions = scorer.candidates(events, [0, 1])
    assert all(any("behaviour" in c.sources for c in union) for union in unions)
    # The 4 items the model does not know are never behaviour candidates.
    assert all(c.item_id not in items[-4:] for union in unions for c in union
               if c.sources == ["behaviour"])
    scores = scorer.score(events, [0, 1])
    assert scores.shape == (2, len(items)) and np.isfinite(scores).all()
