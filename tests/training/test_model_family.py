"""Every model type trains through the same pipeline, beats most-popular, and its run folder
serves recommendations equal to scoring every item with the model."""


import numpy as np
import pytest
import torch

from recsft.retrieval.recommender import Recommender  # noqa: E402
from recsft.runs.evaluate import evaluate_run  # noqa: E402
from recsft.training.pipeline import run_training  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402


@pytest.mark.parametrize("model_type", ["sasrec", "gru4rec", "lstm_attention"])
def test_model_type_trains_evaluates_and_recommends(tmp_path, model_type):
    config = tiny_config(tmp_path, model_type=model_type, epochs=15, eval_every=5)
    record = run_training(config)
    popular = record["baselines"]["most_popular"]["test"]["ndcg@10"]
    assert record["test"]["ndcg@10"] > 2 * popular
    assert evaluate_run(config.run_dir)["metrics"] == record["test"]

    recommender = Recommender.from_pretrained(config.run_dir)
    assert not recommender.append_mask
    tokenizer, model = recommender.tokenizer, recommender.model
    history = tokenizer.item_ids[3:9]
    batch = tokenizer.encode_histories([history], max_length=20, return_tensors="pt")
    with torch.no_grad():
        scores = (model.encode_sequences(**batch) @ model.item_embeddings().T)[0].numpy()
    scores[[tokenizer.item_ids.index(i) for i in history]] = -np.inf
    expected = [tokenizer.item_ids[i] for i in np.argsort(-scores)[:10]]
    assert [item for item, _ in recommender.recommend(history, k=10)] == expected


def test_sampled_softmax_with_popularity_negatives_trains(tmp_path):
    config = tiny_config(tmp_path, epochs=15, eval_every=5)
    config.model.model_type = "sasrec"
    config.model.loss, config.model.num_negatives = "sampled_softmax", 30
    config.model.negative_sampling = "popularity"
    record = run_training(config)
    assert record["test"]["ndcg@10"] > 2 * record["baselines"]["most_popular"]["test"]["ndcg@10"]


def test_unknown_model_type(tmp_path):
    config = tiny_config(tmp_path)
    config.model.model_type = "transformer-xl"
    with pytest.raises(ValueError, match="unknown model_type 'transformer-xl'; expected one of"):
        run_training(config)
