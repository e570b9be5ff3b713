import json
import os

import numpy as np

from recsft.cli import main
from recsft.data.events import EventLog
from recsft.data.prepare import (
    dataset_stats,
    load_prepared,
    prepare_dataset,
    sequence_table,
    table_to_sequences,
)
from recsft.data.synthetic import SyntheticConfig, generate_events


def small_log():
    data = generate_events(SyntheticConfig(num_users=60, num_items=40, num_categories=4, seed=1))
    return EventLog(data.events, source="synthetic")


def test_sequence_table_equals_the_python_grouping():
    log = small_log()
    assert table_to_sequences(sequence_table(log)) == log.sequences()


def test_stats():
    log = EventLog(__import__("pandas").DataFrame({
        "user_id": ["a", "a", "a", "b"], "item_id": ["x", "y", "x", "z"],
        "timestamp": [0, 86400, 2 * 86400, 10], "event_type": ["view", "buy", "view", "view"],
    }))
    stats = dataset_stats(log)
    assert (stats["users"], stats["items"], stats["interactions"]) == (2, 3, 4)
    assert np.isclose(stats["density"], 4 / 6)
    assert stats["sequence_length"]["p100"] == 3 and stats["sequence_length"]["p0"] == 1
    assert stats["event_types"]["view"]["count"] == 3
    assert stats["time_span"]["days"] == 2.0


def test_prepared_folder_round_trip_and_atomic_replace(tmp_path):
    log = small_log()
    out = tmp_path / "prepared"
    prepare_dataset(log, out, metadata={"source": "synthetic"}, key="k1")
    sequences, metadata = load_prepared(out)
    assert sequences.num_rows == log.num_users
    assert sequences[0]["item_ids"] == log.sequences().items[0]
    assert metadata["cache_key"] == "k1" and metadata["stats"]["interactions"] == len(log)
    assert {"items.parquet", "users.parquet", "stats.json", "metadata.json"} <= set(
        os.listdir(out))
    prepare_dataset(log, out, key="k2")
    assert load_prepared(out)[1]["cache_key"] == "k2"
    assert sorted(os.listdir(tmp_path)) == ["prepared"]  # no temporary folders left


def test_cli_prepare_is_cached_and_stats_reads_it(tmp_path, capsys):
    events = tmp_path / "events.csv"
    small_log().frame.to_csv(events, index=False)
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "--input", str(events), "--out", str(out)]) == 0
    assert "prepared in" in capsys.readouterr().out
    assert main(["data", "prepare", "--input", str(events), "--out", str(out)]) == 0
    assert "(cached)" in capsys.readouterr().out
    assert main(["data", "stats", "--prepared", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["users"] == 60


def test_cli_bad_input_exits_non_zero_and_writes_nothing(tmp_path, capsys):
    events = tmp_path / "bad.csv"
    events.write_text("user_id,item_id,timestamp\nu,a,1\nu,b,never\n")
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "--input", str(events), "--out", str(out)]) == 2
    assert "bad.csv, line 3, column 'timestamp'" in capsys.readouterr().err
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["bad.csv"]


def test_a_folder_prepared_without_events_parquet_is_refused_then_rebuilt(tmp_path, capsys):
    import pytest

    from recsft.data.prepare import EVENTS_FILE, load_prepared_log
    from recsft.errors import RecsftError

    events = tmp_path / "events.csv"
    small_log().frame.to_csv(events, index=False)
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "--input", str(events), "--out", str(out)]) == 0
    log = load_prepared_log(out)
    assert log.frame.equals(small_log().frame) and log.source == str(out)
    (out / EVENTS_FILE).unlink()  # as an older recsft wrote it
    with pytest.raises(RecsftError, match=r"prepared dataset without events.parquet .*--force"):
        load_prepared_log(out)
    capsys.readouterr()
    assert main(["data", "prepare", "--input", str(events), "--out", str(out)]) == 0
    assert "prepared in" in capsys.readouterr().out  # not taken from the cache
    assert load_prepared_log(out).frame.equals(log.frame)
