"""New items without retraining (recsft.runs.items): a tiny SASRec trained with
``item_representation: id+text`` takes a new item whose text is that of a group of trained items
and recommends it after a history of them, in memory, in the rewritten run folder and from the
CLI; old items keep their ids and scores."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from recsft.errors import RecsftError


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A trained id+text SASRec whose items' text is their category's three words; returns
    (run folder, {category: text}, item → category)."""
    from recsft.training.pipeline import run_training
    from tests.text.checkpoint import category_text_config

    root = tmp_path_factory.mktemp("new_items")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSFT_CACHE", str(root / "cache"))
    config, items, texts = category_text_config(root, epochs=10)
    run_training(config)
    yield config.run_dir, texts, dict(zip(items["item_id"], items["category"]))
    mp.undo()


@pytest.fixture
def run_copy(text_run, tmp_path):
    """A fresh copy of the trained run (tests write into it)."""
    folder = tmp_path / "run"
    shutil.copytree(text_run[0], folder)
    return folder


def _group(text_run, n: int = 2):
    """Category ``n``'s items and text, and another category's text."""
    _, texts, category = text_run
    names = sorted(texts)
    group = sorted(item for item, c in category.items() if c == names[n])
    return group, texts[names[n]], texts[names[n + 1]]


def test_a_new_item_like_a_group_is_recommended_after_it_and_survives_a_reload(
        text_run, run_copy):
    from recsft import Recommender
    from recsft.runs import Run
    from recsft.runs.items import ADDED_ITEMS

    group, same, other = _group(text_run)
    history = group[:5]
    recommender = Recommender.from_pretrained(run_copy)
    old_ids = list(recommender.tokenizer.item_ids)
    old_vocab = recommender.tokenizer.get_vocab()
    before = dict(recommender.recommend(history, k=len(old_ids)))
    table = pd.DataFrame({"item_id": ["new_like_group", "new_other", group[0]],
                          "title": [same, other, "a text that is never read"]})
    assert recommender.add_items(table) == ["new_like_group", "new_other"]

    ranked = [item for item, _ in recommender.recommend(history, k=len(old_ids) + 2)]
    # Scored from its text alone, the new item ranks among the group it reads like, and above
    # a new item with another group's text.
    assert "new_like_group" in ranked[:len(group)]
    assert ranked.index("new_like_group") < ranked.index("new_other")
    after = dict(recommender.recommend(history, k=len(old_ids) + 2))
    for item, score in before.items():
        assert after[item] == pytest.approx(score, abs=1e-5)
    vocab = recommender.tokenizer.get_vocab()
    assert {item: vocab[item] for item in old_ids} == {item: old_vocab[item] for item in old_ids}
    assert vocab["new_like_group"] == len(old_vocab)

    # The run folder was rewritten: it reloads whole, with the new items and the same scores.
    run = Run.open(run_copy)
    run.check_consistency()
    assert run.tokenizer.item_ids[-2:] == ["new_like_group", "new_other"]
    assert run.manifest.info["vocab_size"] == len(old_vocab) + 2
    assert ADDED_ITEMS in run.manifest.files
    reloaded = Recommender.from_pretrained(run_copy)
    again = dict(reloaded.recommend(history, k=len(old_ids) + 2))
    assert again.keys() == after.keys()
    for item, score in after.items():
        assert again[item] == pytest.approx(score, abs=1e-5)
    assert reloaded.popularity.count("new_like_group") == 0
    record = json.loads((run_copy / ADDED_ITEMS).read_text())
    assert record[0]["added"] == ["new_like_group", "new_other"]
    assert record[0]["known"] == [group[0]] and record[0]["table"] == "<DataFrame>"
    assert "time" in record[0]


