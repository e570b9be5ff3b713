"""scripts/benchmark_serving.py: its open-loop accounting, and a whole tiny run against the
real ``recsft serve`` (the JSON it writes, and the server stopped afterwards)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "benchmark_serving.py"


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_serving", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_server_timing_header_is_split_into_durations_and_descriptions():
    parse = _script().parse_server_timing
    durations, notes = parse('parse;dur=0.25, state;dur=1, encode;dur=2.5;desc="x", '
                             'encode;dur=0.5, total;dur=5.125, batch;desc="8", bad;dur=abc')
    assert durations == {"parse": 0.25, "state": 1.0, "encode": 3.0, "total": 5.125}
    assert notes == {"encode": "x", "batch": "8"}
    assert parse(None) == ({}, {}) and parse("") == ({}, {})


def test_percentiles_are_nearest_rank():
    stats = _script().percentiles([float(v) for v in range(100, 0, -1)])
    assert (stats["p50"], stats["p95"], stats["p99"], stats["max"]) == (50, 95, 99, 100)
    assert stats["count"] == 100 and stats["mean"] == 50.5
    assert _script().percentiles([]) == {}


def test_latency_counts_from_the_scheduled_send_time():
    script = _script()
    outcome = script.Outcome
    # 4 requests at 10 req/s; the third was sent 0.3 s late (a stalled client or server):
    # open-loop latency includes that wait, the service time alone would hide it.
    outcomes = [
        outcome("recommend_user", 0.0, sent=0.0, done=0.005, status=200,
                timing={"encode": 2.0, "search": 1.0, "total": 4.0}, batch=1),
        outcome("recommend_user", 0.1, sent=0.1, done=0.104, status=200,
                timing={"encode": 2.0, "total": 3.0}, batch=3),
        outcome("events", 0.2, sent=0.5, done=0.51, status=200),
        outcome("recommend_history", 0.3, sent=0.5, done=None, error="timeout"),
    ]
    phase = script.summarise(outcomes, rate=10.0, duration=0.4, wall=1.0)
    assert phase["latency_ms"]["events"]["max"] == pytest.approx(310.0)
    assert phase["latency_ms"]["all"]["count"] == 3
    assert phase["errors"] == 1 and phase["errors_by_kind"] == {"timeout": 1}
    assert phase["throughput_rps"] == pytest.approx(3 / 0.51, abs=0.1)
    assert phase["server_timing_ms"]["encode"]["count"] == 2
    assert phase["outside_server_timing_ms"]["max"] == pytest.approx(1.0)  # 5 ms - 4 ms
    assert phase["server_unattributed_ms"]["max"] == pytest.approx(1.0)  # 3 - 2, 4 - 3
    assert phase["send_lag_ms"]["max"] == pytest.approx(300.0)
    assert phase["micro_batch_size"] == {"mean": 2.0, "max": 3}
    assert not script.within_slo(phase, p99_ms=15.0)
    assert not script.served_in_full(phase)


def test_requests_follow_the_mix_and_the_seed():
    script = _script()
    workload = script.Workload(user_ids=[f"u{i}" for i in range(50)],
                               histories=[[f"i{i}", f"i{i + 1}"] for i in range(50)],
                               event_types=[["view", "buy"]] * 50,
                               next_items=[f"i{i + 2}" for i in range(50)])
    plan = script.plan_requests(workload, 4000, events_share=0.1, history_share=0.25, k=7,
                                seed=1)
    kinds = [r.kind for r in plan]
    assert abs(kinds.count("events") / 4000 - 0.10) < 0.02
    assert abs(kinds.count("recommend_history") / 4000 - 0.9 * 0.25) < 0.03
    event = next(r for r in plan if r.kind == "events")
    user = int(event.body["user_id"][1:])
    assert event.path == "/events" and event.body["events"][0]["item_id"] == f"i{user + 2}"
    by_history = next(r for r in plan if r.kind == "recommend_history")
    assert by_history.body["k"] == 7 and by_history.body["event_types"]
    assert plan == script.plan_requests(workload, 4000, 0.1, 0.25, 7, seed=1)


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) != 0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_a_tiny_benchmark_runs_end_to_end_and_stops_its_server(tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    common = [sys.executable, str(SCRIPT), "--build-run", "--cache", str(tmp_path / "cache"),
              "--items", "400", "--users", "150", "--epochs", "1", "--client", "httpx"]
    out = tmp_path / "serving.json"
    subprocess.run([*common, "--backends", "eager", "onnx", "--rates", "10", "20",
                    "--duration", "2", "--warmup", "0.5", "--saturation-steps", "2",
                    "--saturation-duration", "1", "--output", str(out)],
                   cwd=ROOT, env=env, check=True, timeout=600)
    record = json.loads(out.read_text())
    assert record["run"]["catalogue_items"] == 400
    assert record["run"]["model"]["hidden_size"] == 64
    assert {"python", "torch", "cpus", "fastapi", "uvicorn", "httpx"} <= set(
        record["environment"])
    assert record["config"]["rates"] == [10.0, 20.0]
    for name in ("eager", "onnx"):
        backend = record["backends"][name]
        assert [p["offered_rps"] for p in backend["rates"]] == [10.0, 20.0]
        for phase in backend["rates"]:
            assert phase["errors"] == 0, phase["errors_by_kind"]
            assert phase["requests"] == phase["ok"] == round(phase["offered_rps"] * 2)
            latency = phase["latency_ms"]["all"]
            assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
            assert {"recommend_user", "recommend_history"} <= set(phase["latency_ms"])
            assert {"encode", "search", "state"} <= set(phase["server_timing_ms"])
            assert phase["resources"]["server_rss_mib"]["max"] > 0
            assert phase["resources"]["samples"]
        assert 1 <= len(backend["saturation"]["steps"]) <= 4  # 2 up, 2 below at most
        assert backend["saturation"]["saturation_throughput_rps"] > 0
        assert backend["server_exit_code"] is not None
        assert _gone(backend["server_pid"]) and _refused(backend["server_url"])
    assert set(record["acceptance"]) == set()  # 200 req/s was not measured

    soak_out = tmp_path / "soak.json"
    subprocess.run([*common, "--soak-minutes", "0.05", "--soak-rate", "10", "--soak-warmup",
                    "0.5", "--output", str(soak_out)], cwd=ROOT, env=env, check=True,
                   timeout=600)
    soak = json.loads(soak_out.read_text())["soak"]
    assert soak["minutes"] == 0.05 and soak["errors"] == 0 and soak["requests"] == 30
    assert isinstance(soak["rss_growth_percent"], float)
    assert soak["rss_start_mib"] > 0 and soak["per_minute"]
    assert _gone(soak["server_pid"]) and _refused(soak["server_url"])
