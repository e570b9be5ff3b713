"""A tiny real training on synthetic data, then evaluation and retrieval from the run folder."""

import json
import os

import numpy as np
import torch

from recsft.retrieval.recommender import Recommender
from recsft.runs.evaluate import evaluate_run


def test_training_beats_most_popular_by_a_wide_margin(trained_run):
    _, record = trained_run
    model, popular = record["test"]["ndcg@10"], record["baselines"]["most_popular"]["test"]
    assert model > 2 * popular["ndcg@10"], (model, popular)
    assert record["test"]["recall@10"] > 1.5 * popular["recall@10"]


def test_run_folder_is_complete_and_records_the_protocol(trained_run):
    config, record = trained_run
    files = set(os.listdir(config.run_dir))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "item_index.faiss", "item_index.json", "run_config.yaml", "metrics.json",
            "training_log.jsonl"} <= files
    with open(os.path.join(config.run_dir, "metrics.json")) as handle:
        saved = json.load(handle)
    assert saved["protocol"] == {"split": "leave-one-out", "filter_seen": True,
                                 "num_users": saved["protocol"]["num_users"],
                                 "num_items": saved["protocol"]["num_items"],
                                 "max_length": 20, "ranking": "full"}
    assert saved["dataset"]["users"] == 800
    assert {"ndcg@10", "recall@10", "mrr@10", "hit_rate@10"} <= set(saved["test"])


def test_evaluate_run_gives_the_trainers_numbers(trained_run):
    config, record = trained_run
    again = evaluate_run(config.run_dir)
    assert again["metrics"] == record["test"]
    assert again["protocol"] == record["protocol"]
    # The trainer's validation of the saved (best) checkpoint, recomputed from the run folder.
    valid = evaluate_run(config.run_dir, split="valid", n_resamples=0)
    assert valid["metrics"] == record["valid"]
    with open(os.path.join(config.run_dir, "training_log.jsonl")) as handle:
        logged = [json.loads(line) for line in handle]
    best = next(r for r in logged if r["epoch"] == record["training"]["best_epoch"])
    assert best["valid"] == record["valid"]


def test_recommender_equals_scoring_every_item(trained_run):
    config, _ = trained_run
    recommender = Recommender.from_pretrained(config.run_dir)
    tokenizer, model = recommender.tokenizer, recommender.model
    history = tokenizer.item_ids[5:12]
    results = recommender.recommend(history, k=10)
    batch = tokenizer.encode_histories([history], max_length=20, append_mask=True,
                                       return_tensors="pt")
    with torch.no_grad():
        scores = (model.encode_sequences(**batch) @ model.item_embeddings().T)[0].numpy()
    scores[[tokenizer.item_ids.index(i) for i in history]] = -np.inf
    expected = [tokenizer.item_ids[i] for i in np.argsort(-scores)[:10]]
    assert [item for item, _ in results] == expected
    np.testing.assert_allclose([s for _, s in results], np.sort(scores)[::-1][:10], rtol=1e-5)
    assert not set(history) & {item for item, _ in results}


def test_recommender_reads_unknown_items_as_unk(trained_run):
    config, _ = trained_run
    recommender = Recommender.from_pretrained(config.run_dir)
    known = recommender.tokenizer.item_ids[:3]
    assert recommender.unknown_items([*known, "nope"]) == ["nope"]
    assert recommender.recommend([*known, "nope"], k=5) == recommender.recommend(
        [*known, "another-unknown"], k=5)


def test_auto_classes_load_the_run_folder(trained_run):
    from transformers import AutoModel, AutoTokenizer

    from recsft.modeling import Bert4RecModel
    from recsft.tokenization import BehaviorTokenizer

    config, _ = trained_run
    assert isinstance(AutoModel.from_pretrained(config.run_dir), Bert4RecModel)
    assert isinstance(AutoTokenizer.from_pretrained(config.run_dir), BehaviorTokenizer)
