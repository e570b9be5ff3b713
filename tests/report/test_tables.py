"""Generated benchmark tables: rendered from several-seed records, written between markers."""

from __future__ import annotations

import json

from recsft.report.tables import load_quality_records, quality_table, refresh_quality_tables


def _record(name: str, ndcg: list[float], version: str = "amazon-beauty") -> dict:
    mean = sum(ndcg) / len(ndcg)
    seeds = {"mean": mean, "std": 0.001, "ci95_low": mean - 0.002, "ci95_high": mean + 0.002,
             "n": len(ndcg)} if len(ndcg) > 1 else None
    users = {"mean": mean, "ci95_low": mean - 0.003, "ci95_high": mean + 0.003,
             "n_resamples": 100}
    summary = {key: {"mean": mean, "per_seed": ndcg, "seeds": seeds, "users": users}
               for key in ("ndcg@10", "recall@10")}
    return {
        "name": name, "dataset_version": version, "summary": summary,
        "dataset": {"source": "x/Beauty.txt", "users": 10, "items": 20, "interactions": 30},
        "protocol": {"max_length": 50},
        "config": {"model": {"model_type": "sasrec"}},
        "seeds": [{"training": {"epochs_run": 30, "best_epoch": 20, "wall_seconds": 100.0}}
                  for _ in ndcg],
        "baselines": {"most_popular": {"test": {"ndcg@10": 0.005, "recall@10": 0.01}}},
        "published": {"protocol": "leave-one-out", "results": [
            {"model": "SASRec", "source": "paper", "metrics": {"ndcg@10": 0.0318}}]},
    }


def test_table_orders_models_and_shows_intervals():
    table = quality_table([_record("b", [0.06, 0.058]), _record("a", [0.05])])
    lines = table.splitlines()
    assert lines[2].startswith("| most popular") and "0.0050" in lines[2]
    assert "SASRec (published: paper)" in lines[3] and "0.0318" in lines[3]
    assert "`a`" in lines[4] and "0.0500 [0.0470, 0.0530]" in lines[4]  # one seed: users
    assert "`b`" in lines[5] and "0.0590 [0.0570, 0.0610]" in lines[5]  # seeds interval
    assert "| 2 |" in lines[5] and "30 (20), 30 (20)" in lines[5]
    assert quality_table([]) == "(no results yet)\n"


def test_rows_of_models_with_item_transitions_name_them_and_their_weights():
    record = _record("c-transitions", [0.05, 0.052])
    record["seeds"][0]["transitions"] = {"weight": 0.5, "smoothing": 30.0, "temperature": 1.5}
    record["seeds"][1]["transitions"] = {"weight": 0.4}  # a record of the first version
    line = [row for row in quality_table([record]).splitlines() if "`c-transitions`" in row][0]
    assert line.startswith("| sasrec + item transitions (weight/smoothing/temperature 0.5/30/1.5, "
                           "0.4/0/1) (`c-transitions`)")


def test_refresh_rewrites_only_between_markers(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "quality_b.json").write_text(json.dumps(_record("b", [0.06, 0.058])))
    (results / "quality_old.json").write_text(json.dumps({"test": {"ndcg@10": 0.1}}))
    (results / "quality_ml.json").write_text(json.dumps(_record("m", [0.08], "ml-1m")))
    assert set(load_quality_records(str(results))) == {"amazon-beauty", "ml-1m"}
    doc = tmp_path / "bench.md"
    doc.write_text("intro\n<!-- generated:quality amazon-beauty -->\nstale\n"
                   "<!-- /generated:quality amazon-beauty -->\nafter\n"
                   "<!-- generated:quality yelp -->\n<!-- /generated:quality yelp -->\n")
    assert refresh_quality_tables(str(doc), str(results)) == ["amazon-beauty", "yelp"]
    text = doc.read_text()
    assert text.startswith("intro\n<!-- generated:quality amazon-beauty -->\n| model")
    assert "stale" not in text and "`b`" in text and "\nafter\n" in text
    assert "(no results yet)" in text  # a marker with no records
    before = doc.stat().st_mtime_ns
    refresh_quality_tables(str(doc), str(results))  # unchanged: not rewritten
    assert doc.stat().st_mtime_ns == before


def test_cold_start_and_user_share_records_stay_out_of_the_tables(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    plain = _record("plain", [0.06])
    cold = {**_record("cold", [0.05]), "config": {"data": {"cold_items": 0.1}}}
    share = {**_record("share", [0.04]), "config": {"data": {"train_users": 0.1}}}
    for name, record in (("plain", plain), ("cold", cold), ("share", share)):
        (results / f"quality_{name}.json").write_text(json.dumps(record))
    groups = load_quality_records(str(results))
    assert [r["name"] for rs in groups.values() for r in rs] == ["plain"]
