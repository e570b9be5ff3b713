"""The speed benchmark pools the rounds of each library into one measurement."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "benchmark_speed.py"


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rounds_pool_every_timing_and_keep_each_round():
    pooled = _script().pooled
    first = {"eval_seconds": 0.2, "eval_seconds_all": [0.1, 0.2, 0.3], "epoch_seconds": None,
             "epoch_seconds_all": [], "peak_rss_gib": 1.0, "eval_users": 943}
    second = {"eval_seconds": 0.5, "eval_seconds_all": [0.4, 0.5, 0.6], "epoch_seconds": None,
              "epoch_seconds_all": [], "peak_rss_gib": 1.5, "eval_users": 943}
    merged = pooled([first, second])
    assert merged["eval_seconds_all"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert merged["eval_seconds"] == 0.4  # the upper median of six
    assert merged["eval_seconds_by_round"] == [0.2, 0.5]
    assert merged["epoch_seconds"] is None and merged["peak_rss_gib"] == 1.5
    assert merged["eval_users"] == 943
    assert pooled([first]) is first


def test_each_allocator_setting_reaches_both_libraries_alike(monkeypatch):
    script = _script()
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "7")  # inherited: not glibc's default
    default = script.environment_with("default", TQDM_DISABLE="1")
    assert not set(default) & {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"}
    assert default["TQDM_DISABLE"] == "1"
    retain = script.environment_with("retain")
    assert retain["MALLOC_TRIM_THRESHOLD_"] == str(1 << 30)
    assert retain["MALLOC_MMAP_THRESHOLD_"] == str(64 << 20)
