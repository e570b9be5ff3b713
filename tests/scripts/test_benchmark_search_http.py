"""scripts/benchmark_search_http.py end to end on a tiny synthetic shop with searches: the
build, ``recsft serve`` answering ``POST /search``, the JSON it writes, and the server stopped
at the end."""

from __future__ import annotations

import json
import os

import pytest

from tests.scripts.script_module import load_script
from tests.text.checkpoint import tiny_bert

pytest.importorskip("bm25s")
pytest.importorskip("lightgbm")
pytest.importorskip("fastapi")



def _script():
    return load_script("benchmark_search_http")


def test_benchmark_search_http_writes_the_record_and_stops_the_server(tmp_path) -> None:
    output = tmp_path / "search_http.json"
    encoder = tiny_bert(tmp_path / "encoder", pooling="mean", normalize=True)
    code = _script().main([
        "--users", "120", "--items", "50", "--epochs", "1", "--encoder", str(encoder),
        "--cache", str(tmp_path / "cache"), "--sequential", "12", "--warmup", "2",
        "--rate", "10", "--duration", "1", "--output", str(output)])
    assert code == 0
    record = json.loads(output.read_text())
    for key in ("environment", "versions", "config", "load_average_before",
                "load_average_after", "sequential", "open_loop", "python"):
        assert key in record
    sequential = record["sequential"]
    assert sequential["requests"] == 12 and sequential["errors"] == 0
    latency = sequential["latency_ms"]["all"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    open_loop = record["open_loop"]
    assert open_loop["offered_rps"] == 10 and open_loop["requests"] == 10
    assert open_loop["errors"] == 0 and open_loop["latency_ms"]["all"]["count"] == 10
    assert record["python"]["count"] > 0 and record["python"]["p50"] > 0
    assert record["http_over_python"]["p50"] > 0
    # The server answered to the end and is gone now (its process group too).
    assert record["server_alive_at_end"] is True and record["server_stopped"] is True
    pid = int(record["server_pid"])
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    # A second call reuses the build.
    assert (tmp_path / "cache" / "build.json").is_file()