def test_cli_adds_items_then_finds_them_known(text_run, run_copy, tmp_path, capsys):
    from recsft.cli import main
    from recsft.runs import Run

    group, same, _ = _group(text_run)
    csv = tmp_path / "new_items.csv"
    pd.DataFrame({"item_id": ["n1", "n2", group[0]], "name": [same, same, "x"]}).to_csv(
        csv, index=False)
    args = ["index", "add", "--run", str(run_copy), "--items", str(csv),
            "--text-template", "{name}"]
    assert main(args) == 0
    assert "added 2 new item(s)" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "added 0 new item(s)" in out and "3 already known" in out
    run = Run.open(run_copy)
    assert run.tokenizer.item_ids[-2:] == ["n1", "n2"]
    # Same text, same vectors: both new items score alike.
    rec = run.recommender()
    assert np.allclose(rec.item_vector("n1"), rec.item_vector("n2"))
    assert len(json.loads((run_copy / "added_items.json").read_text())) == 1


def test_cli_refuses_an_id_only_run_in_one_line(tmp_path, capsys):
    from recsft.cli import main
    from tests.retrieval.tiny_run import save_run

    folder = tmp_path / "id_run"
    folder.mkdir()
    save_run(folder)
    before = (folder / "recsft_manifest.json").read_text()
    csv = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["n1"], "title": ["glue tape"]}).to_csv(csv, index=False)
    code = main(["index", "add", "--run", str(folder), "--items", str(csv)])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1
    assert "item_representation 'text' or 'id+text'" in err and "Traceback" not in err
    assert (folder / "recsft_manifest.json").read_text() == before


def test_bad_tables_are_refused_and_the_run_is_left_alone(text_run, run_copy, tmp_path):
    from recsft.runs.items import add_run_items

    group, same, _ = _group(text_run)
    manifest = (run_copy / "recsft_manifest.json").read_text()
    no_text = pd.DataFrame({"item_id": ["n1", "n2"], "title": [same, None]})
    with pytest.raises(RecsftError, match="'n2' \\(row 2\\) has no text"):
        add_run_items(run_copy, no_text)
    with pytest.raises(RecsftError, match="no column 'brand'"):
        add_run_items(run_copy, no_text, template="{title} {brand}")
    with pytest.raises(RecsftError, match="no 'item_id' column"):
        add_run_items(run_copy, pd.DataFrame({"id": ["n1"], "title": [same]}))
    with pytest.raises(RecsftError, match="appears more than once"):
        add_run_items(run_copy, pd.DataFrame({"item_id": ["n1", "n1"], "title": [same, same]}))
    with pytest.raises(RecsftError, match="whitespace"):
        add_run_items(run_copy, pd.DataFrame({"item_id": ["n 1"], "title": [same]}))
    with pytest.raises(RecsftError):
        add_run_items(run_copy, tmp_path / "missing.csv")
    assert (run_copy / "recsft_manifest.json").read_text() == manifest
    # Only known items: nothing to add, nothing written.
    report = add_run_items(run_copy, pd.DataFrame({"item_id": group[:2], "title": ["", ""]}))
    assert report.added == [] and report.known == group[:2]
    assert (run_copy / "recsft_manifest.json").read_text() == manifest


