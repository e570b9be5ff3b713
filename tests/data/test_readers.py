"""Format readers: every test writes its own tiny files (no network, no shared data); the
integration tests at the end read the real datasets when they are present. Errors are in
test_readers_errors.py, typed ids and bounded inputs in test_readers_inputs.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from recsft.data.events import FORMATS
from recsft.data.readers import detect_format, read_events, read_items

SHARED = Path("/work/shared/data")


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path``, gzip-compressed when the name ends in ``.gz``."""
    data = text.encode(encoding) if isinstance(text, str) else text
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
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


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_a_query_column_is_kept_empty_meaning_not_a_search(tmp_path, suffix) -> None:
    rows = [{"user_id": "u1", "item_id": "i1", "timestamp": 1, "event_type": "search",
             "query": "red shirt"},
            {"user_id": "u1", "item_id": "i2", "timestamp": 2, "event_type": "view",
             "query": None},
            {"user_id": "u2", "item_id": "i1", "timestamp": 3, "event_type": "view",
             "query": ""}]
    path = tmp_path / f"events.{suffix}"
    if suffix == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif suffix == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = read_events(path).frame
    assert frame["query"].iloc[0] == "red shirt"
    assert frame["query"].iloc[1:].isna().all()
    plain = tmp_path / f"plain.{suffix}"
    if suffix == "csv":
        pd.DataFrame(rows).drop(columns="query").to_csv(plain, index=False)
        assert "query" not in read_events(plain).frame.columns
