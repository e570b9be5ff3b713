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
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
    from conftest import tiny_config

    config = tiny_config(tmp_path)
    for key, value in data.items():
        setattr(config.data, key, value)
    return config


def test_splits_from_the_run_config(tmp_path):
    from recsft.training.pipeline import prepare_data, split_events

    log, loo = split_events(_config(tmp_path))
    assert loo.protocol == "leave-one-out" and len(loo.test) > 0
    _, buys = split_events(_config(tmp_path, target_event_type="buy"))
    assert 0 < len(buys.test) < len(loo.test)
    assert set(buys.test.target_event_types) == {"buy"}
    _, kfold = split_events(_config(tmp_path, split="user-kfold", folds=4, fold=1))
    held_out = set(kfold.test.user_ids)
    assert held_out and not held_out & set(kfold.train.user_ids)
    times = log.frame["timestamp"]
    cutoff, valid_cutoff = int(times.quantile(0.9)), int(times.quantile(0.8))
    _, temporal = split_events(_config(tmp_path, split="temporal", cutoff=cutoff,
                                       valid_cutoff=valid_cutoff))
    assert max(max(t) for t in temporal.train.timestamps if t) < valid_cutoff
    windows = prepare_data(_config(tmp_path, train_stride=5, max_length=10))
    plain = prepare_data(_config(tmp_path, max_length=10))
    assert windows.train_dataset.num_rows > plain.train_dataset.num_rows


def test_temporal_split_needs_both_cutoffs(tmp_path):
    from recsft.training.pipeline import split_events

    with pytest.raises(ValueError, match="needs data.cutoff and data.valid_cutoff"):
        split_events(_config(tmp_path, split="temporal", cutoff=10))
    with pytest.raises(ValueError, match="unknown split 'random'"):
        split_events(_config(tmp_path, split="random"))
