"""scripts/benchmark_search.py end to end on a tiny synthetic shop with searches: a behaviour
SASRec trained before each user's valid search, the baselines and both two-stage re-rankers,
and the JSON it writes."""

from __future__ import annotations

import json

import pytest

from tests.scripts.script_module import load_script
from tests.text.checkpoint import tiny_bert

pytest.importorskip("bm25s")
pytest.importorskip("lightgbm")



def _script():
    return load_script("benchmark_search")


def test_benchmark_search_writes_the_acceptance_record(tmp_path) -> None:
    output = tmp_path / "search_synthetic.json"
    encoder = tiny_bert(tmp_path / "encoder", pooling="mean", normalize=True)
    code = _script().main([
        "--dataset", "synthetic", "--users", "150", "--items", "60", "--epochs", "1",
        "--resamples", "20", "--permutations", "50", "--latency-queries", "5",
        "--top-n", "20", "--encoder", str(encoder), "--text-cache", str(tmp_path / "cache"),
        "--runs-dir", str(tmp_path / "runs"), "--output", str(output)])
    assert code == 0
    record = json.loads(output.read_text())
    systems = {"bm25", "dense", "behaviour", "hem", "two-stage-lightgbm", "two-stage-linear"}
    assert set(record["test_full_ranking"]) == systems
    assert record["chosen"] in {"two-stage-lightgbm", "two-stage-linear"}
    for metrics in record["test_full_ranking"].values():
        for key in ("ndcg@10", "recall@10", "mrr"):
            value = metrics[key]
            assert 0.0 <= value["ci95_low"] <= value["mean"] <= value["ci95_high"] <= 1.0
    assert set(record["test_candidates"]) == systems | {"first-stage order"}
    recall = record["candidate_recall"]["recall@100_first_100_of_union"]["recall@100"]
    assert 0.0 <= recall["mean"] <= record["candidate_recall"]["recall_whole_union"] <= 1.0
    # Paired tests of the chosen two-stage against the four baselines, Holm over 4 x 3.
    full = record["paired_tests"]["full"]
    assert full["reference"] == record["chosen"] and full["family"] == 12
    assert set(full["comparisons"]) == {"bm25", "dense", "behaviour", "hem"}
    test = full["comparisons"]["bm25"]["ndcg@10"]
    assert test["t_test_p"] <= test["t_test_p_holm"] <= 1.0
    # The behaviour model saw nothing at or after any user's valid search.
    leakage = record["leakage"]
    assert leakage["behaviour_events"] < leakage["log_events"] and leakage["users_cut"] > 0
    assert record["stacking_bias"]["reranker_data"] == "valid-half"
    splits = record["counts"]["per_split"]
    assert splits["test"]["searches"] == record["protocol"]["full_ranking"]["searches"] > 0
    fit = record["counts"]["reranker_fit"]
    assert fit["train"]["searches"] + fit["valid"]["searches"] == splits["valid"]["searches"]
    latency = record["latency_ms"]
    assert latency["count"] == 5 and 0 < latency["p50"] <= latency["p99"]
    assert "python" in json.dumps(record["environment"]).lower()
    assert record["behaviour_model"]["items_known"] > 0


def test_behaviour_events_stop_before_each_users_valid_search() -> None:
    script = _script()
    args = script.parse_args(["--users", "80", "--items", "40", "--seed", "3"])
    data = script.synthetic_data(args)
    events, frame = data["events"], data["behaviour_frame"]
    valid = {events.user_ids[i]: events.timestamps[i] for i, s in enumerate(events.splits)
             if s == "valid"}
    assert valid
    latest = frame.groupby("user_id")["timestamp"].max()
    assert all(latest[user] < time for user, time in valid.items() if user in latest.index)
    assert "search" not in set(frame["event_type"])
