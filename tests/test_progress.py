"""recsft.progress: when bars show, what the header says, durations and ETAs, and the
libraries' own bars turned off."""

from __future__ import annotations

import io
import math
import sys

import pytest

from recsft import progress


@pytest.fixture(autouse=True)
def _not_quiet():
    yield
    progress.set_quiet(False)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("env", "tty", "quiet", "shown"), [
    (None, True, False, True),       # a terminal
    (None, False, False, False),     # a log file or a pipe
    ("1", False, False, True),       # asked for
    ("0", True, False, False),       # refused
    ("off", True, False, False),
    (None, True, True, False),       # --quiet
    ("1", True, True, False),
])
def test_when_bars_show(monkeypatch, env, tty, quiet, shown) -> None:
    if env is None:
        monkeypatch.delenv(progress.ENV, raising=False)
    else:
        monkeypatch.setenv(progress.ENV, env)
    stream = _Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    progress.set_quiet(quiet)
    assert progress.bars_enabled() is shown
    bar = progress.bar(range(30), desc="scoring", unit="batch")
    assert sum(1 for _ in bar) == 30        # iterating works either way
    bar.close()
    text = stream.getvalue()
    assert ("scoring" in text) is shown
    if shown:
        # Elapsed and remaining time, at most 100 columns.
        assert "<" in text and "batch" in text
        assert max(len(line) for line in text.replace("\r", "\n").splitlines()) <= 100


def test_tqdm_class_for_libraries_follows_the_same_rule(monkeypatch) -> None:
    stream = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv(progress.ENV, "1")
    cls = progress.tqdm_class()
    with cls(total=2048, desc="Downloading bytes", unit="B", unit_scale=True) as bar:
        bar.update(2048)
    assert "Downloading bytes" in stream.getvalue() and "2.05k/2.05k" in stream.getvalue()
    monkeypatch.setenv(progress.ENV, "0")
    with cls(total=10, desc="hidden") as bar:
        bar.update(10)
    assert "hidden" not in stream.getvalue()


def test_notes_go_to_stderr_unless_quiet(monkeypatch, capsys) -> None:
    progress.note("epoch 1/3  loss 5.0")
    progress.note("not from this process", main_process=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "epoch 1/3  loss 5.0\n"
    progress.set_quiet(True)
    progress.note("hidden")
    assert capsys.readouterr().err == ""


def test_durations_and_remaining_time() -> None:
    assert [progress.format_duration(s) for s in (0, 42.4, 65, 3599, 3725, math.inf)] == [
        "0s", "42s", "1m05s", "59m59s", "1h02m", "?"]
    assert progress.remaining(10.0, 5, 20) == pytest.approx(30.0)
    assert progress.remaining(10.0, 0, 20) == math.inf
    assert progress.remaining(10.0, 20, 20) == 0.0


def test_describe_run_names_model_data_device_and_output() -> None:
    import torch
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32))
    model.pooler.requires_grad_(False)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = progress.describe_run(
        name="demo", model=model,
        dataset={"source": "synthetic", "users": 3000, "items": 898, "interactions": 71507},
        sequences=2995, device=str(torch.device("cpu")), processes=1, precision="no",
        output="runs/demo", epochs=60, batch_size=128)
    assert lines[0] == "recsft train: demo"
    assert lines[1] == (f"  model   bert, {progress._count(parameters)} parameters "
                        f"({progress._count(trainable)} trainable) (hidden 16, layers 1)")
    assert lines[2] == ("  data    3,000 users, 898 items, 71,507 events (synthetic); "
                        "2,995 training sequences")
    assert lines[3] == "  device  cpu, 1 process, fp32 precision; at most 60 epochs, batch 128"
    assert lines[4] == "  output  runs/demo"
    assert all(len(line) <= 100 for line in lines)
    assert progress._count(412_672) == "412.7k" and progress._count(9_999) == "9,999"
    assert progress._count(12_345_678) == "12.35M"


def test_silence_libraries_sets_what_the_user_did_not(monkeypatch) -> None:
    import os

    import datasets
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers.utils import logging as transformers_logging

    for name in progress.LIBRARY_SETTINGS:
        monkeypatch.setenv(name, "-")     # recorded: restored after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")     # the user's choice stays
    before = (transformers_logging.is_progress_bar_enabled(), are_progress_bars_disabled(),
              datasets.is_progress_bar_enabled(), transformers_logging.get_verbosity())
    try:
        transformers_logging.enable_progress_bar()
        progress.silence_libraries()
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
        # Imported already: told directly ("Loading weights" and "Writing model shards" are
        # transformers' bars).
        assert not transformers_logging.is_progress_bar_enabled()
        assert are_progress_bars_disabled() and not datasets.is_progress_bar_enabled()
    finally:
        if before[0]:
            transformers_logging.enable_progress_bar()
        if not before[1]:
            enable_progress_bars()
        if before[2]:
            datasets.enable_progress_bars()
        transformers_logging.set_verbosity(before[3])
