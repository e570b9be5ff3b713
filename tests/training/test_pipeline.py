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
