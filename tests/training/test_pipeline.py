import pytest

from recsft.training.pipeline import distributed_without_accelerator, per_process_batch_size


def test_global_batch_is_split_over_processes():
    assert per_process_batch_size(256, 1) == 256
    assert per_process_batch_size(256, 2) == 128
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        per_process_batch_size(255, 2)


def test_cpu_processes_when_launched_distributed_without_gpu(monkeypatch):
    import torch

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_without_accelerator() is (not torch.cuda.is_available())
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed_without_accelerator() is False


def _config(tmp_path, **data):
    from tests.conftest import tiny_data_config

    return tiny_data_config(tmp_path, **data)


def test_sliding_windows_add_training_rows(tmp_path):
    from recsft.training.pipeline import prepare_data

    windows = prepare_data(_config(tmp_path, train_stride=5, max_length=10))
    plain = prepare_data(_config(tmp_path, max_length=10))
    assert windows.train_dataset.num_rows > plain.train_dataset.num_rows


@pytest.mark.parametrize("model_type", ["bert4rec", "gru4rec"])
def test_time_gaps_and_categories_through_the_pipeline(tmp_path, model_type):
    import json
    import os

    from recsft.retrieval.recommender import Recommender
    from recsft.runs.evaluate import evaluate_run
    from recsft.runs.files import CATEGORIES as CATEGORIES_FILE
    from recsft.training.pipeline import run_training

    config = _config(tmp_path)
    config.training.epochs, config.training.eval_every = 2, 1
    config.model.model_type = model_type
    if model_type == "gru4rec":  # transformer fields of the tiny config do not apply
        del config.model.num_attention_heads, config.model.intermediate_size
    config.model.use_time_gaps = config.model.use_categories = True
    record = run_training(config)
    assert evaluate_run(config.run_dir)["metrics"] == record["test"]
    with open(os.path.join(config.run_dir, CATEGORIES_FILE)) as handle:
        assert len(json.load(handle)) == 6  # the tiny generator's categories
    recommender = Recommender.from_pretrained(config.run_dir)
    assert recommender.model.config.use_time_gaps
    assert recommender.model.config.num_categories == 6
    history = recommender.tokenizer.item_ids[:5]
    assert len(recommender.recommend(history, k=5, timestamps=[0, 60, 90, 4000, 4100])) == 5


def test_categories_need_an_item_table(tmp_path):
    from recsft.data.events import EventLog
    from recsft.training.pipeline import item_categories

    config = _config(tmp_path)
    config.model.use_categories = True
    log = EventLog(__import__("pandas").DataFrame(
        {"user_id": ["u"], "item_id": ["i"], "timestamp": [0], "event_type": ["view"]}),
        source="events.csv")
    from recsft.tokenization import BehaviorTokenizer

    with pytest.raises(ValueError, match="events.csv has none"):
        item_categories(config, log, BehaviorTokenizer.from_sequences([["i"]]))


def test_model_fields_of_another_model_type_are_rejected(tmp_path):
    from recsft.modeling.factory import create_model
    from recsft.tokenization import BehaviorTokenizer

    config = _config(tmp_path)
    config.model.model_type, config.model.attention_type = "sasrec", "dot"
    with pytest.raises(ValueError, match="model.attention_type does not apply to model_type"):
        create_model(config, BehaviorTokenizer.from_sequences([["a"]]))


def test_norm_first_reaches_transformers_and_is_rejected_for_recurrent_models(tmp_path):
    from recsft.modeling.factory import create_model
    from recsft.tokenization import BehaviorTokenizer

    config = _config(tmp_path)
    config.model.model_type, config.model.norm_first = "sasrec", True
    model = create_model(config, BehaviorTokenizer.from_sequences([["a"]]))
    assert model.config.norm_first and model.final_layer_norm is not None
    config.model.model_type = "gru4rec"
    del config.model.num_attention_heads, config.model.intermediate_size
    with pytest.raises(ValueError, match="model.norm_first does not apply to model_type"):
        create_model(config, BehaviorTokenizer.from_sequences([["a"]]))
