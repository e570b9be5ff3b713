import pandas as pd
import pytest

from recsft.data.events import EventLog, EventLogError
from recsft.data.readers import detect_format, read_events


def test_csv_with_column_mapping_and_iso_timestamps(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text(
        "visitor,sku,ts,kind\n"
        "u1,a,2024-01-01T00:00:10Z,view\n"
        "u1,b,2024-01-01T00:00:05Z,cart\n"
        "u2,a,1704067200,buy\n"
    )
    log = read_events(path, columns={"user_id": "visitor", "item_id": "sku",
                                     "timestamp": "ts", "event_type": "kind"})
    assert list(log.frame.columns) == ["user_id", "item_id", "timestamp", "event_type"]
    assert log.stats() == {"users": 2, "items": 2, "interactions": 3}
    sequences = log.sequences()
    assert sequences.user_ids == ["u1", "u2"]
    assert sequences.items[0] == ["b", "a"]  # ordered by time
    assert sequences.event_types[0] == ["cart", "view"]
    assert sequences.timestamps[0] == [1704067205, 1704067210]


def test_ties_keep_file_order(tmp_path):
    path = tmp_path / "ties.csv"
    path.write_text("user_id,item_id,timestamp\nu,c,5\nu,a,5\nu,b,1\nu,d,5\n")
    assert read_events(path).sequences().items == [["b", "c", "a", "d"]]


def test_parquet(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": ["1", "1"], "item_id": ["x", "y"], "timestamp": [2, 1]}).to_parquet(
        path
    )
    log = read_events(path)
    assert log.sequences().items == [["y", "x"]]
    assert set(log.frame["event_type"]) == {"item"}


def test_sasrec_and_s3rec_text_formats(tmp_path):
    sasrec = tmp_path / "beauty.txt"
    sasrec.write_text("1 10\n1 11\n2 10\n1 12\n")
    s3rec = tmp_path / "Beauty.txt"
    s3rec.write_text("1 10 11 12\n2 10\n")
    assert detect_format(sasrec) == "sasrec"
    assert detect_format(s3rec) == "s3rec"
    for path in (sasrec, s3rec):
        sequences = read_events(path).sequences()
        assert sequences.user_ids == ["1", "2"]
        assert sequences.items == [["10", "11", "12"], ["10"]]


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user,item_id,timestamp\nu,a,1\n")
    with pytest.raises(EventLogError, match=r"bad.csv, column 'user_id': missing column"):
        read_events(path)


def test_bad_timestamp_names_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\nu,b,yesterday\n")
    with pytest.raises(EventLogError, match=r"bad.csv, line 3, column 'timestamp'"):
        read_events(path)


def test_null_id_names_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\n,b,2\n")
    with pytest.raises(EventLogError, match=r"line 3, column 'user_id': empty id"):
        read_events(path)


def test_ragged_sasrec_line_and_empty_file(tmp_path):
    path = tmp_path / "ragged.txt"
    path.write_text("1 10\n1 11 12 13\n")
    with pytest.raises(EventLogError, match=r"line 2: expected 2 fields"):
        read_events(path, format="sasrec")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(EventLogError, match="empty"):
        read_events(empty, format="s3rec")


def test_in_memory_log_requires_columns():
    with pytest.raises(EventLogError, match="missing required column"):
        EventLog(pd.DataFrame({"user_id": ["u"]}))


def test_event_log_error_is_a_recsft_error():
    from recsft.errors import RecsftError

    error = EventLogError("bad.csv", "empty id; expected a non-empty value", 3, "user_id")
    assert isinstance(error, RecsftError) and isinstance(error, ValueError)
    assert str(error) == "bad.csv, line 3, column 'user_id': empty id; expected a non-empty value"
    long = EventLogError("bad.csv", "x", column="c" * 1000)
    assert str(long) == "bad.csv, column '" + "c" * 77 + "...': x"


def test_events_does_not_import_the_readers():
    import subprocess
    import sys

    code = ("import sys, recsft.data.events; "
            "print(any(m.startswith('recsft.data.readers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
