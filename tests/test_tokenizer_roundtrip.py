"""The reloaded BehaviorTokenizer answers every standard tokenizer call as the fresh one does.

Regression for issue 22: transformers 5 hands a tokenizer class with its own ``__init__`` the
``vocab`` read from ``tokenizer.json`` rather than the file; BehaviorTokenizer left the backend to
the base class, which built a BPE model with no merges and no pre-tokenizer, so every
``tok("i1 i2")`` / ``encode`` / ``tokenize`` of the *reloaded* tokenizer returned ``[]`` while
``encode_histories`` (which never goes through the backend) kept working.

Every test here runs the calls on the reloaded object, for three ways of getting it:
``BehaviorTokenizer.from_pretrained``, ``AutoTokenizer.from_pretrained`` and a folder written the
way recsft wrote it before the fix (literal files, not today's ``save_pretrained``);
tests/hub/test_tokenizer_push.py does the same after ``push_to_hub`` to the stand-in Hub and a
download from it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import models, pre_tokenizers

from recsft.errors import RecsftError
from recsft.tokenization import SPECIAL_TOKENS, BehaviorTokenizer

NUM_ITEMS = 300
NUM_HISTORIES = 1000
EVENT_TYPES = ["view", "cart", "fav", "buy"]


def _items() -> list[str]:
    return [f"i{n:04d}" for n in range(NUM_ITEMS)]


def make_fresh() -> BehaviorTokenizer:
    """A fresh tokenizer over 300 items and four event types (seeded)."""
    rng = random.Random(7)
    items = _items()
    sequences = [rng.sample(items, rng.randint(1, 12)) for _ in range(400)] + [items]
    return BehaviorTokenizer.from_sequences(sequences, event_types=EVENT_TYPES)


def make_histories() -> list[list[str]]:
    """1,000 seeded histories of 1-40 events; about one event in ten is an unknown item."""
    rng = random.Random(11)
    items = _items()
    return [[rng.choice(items) if rng.random() > 0.1 else f"new{rng.randint(0, 99)}"
             for _ in range(rng.randint(1, 40))] for _ in range(NUM_HISTORIES)]


@pytest.fixture(scope="module")
def fresh() -> BehaviorTokenizer:
    return make_fresh()


@pytest.fixture(scope="module")
def histories() -> list[list[str]]:
    return make_histories()


def _legacy_folder(fresh: BehaviorTokenizer, folder: Path) -> Path:
    """``tokenizer.json`` and ``tokenizer_config.json`` as recsft wrote them before the fix
    (transformers 5.x; these are the bytes' structure of a run folder of that time)."""
    vocab = dict(sorted(fresh.get_vocab().items(), key=lambda kv: kv[1]))
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIAL_TOKENS)]
    tokenizer_json = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {}},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    }
    config = {
        "backend": "tokenizers", "bos_token": None, "cls_token": "[CLS]", "eos_token": None,
        "event_types": fresh.event_types, "mask_token": "[MASK]",
        "model_max_length": 1000000000000000019884624838656, "pad_token": "[PAD]",
        "padding_side": "left", "tokenizer_class": "BehaviorTokenizer",
        "truncation_side": "left", "unk_token": "[UNK]",
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def _reload(how: str, fresh: BehaviorTokenizer, tmp_path: Path) -> Any:
    from transformers import AutoTokenizer

    import recsft  # noqa: F401  (registers BehaviorTokenizer with AutoTokenizer)

    if how == "from_pretrained":
        fresh.save_pretrained(tmp_path / "tok")
        return BehaviorTokenizer.from_pretrained(tmp_path / "tok")
    if how == "auto":
        fresh.save_pretrained(tmp_path / "tok")
        return AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert how == "legacy_folder"
    return AutoTokenizer.from_pretrained(_legacy_folder(fresh, tmp_path / "old"))


WAYS = ["from_pretrained", "auto", "legacy_folder"]


def expected_ids(fresh: BehaviorTokenizer, history: list[str]) -> list[int]:
    """Ids by plain dictionary lookup (no tokenizer pipeline involved)."""
    vocab = fresh.get_vocab()
    return [vocab.get(item, fresh.unk_token_id) for item in history]


def assert_same_pipeline(loaded: Any, fresh: BehaviorTokenizer) -> None:
    """``loaded`` is a BehaviorTokenizer with the fresh one's pipeline, vocabulary and tokens."""
    assert isinstance(loaded, BehaviorTokenizer)
    assert isinstance(loaded.backend_tokenizer.model, models.WordLevel)
    assert isinstance(loaded.backend_tokenizer.pre_tokenizer, pre_tokenizers.WhitespaceSplit)
    assert loaded.backend_tokenizer.normalizer is None
    assert loaded.get_vocab() == fresh.get_vocab()
    assert loaded.event_types == fresh.event_types
    assert (loaded.pad_token_id, loaded.unk_token_id, loaded.mask_token_id,
            loaded.cls_token_id) == (0, 1, 2, 3)
    assert (loaded.padding_side, loaded.truncation_side) == ("left", "left")
    assert loaded.bos_token is None and loaded.eos_token is None


def assert_standard_calls(loaded: Any, fresh: BehaviorTokenizer,
                          histories: list[list[str]]) -> None:
    """Every standard call of ``loaded`` (and of ``fresh``) gives the dictionary-lookup ids."""
    texts = [" ".join(h) for h in histories]
    expected = [expected_ids(fresh, h) for h in histories]
    tokens = [fresh.convert_ids_to_tokens(ids) for ids in expected]
    assert sum(fresh.unk_token_id in ids for ids in expected) > 100  # unknown items are tested

    for tok in (fresh, loaded):  # the fresh one too: the expectation is not a copy of it
        for text, history, ids, toks in zip(texts, histories, expected, tokens):
            assert tok(text)["input_ids"] == ids
            assert tok.encode(text) == ids
            assert tok.tokenize(text) == toks
            assert tok(history, is_split_into_words=True)["input_ids"] == ids
            assert tok.decode(ids) == " ".join(toks)
        assert tok(texts)["input_ids"] == expected
        assert tok(histories, is_split_into_words=True)["input_ids"] == expected
        assert tok.batch_decode(expected) == [" ".join(t) for t in tokens]

        batch = tok(texts, padding=True, return_tensors="pt")
        width = max(len(ids) for ids in expected)
        assert batch["input_ids"].dtype == torch.long
        assert batch["input_ids"].tolist() == [
            [tok.pad_token_id] * (width - len(ids)) + ids for ids in expected]
        assert batch["attention_mask"].tolist() == [
            [0] * (width - len(ids)) + [1] * len(ids) for ids in expected]

        cut = tok(texts[:50], truncation=True, max_length=8, padding="max_length")
        assert cut["input_ids"] == [  # left truncation keeps the newest events
            [tok.pad_token_id] * (8 - len(ids[-8:])) + ids[-8:] for ids in expected[:50]]

        assert tok.encode_histories(histories, append_mask=True, max_length=30) == \
            fresh.encode_histories(histories, append_mask=True, max_length=30)


@pytest.mark.parametrize("how", WAYS)
def test_reloaded_tokenizer_keeps_the_word_level_pipeline(fresh, tmp_path, how):
    assert_same_pipeline(_reload(how, fresh, tmp_path), fresh)


@pytest.mark.parametrize("how", WAYS)
def test_every_standard_call_gives_the_fresh_ids_for_1000_histories(
        fresh, histories, tmp_path, how):
    assert_standard_calls(_reload(how, fresh, tmp_path), fresh, histories)


def test_a_foreign_vocabulary_is_refused_in_one_line(fresh, tmp_path):
    folder = _legacy_folder(fresh, tmp_path / "bad")
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"] = {"<s>": 0, "</s>": 1, "a": 2}
    data["added_tokens"] = []
    (folder / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(RecsftError, match=r"bad/tokenizer.json: the vocabulary must start with "
                                          r"\[PAD\], \[UNK\], \[MASK\], \[CLS\] at ids 0-3"):
        BehaviorTokenizer.from_pretrained(folder)
    with pytest.raises(RecsftError, match="ids must be 0..4, each once"):
        BehaviorTokenizer(vocab={"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "[CLS]": 3, "a": 7})


def test_an_empty_tokenizer_knows_only_the_special_tokens():
    tok = BehaviorTokenizer()
    assert tok.get_vocab() == {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    assert tok.num_items == 0
    assert tok("x y")["input_ids"] == [tok.unk_token_id] * 2
