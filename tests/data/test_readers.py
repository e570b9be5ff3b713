"""Format readers and their errors: every test writes its own tiny files (no network, no
shared data); the integration tests at the end read the real datasets when they are present."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsft.data.events import FORMATS, EventLogError
from recsft.data.readers import detect_format, read_events, read_items

SHARED = Path("/work/shared/data")


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path``, gzip-compressed when the name ends in ``.gz``."""
    data = text.encode(encoding) if isinstance(text, str) else text
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def truncated_gzip(path: Path, text: str) -> Path:
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def sequences_of(path: Path, **kwargs) -> list[list[str]]:
    return read_events(path, **kwargs).sequences().items


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clicks.csv.gz", "clicks.tsv", "clicks.tsv.gz"])
def test_gzip_and_tsv_tables(tmp_path, name):
    sep = "\t" if ".tsv" in name else ","
    rows = ["visitor,sku,ts", "u1,a,20", "u1,b,10", "u2,a,5"]
    path = write(tmp_path / name, "\n".join(r.replace(",", sep) for r in rows) + "\n")
    log = read_events(path, columns={"user_id": "visitor", "item_id": "sku", "timestamp": "ts"})
    assert log.stats() == {"users": 2, "items": 2, "interactions": 3}
    assert log.sequences().items == [["b", "a"], ["a"]]


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz", "events.ndjson"])
def test_jsonl_with_mapping(tmp_path, name):
    lines = [
        {"visitor": "u1", "sku": 7, "ts": 20, "kind": "view"},
        {"visitor": "u1", "sku": 8, "ts": 10, "kind": "buy", "extra": [1, 2]},
        {"visitor": "u2", "sku": 7, "ts": "2024-01-01T00:00:00Z", "kind": "view"},
    ]
    path = write(tmp_path / name, "\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert detect_format(path) == "jsonl"
    log = read_events(path, columns={"user_id": "visitor", "item_id": "sku", "timestamp": "ts",
                                     "event_type": "kind"})
    sequences = log.sequences()
    assert sequences.items == [["8", "7"], ["7"]]
    assert sequences.event_types == [["buy", "view"], ["view"]]
    assert sequences.timestamps[1] == [1704067200]


def test_s3rec_reads_item2attributes_beside(tmp_path):
    path = write(tmp_path / "Beauty.txt", "1 10 11\n2 11\n")
    write(tmp_path / "Beauty_item2attributes.json", json.dumps({"10": [1, 2], "11": [3]}))
    log = read_events(path)
    assert log.sequences().items == [["10", "11"], ["11"]]
    assert log.items["item_id"].tolist() == ["10", "11"]
    assert log.items["attributes"].tolist() == [["1", "2"], ["3"]]
    assert log.steps[0]["params"]["items_path"].endswith("Beauty_item2attributes.json")


def test_sasrec_gzip(tmp_path):
    path = write(tmp_path / "beauty.txt.gz", "1 10\n1 11\n2 10\n")
    assert detect_format(path) == "sasrec"
    assert sequences_of(path) == [["10", "11"], ["10"]]


def test_recbole_inter_and_item(tmp_path):
    path = write(
        tmp_path / "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n196\t302\t4\t881250940.7\n186\t242\t1\t891717742\n",
    )
    write(
        tmp_path / "ml.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tprice:float\n"
        '242\tKolya "the film"\t1996\t9.5\n302\tL.A. Confidential\t1997\t\n',
    )
    assert detect_format(path) == "recbole"
    log = read_events(path)
    sequences = log.sequences()
    assert sequences.items == [["302", "242"], ["242"]]
    assert sequences.timestamps[0] == [881250940, 881250949]
    items = log.items
    assert list(items.columns) == ["item_id", "movie_title", "release_year", "price"]
    assert items["movie_title"].tolist() == ['Kolya "the film"', "L.A. Confidential"]
    assert items["price"].iloc[0] == 9.5


def test_recbole_without_timestamp_keeps_file_order(tmp_path):
    path = write(tmp_path / "x.inter", "user_id:token\titem_id:token\nu\tb\nu\ta\n")
    log = read_events(path)
    assert log.sequences().items == [["b", "a"]]
    assert log.steps[0]["params"]["timestamp_unit"] is None


@pytest.mark.parametrize("name", ["ratings.dat", "ratings.dat.gz"])
def test_movielens_1m_with_latin1_movies(tmp_path, name):
    path = write(tmp_path / name, "1::1193::5::978300760\n1::661::3::978300700\n2::1193::4::1\n")
    write(tmp_path / "movies.dat",
          "1193::One Flew Over (1975)::Drama\n661::Café Society (1996)::Comedy|Drama\n",
          encoding="latin-1")
    assert detect_format(path) == "movielens"
    log = read_events(path)
    assert log.sequences().items == [["661", "1193"], ["1193"]]
    assert log.steps[0]["params"]["encoding"] == "latin-1"
    titles = dict(zip(log.items["item_id"], log.items["title"]))
    assert titles["661"] == "Café Society (1996)"
    assert log.items.loc[log.items["item_id"] == "661", "genres"].item() == "Comedy|Drama"


def test_movielens_100k_u_data_and_u_item(tmp_path):
    path = write(tmp_path / "u.data", "196\t242\t3\t881250949\n196\t302\t3\t881250940\n")
    flags = ["0"] * 19
    flags[3] = flags[5] = "1"  # Animation, Comedy
    write(tmp_path / "u.item", "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(flags)
          + "\n", encoding="latin-1")
    assert detect_format(path) == "movielens"
    log = read_events(path)
    assert log.sequences().items == [["302", "242"]]
    assert log.items.to_dict("records") == [
        {"item_id": "242", "title": "Kolya (1996)", "release_date": "24-Jan-1997",
         "genres": "Animation|Comedy"}
    ]


def test_amazon_reviews_with_meta_beside(tmp_path):
    reviews = [
        {"reviewerID": "A1", "asin": "B2", "unixReviewTime": 200, "overall": 5.0},
        {"reviewerID": "A1", "asin": "B1", "unixReviewTime": 100, "overall": 4.0},
        {"reviewerID": "A2", "asin": "B1", "unixReviewTime": 300, "overall": 1.0},
    ]
    path = write(tmp_path / "reviews_Beauty_5.json.gz",
                 "\n".join(json.dumps(r) for r in reviews) + "\n")
    meta = [
        {"asin": "B1", "title": "Soap", "brand": "Acme", "price": 3.5,
         "categories": [["Beauty", "Bath"], ["Beauty", "Skin"]], "related": {"x": ["B2"]}},
        {"asin": "B2", "title": "Brush", "price": "$1,200.00"},
    ]
    write(tmp_path / "meta_Beauty.json.gz", "\n".join(json.dumps(m) for m in meta) + "\n")
    assert detect_format(path) == "amazon-reviews"
    log = read_events(path)
    assert log.sequences().items == [["B1", "B2"], ["B1"]]
    assert log.steps[0]["params"]["columns"] == {
        "user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime"}
    items = log.items.set_index("item_id")
    assert list(log.items.columns) == ["item_id", "title", "brand", "categories", "price"]
    assert items.loc["B1", "categories"] == ["Beauty", "Bath", "Skin"]
    assert items.loc["B2", "price"] == 1200.0


def test_amazon_reviews_explicit_items_path(tmp_path):
    path = write(tmp_path / "Beauty_5.json",
                 json.dumps({"reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}) + "\n")
    meta = write(tmp_path / "products.jsonl", json.dumps({"asin": "B1", "title": "Soap"}) + "\n")
    log = read_events(path, items_path=meta)
    assert log.items["title"].tolist() == ["Soap"]
    assert log.steps[0]["params"]["items_path"] == str(meta)


def test_retailrocket_events_ms_and_event_types(tmp_path):
    path = write(
        tmp_path / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n"
        "1433221332500,257597,addtocart,355908,\n"
        "1433221999000,257597,transaction,355908,4000\n",
    )
    assert detect_format(path) == "retailrocket"
    log = read_events(path)
    sequences = log.sequences()
    assert sequences.event_types == [["view", "cart", "buy"]]
    assert sequences.timestamps == [[1433221332, 1433221332, 1433221999]]
    params = log.steps[0]["params"]
    assert params["timestamp_unit"] == "ms"
    assert params["event_map"] == {"view": "view", "addtocart": "cart", "transaction": "buy"}


def test_user_event_map_overrides_the_default(tmp_path):
    path = write(
        tmp_path / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n1433221332117,1,view,2,\n"
        "1433221332118,1,transaction,3,9\n",
    )
    log = read_events(path, event_map={"view": "click", "transaction": "purchase"})
    assert log.sequences().event_types == [["click", "purchase"]]


def test_taobao_user_behavior(tmp_path):
    path = write(
        tmp_path / "UserBehavior.csv",
        "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,cart,1511561733\n"
        "2,2268318,2520377,fav,1511572885\n2,5,9,buy,1511572886\n",
    )
    assert detect_format(path) == "taobao"
    log = read_events(path)
    assert log.sequences().event_types == [["view", "cart"], ["fav", "buy"]]
    assert log.items.to_dict("records") == [
        {"item_id": "2268318", "category": "2520377"},
        {"item_id": "2333346", "category": "2520771"},
        {"item_id": "5", "category": "9"},
    ]


def test_taobao_detected_without_its_name(tmp_path):
    path = write(tmp_path / "sample.csv", "1,2268318,2520377,pv,1511544070\n")
    assert detect_format(path) == "taobao"


def test_explicit_csv_item_table(tmp_path):
    path = write(tmp_path / "events.tsv", "user_id\titem_id\ttimestamp\nu\ta\t1\n")
    items = write(tmp_path / "items.csv", "item_id,category,price,title\na,shoes,9.5,Red shoe\n"
                                          "a,dup,1,Dup\n")
    log = read_events(path, items_path=items)
    assert log.items.to_dict("records") == [
        {"item_id": "a", "category": "shoes", "price": 9.5, "title": "Red shoe"}
    ]


def test_item_table_under_the_mapped_item_column(tmp_path):
    items = write(tmp_path / "items.jsonl", json.dumps({"sku": 5, "brand": "x"}) + "\n")
    assert read_items(items, item_column="sku").to_dict("records") == [
        {"item_id": "5", "brand": "x"}
    ]


def test_timestamp_unit_ms_for_a_plain_csv(tmp_path):
    path = write(tmp_path / "c.csv", "user_id,item_id,timestamp\nu,a,1700000000999\n")
    assert read_events(path, timestamp_unit="ms").frame["timestamp"].tolist() == [1700000000]


def test_parquet_with_integer_ids_and_datetime(tmp_path):
    path = tmp_path / "e.parquet"
    pd.DataFrame({"user_id": [1, 1], "item_id": [10, 11],
                  "timestamp": pd.to_datetime(["2024-01-01 00:00:10", "2024-01-01"], utc=True,
                                              format="ISO8601"),
                  "event_type": pd.Categorical(["view", "buy"])}).to_parquet(path)
    log = read_events(path)
    assert log.sequences().items == [["11", "10"]]
    assert log.sequences().timestamps == [[1704067200, 1704067210]]


def test_read_is_the_first_step(tmp_path):
    path = write(tmp_path / "c.csv", "u,i,t,e\nx,a,1,v\n")
    log = read_events(path, "csv", {"user_id": "u", "item_id": "i", "timestamp": "t",
                                    "event_type": "e"}, event_map={"v": "view"})
    assert log.steps == [{
        "name": "read",
        "params": {"path": str(path), "format": "csv",
                   "columns": {"user_id": "u", "item_id": "i", "timestamp": "t",
                               "event_type": "e"},
                   "event_map": {"v": "view"}, "items_path": None, "encoding": "utf-8",
                   "timestamp_unit": "s"},
        "events": 1,
    }]


@pytest.mark.parametrize(
    ("name", "first_line", "expected"),
    [
        ("a.parquet", None, "parquet"),
        ("ml-100k.inter", "user_id:token\titem_id:token", "recbole"),
        ("u.data", "1\t2\t3\t4", "movielens"),
        ("u1.base", "1\t2\t3\t4", "movielens"),
        ("ratings_users1-2999.dat.gz", "1::2::3::4", "movielens"),
        ("UserBehavior_head.csv", "1,2,3,pv,1511544070", "taobao"),
        ("events.csv", "timestamp,visitorid,event,itemid,transactionid", "retailrocket"),
        ("events.csv", "user_id,item_id,timestamp", "csv"),
        ("x.tsv.gz", "user_id\titem_id\ttimestamp", "tsv"),
        ("clicks.txt", "SessionId\tItemId\tTime", "tsv"),
        ("x.jsonl", '{"user_id": 1}', "jsonl"),
        ("reviews.json.gz", '{"reviewerID": "A", "asin": "B"}', "amazon-reviews"),
        ("old.json", "{'reviewerID': 'A', 'asin': 'B'}", "amazon-reviews"),
        ("beauty.txt", "1 2", "sasrec"),
        ("Beauty.txt", "1 2 3", "s3rec"),
    ],
)
def test_detect_format(tmp_path, name, first_line, expected):
    path = tmp_path / name
    if first_line is not None:
        write(path, first_line + "\n")
    assert detect_format(path) == expected
    assert expected in FORMATS


# ---------------------------------------------------------------------------------------------
# Errors: one EventLogError each, naming the file, the line and the column
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Real files (skipped when absent)
# ---------------------------------------------------------------------------------------------


def real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    return path


def test_real_taobao_sample():
    log = read_events(real("taobao-sample/UserBehavior_head.csv"))
    assert log.stats() == {"users": 815, "items": 55368, "interactions": 84475}
    assert log.frame["event_type"].value_counts().to_dict() == {
        "view": 75872, "cart": 4497, "fav": 2356, "buy": 1750}
    assert log.items["category"].nunique() == 2914


def test_real_ml100k_recbole():
    log = read_events(real("ml-100k/ml-100k.inter"))
    assert log.stats() == {"users": 943, "items": 1682, "interactions": 100000}
    assert len(log.items) == 1682


def test_real_movielens_1m_half():
    log = read_events(real("movielens-1m-half/ratings_users1-2999.dat.gz"))
    assert log.stats() == {"users": 2999, "items": 3615, "interactions": 487650}
    assert len(log.items) == 3883


def test_real_beauty_s3rec():
    log = read_events(real("amazon-beauty/Beauty.txt"))
    assert log.stats() == {"users": 22363, "items": 12101, "interactions": 198502}
    assert len(log.items) == 12101
