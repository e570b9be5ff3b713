"""Reader errors: one EventLogError each, naming the file, the line and the column; the
messages are the ones docs/data.md's bad-input table quotes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsft.data.events import FORMATS, EventLogError
from recsft.data.readers import read_events


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    data = text.encode(encoding) if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def truncated_gzip(path: Path, text: str) -> Path:
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(EventLogError) as info:
        read_events(path, **kwargs)
    message = str(info.value)
    print(message)  # the docs' Errors table quotes these
    assert message.startswith(str(path)), message
    return message[len(str(path.parent)) + 1:]


def test_error_file_not_found(tmp_path):
    assert error_of(tmp_path / "clicks.csv") == "clicks.csv: file not found"


@pytest.mark.parametrize("name", ["empty.csv", "empty.csv.gz", "empty.txt", "empty.jsonl"])
def test_error_empty_file(tmp_path, name):
    path = write(tmp_path / name, "\n")
    fmt = "sasrec" if name.endswith(".txt") else "auto"
    assert error_of(path, format=fmt) == (
        f"{name}: the file is empty; expected at least one event")


def test_error_header_only(tmp_path):
    path = write(tmp_path / "h.csv", "user_id,item_id,timestamp\n")
    assert error_of(path) == "h.csv: no events after the header; expected at least one event"


def test_error_missing_column_in_mapping(tmp_path):
    path = write(tmp_path / "bad.csv", "visitor,item_id,timestamp\nu,a,1\n")
    assert error_of(path, columns={"user_id": "user"}) == (
        "bad.csv, column 'user': missing column 'user' (for user_id); the file has "
        "['visitor', 'item_id', 'timestamp']")


def test_error_missing_key_in_jsonl(tmp_path):
    path = write(tmp_path / "bad.jsonl", json.dumps({"user_id": "u", "item_id": "a"}) + "\n")
    assert error_of(path) == (
        "bad.jsonl, column 'timestamp': missing column 'timestamp' (for timestamp); the file "
        "has ['user_id', 'item_id']")


def test_error_unknown_column_in_mapping(tmp_path):
    path = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu,a,1\n")
    assert error_of(path, columns={"user": "visitor"}) == (
        "bad.csv: unknown canonical column(s) ['user'] in the column mapping; expected some of "
        "['user_id', 'item_id', 'timestamp', 'event_type']")


def test_error_unparsable_timestamp(tmp_path):
    path = write(tmp_path / "bad.tsv", "user_id\titem_id\ttimestamp\nu\ta\t1\n\nu\tb\tyesterday\n")
    assert error_of(path) == (
        "bad.tsv, line 4, column 'timestamp': cannot parse timestamp 'yesterday'; expected "
        "unix seconds or an ISO-8601 date-time")


def test_error_unparsable_timestamp_jsonl_line(tmp_path):
    lines = [{"user_id": "u", "item_id": "a", "timestamp": 1},
             {"user_id": "u", "item_id": "b", "timestamp": "soon"}]
    path = write(tmp_path / "bad.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert error_of(path) == (
        "bad.jsonl, line 2, column 'timestamp': cannot parse timestamp 'soon'; expected unix "
        "seconds or an ISO-8601 date-time")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "timestamp '-5' is out of range; expected unix seconds between 1970-01-01 and "
               "2100-01-01"),
        ("4102444800", "timestamp '4102444800' is out of range; expected unix seconds between "
                       "1970-01-01 and 2100-01-01"),
        ("1433221332117", "timestamp '1433221332117' is out of range; expected unix seconds "
                          "between 1970-01-01 and 2100-01-01 (it looks like milliseconds: pass "
                          "timestamp_unit='ms')"),
        ("2150-01-01T00:00:00Z", "timestamp '2150-01-01T00:00:00Z' is out of range; expected "
                                 "unix seconds between 1970-01-01 and 2100-01-01"),
    ],
)
def test_error_out_of_range_timestamp(tmp_path, value, message):
    path = write(tmp_path / "bad.csv", f"user_id,item_id,timestamp\nu,a,1\nu,b,{value}\n")
    assert error_of(path) == f"bad.csv, line 3, column 'timestamp': {message}"


def test_error_null_id(tmp_path):
    path = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu,a,1\nu, ,2\n")
    assert error_of(path) == (
        "bad.csv, line 3, column 'item_id': empty id; expected a non-empty value")


def test_error_null_id_parquet_row_group(tmp_path):
    path = tmp_path / "bad.parquet"
    table = pa.table({"user_id": ["u", "u", None], "item_id": ["a", "b", "c"],
                      "timestamp": [1, 2, 3]})
    pq.write_table(table, path, row_group_size=2)
    assert error_of(path) == (
        "bad.parquet, row group 1, row 3, column 'user_id': empty id; expected a non-empty "
        "value")


def test_error_null_id_json_missing_key(tmp_path):
    lines = [{"reviewerID": "A", "asin": "B", "unixReviewTime": 1},
             {"reviewerID": "A", "unixReviewTime": 2}]
    path = write(tmp_path / "reviews.json", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert error_of(path) == (
        "reviews.json, line 2, column 'asin': empty id; expected a non-empty value")


def test_error_unknown_event_type(tmp_path):
    path = write(tmp_path / "bad.csv",
                 "user_id,item_id,timestamp,event_type\nu,a,1,view\nu,b,2,click\n")
    assert error_of(path, event_map={"view": "view", "buy": "buy"}) == (
        "bad.csv, line 3, column 'event_type': unknown event type 'click'; expected one of "
        "['buy', 'view'] (the event_map)")


def test_error_unknown_taobao_behavior(tmp_path):
    path = write(tmp_path / "UserBehavior.csv", "1,2,3,pv,1511544070\n1,2,3,like,1511544071\n")
    assert error_of(path) == (
        "UserBehavior.csv, line 2, column 'behavior_type': unknown event type 'like'; expected "
        "one of ['buy', 'cart', 'fav', 'pv'] (the event_map)")


def test_error_empty_retailrocket_event(tmp_path):
    path = write(tmp_path / "events.csv", "timestamp,visitorid,event,itemid,transactionid\n"
                                          "1433221332117,1,view,2,\n1433221332118,1,,2,\n")
    assert error_of(path) == (
        "events.csv, line 3, column 'event': empty event type; expected one of ['addtocart', "
        "'transaction', 'view'] (the event_map)")


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("t.csv.gz", "user_id,item_id,timestamp\n" + "u,a,1\n" * 20000, "auto"),
        ("t.jsonl.gz", '{"user_id": "u", "item_id": "a", "timestamp": 1}\n' * 20000, "auto"),
        ("t.txt.gz", "1 2\n" * 20000, "sasrec"),
        ("ratings.dat.gz", "1::2::3::4\n" * 20000, "movielens"),
    ],
)
def test_error_truncated_gzip(tmp_path, name, text, fmt):
    path = truncated_gzip(tmp_path / name, text)
    message = error_of(path, format=fmt)
    assert message.startswith(f"{name}: truncated or corrupt gzip after line ")
    assert message.endswith("; expected a complete gzip file")


def test_error_bad_encoding_csv_names_line_and_column(tmp_path):
    path = write(tmp_path / "bad.csv",
                 b"user_id,item_id,timestamp\nu,a,1\nu,caf\xe9,2\n")
    assert error_of(path) == (
        "bad.csv, line 3, column 'item_id': cannot decode byte 0xe9 (byte 6 of the line) as "
        "utf-8; expected utf-8-encoded text (pass encoding= for another encoding)")
    assert read_events(path, encoding="latin-1").frame["item_id"].tolist() == ["a", "café"]


def test_error_bad_encoding_text_format(tmp_path):
    path = write(tmp_path / "bad.txt", b"1 2\n1 \xff3\n")
    assert error_of(path, format="sasrec") == (
        "bad.txt, line 2: cannot decode byte 0xff (byte 3 of the line) as utf-8; expected "
        "utf-8-encoded text (pass encoding= for another encoding)")


def test_error_ragged_csv_row(tmp_path):
    path = write(tmp_path / "bad.csv", 'user_id,item_id,timestamp\nu,"a,b",1\nu,c,2,extra\n')
    assert error_of(path) == (
        "bad.csv, line 3: expected 3 fields (user_id, item_id, timestamp), found 4")


def test_error_ragged_taobao_row(tmp_path):
    path = write(tmp_path / "UserBehavior.csv", "1,2,3,pv,1511544070\n100370,1968385,1875258,pv\n")
    assert error_of(path) == (
        "UserBehavior.csv, line 2: expected 5 fields (user_id, item_id, category_id, "
        "behavior_type, timestamp), found 4")


def test_error_ragged_movielens_row(tmp_path):
    path = write(tmp_path / "ratings.dat", "1::2::3::4\n1::2::3\n")
    assert error_of(path) == (
        "ratings.dat, line 2: expected 4 fields (user_id, item_id, rating, timestamp), found 3")


def test_error_ragged_sasrec_line(tmp_path):
    path = write(tmp_path / "ragged.txt", "1 10\n1 11 12 13\n")
    assert error_of(path, format="sasrec") == (
        "ragged.txt, line 2: expected 2 fields 'user item', found 4")


def test_error_not_json_python_literal(tmp_path):
    good = json.dumps({"reviewerID": "A", "asin": "B", "unixReviewTime": 1})
    path = write(tmp_path / "reviews.json", good + "\n{'reviewerID': 'A', 'asin': 'C'}\n")
    assert error_of(path, format="amazon-reviews") == (
        "reviews.json, line 2: not valid JSON (Expecting property name enclosed in double "
        "quotes at character 2); expected one JSON object per line (it looks like a Python dict "
        "literal, as in older Amazon dumps: convert each line with "
        "json.dumps(ast.literal_eval(line)))")


def test_error_unknown_format(tmp_path):
    path = write(tmp_path / "x.dat", "1 2\n")
    assert error_of(path, format="xml") == (
        "x.dat: unknown format 'xml'; expected one of " + ", ".join(FORMATS))


def test_error_cannot_detect(tmp_path):
    path = write(tmp_path / "one.txt", "justonetoken\n")
    assert error_of(path) == "one.txt: cannot detect the format; pass format= one of " + (
        ", ".join(FORMATS))


def test_error_columns_for_fixed_layout(tmp_path):
    path = write(tmp_path / "UserBehavior.csv", "1,2,3,pv,1511544070\n")
    assert error_of(path, columns={"user_id": "x"}).startswith(
        "UserBehavior.csv: format 'taobao' has a fixed layout, so columns= does not apply")


def test_error_event_map_without_event_column(tmp_path):
    path = write(tmp_path / "c.csv", "user_id,item_id,timestamp\nu,a,1\n")
    assert error_of(path, event_map={"v": "view"}) == (
        "c.csv: an event_map was given but the file has no event-type column; expected "
        "columns={'event_type': ...}")


def test_error_event_map_for_a_format_without_event_types(tmp_path):
    path = write(tmp_path / "beauty.txt", "1 2\n")
    assert error_of(path, event_map={"v": "view"}) == (
        "beauty.txt: an event_map was given but format 'sasrec' has no event types; expected "
        "event_map=None")


def test_error_unknown_timestamp_unit(tmp_path):
    path = write(tmp_path / "c.csv", "user_id,item_id,timestamp\nu,a,1\n")
    assert error_of(path, timestamp_unit="days") == (
        "c.csv: unknown timestamp_unit 'days'; expected one of ['s', 'ms', 'us', 'ns']")


def test_error_item_table_without_item_column(tmp_path):
    path = write(tmp_path / "c.csv", "user_id,item_id,timestamp\nu,a,1\n")
    items = write(tmp_path / "items.csv", "sku,title\na,A\n")
    with pytest.raises(EventLogError) as info:
        read_events(path, items_path=items)
    assert str(info.value) == (
        f"{items}, column 'item_id': missing column 'item_id' (for item_id); the table has "
        "['sku', 'title']")


def test_error_not_parquet(tmp_path):
    path = write(tmp_path / "x.parquet", "not parquet")
    assert error_of(path).startswith("x.parquet: cannot read the Parquet file (")


def test_a_number_padded_with_spaces_is_a_timestamp(tmp_path):
    """" 7" in a CSV timestamp column is 7 (it was an internal error)."""
    from recsft.data.readers import read_events

    path = tmp_path / "padded.csv"
    path.write_text("user_id,item_id,event_type,timestamp\nu1,i1,view, 7\nu1,i2,view,8.5 \n")
    assert read_events(path).frame["timestamp"].tolist() == [7, 8]
