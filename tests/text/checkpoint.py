"""A tiny random BERT checkpoint (hidden size 32, a WordPiece vocabulary of a few dozen
tokens, Chinese characters included), saved with safetensors, for the text encoder's tests."""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ["glue", "tape", "roll", "sand", "##ing", "paper", "super", "water", "proof", "steel",
         "pan", "book", "kids", "story", "8", "80", "grit", "ounce", ".", ",", "-",
         "手", "机", "智", "能", "华", "为", "小", "米", "炒", "锅", "铁", "不", "锈", "钢",
         "儿", "童", "书", "故", "事"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_bert(folder: Path, *, pooling: str | None = None, normalize: bool = False,
              seed: int = 0) -> Path:
    """Write a random BERT and its tokenizer to ``folder``.

    Args:
        folder: Where to write (created).
        pooling: When set (``mean``, ``cls``, ``max``), also write the sentence-transformers
            layout (``modules.json``, ``1_Pooling``) with this pooling.
        normalize: With ``pooling``: add a ``Normalize`` module.
        seed: Torch seed of the random weights.

    Returns:
        ``folder``.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(SPECIAL + WORDS)},
                                  do_lower_case=True)
    assert tokenizer.vocab_size == len(SPECIAL) + len(WORDS)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    if pooling is not None:
        modules = [{"idx": 0, "name": "0", "path": "",
                    "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling"}]
        if normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        (folder / "modules.json").write_text(json.dumps(modules))
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": 32,
             **{f"pooling_mode_{m}_tokens": m == pooling for m in ("mean", "max")},
             "pooling_mode_cls_token": pooling == "cls"}))
        (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    return folder


def category_text_config(root: Path, epochs: int, eval_every: int | None = None):
    """A tiny id+text SASRec config whose items' text is their category's three words (the
    text encoder a tiny mean-pooled BERT in ``root / "bert"``, the table ``root / "items.csv"``).

    Returns:
        ``(config, items frame, {category: text})``.
    """
    import pandas as pd

    from recsft.config import RunConfig
    from recsft.runs.data import load_log
    from tests.conftest import tiny_config

    bert = tiny_bert(root / "bert", pooling="mean")
    extra = {} if eval_every is None else {"eval_every": eval_every}
    config = tiny_config(root / "runs", model_type="sasrec", epochs=epochs, **extra)
    items = load_log(config).items
    words = [w for w in WORDS if w.isascii() and w.isalpha()]
    categories = sorted(items["category"].unique())
    texts = {c: " ".join(words[3 * n:3 * n + 3]) for n, c in enumerate(categories)}
    pd.DataFrame({"item_id": items["item_id"],
                  "title": [texts[c] for c in items["category"]]}).to_csv(root / "items.csv",
                                                                          index=False)
    raw = config.to_dict()
    raw["data"].update(item_table=str(root / "items.csv"), item_text="title",
                       text_encoder=str(bert))
    raw["model"]["item_representation"] = "id+text"
    return RunConfig.from_dict(raw), items, texts