def test_a_crash_while_writing_leaves_the_old_run(text_run, run_copy, monkeypatch):
    from recsft.retrieval.index import ItemIndex
    from recsft.runs import Run
    from recsft.runs.items import add_run_items

    _, same, _ = _group(text_run)
    items = Run.open(run_copy).tokenizer.item_ids

    def crash(self, directory):
        raise OSError("disk full")

    monkeypatch.setattr(ItemIndex, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        add_run_items(run_copy, pd.DataFrame({"item_id": ["n1"], "title": [same]}))
    run = Run.open(run_copy)
    run.check_consistency()
    assert run.tokenizer.item_ids == items
    assert not [p for p in run_copy.parent.iterdir() if p.name.startswith(".tmp-")]


def test_tokenizer_add_items_round_trips(tmp_path):
    from recsft.tokenization import BehaviorTokenizer

    tokenizer = BehaviorTokenizer.from_sequences([["a", "b"]], event_types=["view"])
    assert tokenizer.add_items(["c", "d"]) == [6, 7]
    assert tokenizer.item_ids == ["a", "b", "c", "d"] and len(tokenizer) == 8
    assert tokenizer("a d c x")["input_ids"] == [4, 7, 6, tokenizer.unk_token_id]
    with pytest.raises(RecsftError, match="already in the vocabulary"):
        tokenizer.add_items(["b"])
    with pytest.raises(RecsftError, match="already in the vocabulary"):
        tokenizer.add_items(["[MASK]"])
    tokenizer.save_pretrained(tmp_path)
    loaded = BehaviorTokenizer.from_pretrained(str(tmp_path))
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.encode_histories([["d", "a"]])["input_ids"] == [[7, 4]]


def test_grown_transitions_have_no_mass_on_new_items():
    from recsft.modeling.transitions import ItemTransitions
    from recsft.runs.items import grown_transitions

    chain = ItemTransitions.fit([[0, 1, 2], [1, 2]], num_items=3)
    grown = grown_transitions(chain, 2)
    assert grown.num_items == 5 and grown.totals[3:].tolist() == [0, 0]
    probabilities = grown.next_item_probabilities([[0, 1]])
    assert probabilities.shape == (1, 5) and probabilities[0, 3:].tolist() == [0, 0]
    assert np.allclose(probabilities[:, :3], chain.next_item_probabilities([[0, 1]]))


def test_the_text_similarity_term_is_chosen_saved_served_and_grown_with_new_items(
        text_run, run_copy, capsys):
    import dataclasses

    from recsft import Recommender
    from recsft.modeling.transitions import ItemTransitions
    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run, fit_transitions
    from recsft.runs.files import TRANSITIONS
    from recsft.runs.update import updating

    result = fit_transitions(run_copy, weights=[0.0, 0.5], smoothings=[0.0],
                             temperatures=[1.0], content_weights=[1.0, 3.0])
    tried = [row["content_weight"] for row in result["validation"] if "content_weight" in row]
    assert tried == [0.0, 1.0, 3.0]
    assert result["content_weight"] in tried
    assert ItemTransitions.load(str(run_copy)).settings.content_weight == result["content_weight"]
    from recsft.cli import main

    assert main(["transitions", "--run", str(run_copy), "--weights", "0", "0.5",
                 "--smoothings", "0", "--temperatures", "1", "--content-weights", "2"]) == 0
    out = capsys.readouterr().out
    assert "text-similarity weight 2" in out and "text-similarity weight " in out.splitlines()[-2]
    # An empty grid leaves the term out.
    assert fit_transitions(run_copy, weights=[0.0], smoothings=[0.0], temperatures=[1.0],
                           content_weights=())["content_weight"] == 0.0

    # A strong term, set by hand: evaluation and the recommender both apply it.
    chain = ItemTransitions.load(str(run_copy))
    chain.settings = dataclasses.replace(chain.settings, weight=0.5, content_weight=50.0)
    with updating(Run.open(run_copy), TRANSITIONS) as folder:
        chain.save(str(folder))
    run = Run.open(run_copy)
    assert evaluate_run(run, "valid", n_resamples=0, transitions=True)["transitions"][
        "content_weight"] == 50.0
    group, same, other = _group(text_run)
    recommender = Recommender.from_pretrained(run_copy, transitions=True)
    assert recommender.content is not None
    assert recommender.content.num_items == len(recommender.tokenizer.item_ids)
    # With a dominant text term, the group's own items lead after a history of them.
    ranked = [item for item, _ in recommender.recommend(group[:3], k=3)]
    assert set(ranked) <= set(group)
    # A new item reading like the group is scored by the term too, at once.
    recommender.add_items(pd.DataFrame({"item_id": ["new_like_group"], "title": [same]}))
    assert recommender.content.num_items == len(recommender.tokenizer.item_ids)
    ranked = [item for item, _ in recommender.recommend(
        group[:3], k=len(recommender.tokenizer.item_ids))]
    assert ranked.index("new_like_group") < len(group)
    with pytest.raises(ValueError, match="give content="):
        Recommender(recommender.model, recommender.tokenizer,
                    transitions=recommender.transitions)
