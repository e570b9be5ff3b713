"""A run's data: splits from the run config, saved events read back exactly."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_data_config

_config = tiny_data_config


def _split(config):
    from recsft.runs.data import load_log, split_log

    log = load_log(config)
    return log, split_log(config, log)


def test_splits_from_the_run_config(tmp_path):
    log, loo = _split(_config(tmp_path))
    assert loo.protocol == "leave-one-out" and len(loo.test) > 0
    _, buys = _split(_config(tmp_path, target_event_type="buy"))
    assert 0 < len(buys.test) < len(loo.test)
    assert set(buys.test.target_event_types) == {"buy"}
    _, kfold = _split(_config(tmp_path, split="user-kfold", folds=4, fold=1))
    held_out = set(kfold.test.user_ids)
    assert held_out and not held_out & set(kfold.train.user_ids)
    times = log.frame["timestamp"]
    cutoff, valid_cutoff = int(times.quantile(0.9)), int(times.quantile(0.8))
    _, temporal = _split(_config(tmp_path, split="temporal", cutoff=cutoff,
                                 valid_cutoff=valid_cutoff))
    assert max(max(t) for t in temporal.train.timestamps if t) < valid_cutoff


def test_temporal_split_needs_both_cutoffs(tmp_path):
    from recsft.errors import RecsftError

    with pytest.raises(RecsftError, match="needs data.cutoff and data.valid_cutoff"):
        _split(_config(tmp_path, split="temporal", cutoff=10))
    with pytest.raises(RecsftError, match="unknown split 'random'"):
        _split(_config(tmp_path, split="random"))


def test_saved_events_give_the_same_splits(tmp_path):
    from recsft.runs.data import read_events, save_events, split_log

    config = _config(tmp_path)
    log, splits = _split(config)
    assert save_events(log, tmp_path / "run")
    again = read_events(tmp_path / "run")
    assert again.source == log.source and again.steps == log.steps
    assert again.stats() == log.stats()
    resplit = split_log(config, again)
    assert splits.train == resplit.train        # dataclasses: every field, every value
    assert splits.valid == resplit.valid and splits.test == resplit.test
    assert list(again.items.columns) == list(log.items.columns)
    assert len(again.items) == len(log.items)
