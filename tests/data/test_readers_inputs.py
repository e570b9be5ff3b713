"""Typed ids and bounded inputs: float / boolean / list / object ids, repeated column names,
nested Parquet columns, special files (FIFO, device, folder), unreadable files and lines over
the size limit. Each case is a tiny generated file and one exact message (docs/data.md quotes
them)."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsft.data.events import EventLogError
from recsft.data.readers import lines as reader_lines
from recsft.data.readers import read_events, read_items
from recsft.errors import RecsftError

FLOAT_RULE = ("expected a string, an integer or a whole number below 2**53 (a whole float is "
              "read as an integer: 2.0 -> '2')")


def message_of(path: Path, read=read_events, **kwargs) -> str:
    """The error's message without the folder (the docs' bad-input table quotes these)."""
    with pytest.raises(EventLogError) as info:
        within(10, lambda: read(path, **kwargs))
    assert isinstance(info.value, RecsftError)
    return str(info.value).replace(f"{path.parent}{os.sep}", "")


def within(seconds: float, call):
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed back to the caller
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def parquet(path: Path, row_group_size: int | None = None, **columns) -> Path:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def jsonl(path: Path, *objects: dict) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


# ---------------------------------------------------------------------------------------------
# Typed ids
# ---------------------------------------------------------------------------------------------


def test_whole_float_ids_are_read_as_integers(tmp_path):
    path = parquet(tmp_path / "f.parquet", user_id=[1.0, 2.0], item_id=[10.0, -3.0],
                   timestamp=[1, 2])
    frame = read_events(path).frame
    assert frame["user_id"].tolist() == ["1", "2"]
    assert frame["item_id"].tolist() == ["10", "-3"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (float("nan"), "float id nan is not a whole number"),
        (1.5, "float id 1.5 is not a whole number"),
        (float("inf"), "float id inf is not a whole number"),
        (1e20, "float id 1e+20 is too large to be exact"),
    ],
)
def test_error_bad_float_id_parquet(tmp_path, value, problem):
    path = parquet(tmp_path / "f.parquet", row_group_size=2, user_id=["u", "u", "v"],
                   item_id=[1.0, 2.0, value], timestamp=[1, 2, 3])
    assert message_of(path) == (
        f"f.parquet, row group 1, row 3, column 'item_id': {problem}; {FLOAT_RULE}")


def test_error_boolean_id_parquet(tmp_path):
    path = parquet(tmp_path / "b.parquet", user_id=[True, False], item_id=["a", "b"],
                   timestamp=[1, 2])
    assert message_of(path) == (
        "b.parquet, row group 0, row 1, column 'user_id': boolean id true; expected a string or "
        "an integer")


def test_error_unsupported_id_type_parquet(tmp_path):
    path = parquet(tmp_path / "t.parquet", user_id=["u"],
                   item_id=pa.array([1], pa.date32()), timestamp=[1])
    assert message_of(path) == (
        "t.parquet, column 'item_id': ids of type date32[day] are not supported; expected a "
        "string or an integer")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "list id [1, 2]; expected a string or an integer"),
        ({"sku": 1}, 'object id {"sku": 1}; expected a string or an integer'),
        (True, "boolean id true; expected a string or an integer"),
        (2.5, f"float id 2.5 is not a whole number; {FLOAT_RULE}"),
    ],
)
def test_error_bad_json_id(tmp_path, value, message):
    path = jsonl(tmp_path / "e.jsonl", {"user_id": "u", "item_id": 1, "timestamp": 1},
                 {"user_id": "u", "item_id": value, "timestamp": 2})
    assert message_of(path) == f"e.jsonl, line 2, column 'item_id': {message}"


def test_error_boolean_json_id_on_the_first_line(tmp_path):
    path = jsonl(tmp_path / "e.jsonl", {"user_id": "u", "item_id": "a", "timestamp": 1},
                 {"user_id": False, "item_id": "b", "timestamp": 2})
    path.write_text("\n" + path.read_text().split("\n")[1] + "\n")  # a blank line first
    assert message_of(path) == (
        "e.jsonl, line 2, column 'user_id': boolean id false; expected a string or an integer")


def test_whole_float_json_ids_match_integer_ids(tmp_path):
    path = jsonl(tmp_path / "e.jsonl", {"user_id": 1, "item_id": 2.0, "timestamp": 1},
                 {"user_id": "x", "item_id": 2, "timestamp": 2})
    assert read_events(path).frame["item_id"].tolist() == ["2", "2"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("dup.csv", "user_id,item_id,item_id,timestamp\nu,a,b,1\n",
         "dup.csv, line 1, column 'item_id': the header has 2 columns named 'item_id' (fields 2 "
         "and 3); expected each column once"),
        ("dup.tsv", "user_id\titem_id\ttimestamp\tuser_id\nu\ta\t1\tv\n",
         "dup.tsv, line 1, column 'user_id': the header has 2 columns named 'user_id' (fields 1 "
         "and 4); expected each column once"),
        ("dup.inter", "user_id:token\titem_id:token\titem_id:float\nu\ta\t1\n",
         "dup.inter, line 1, column 'item_id': the header has 2 columns named 'item_id' (fields "
         "2 and 3); expected each column once"),
    ],
)
def test_error_repeated_column_name(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    assert message_of(path) == message


def test_repeated_column_that_is_not_read_is_allowed(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("user_id,item_id,timestamp,note,note\nu,a,1,x,y\n")
    assert read_events(path).frame["item_id"].tolist() == ["a"]


def test_error_repeated_column_name_parquet(tmp_path):
    table = pa.Table.from_arrays([pa.array(["u"]), pa.array(["a"]), pa.array(["b"]),
                                  pa.array([1])],
                                 names=["user_id", "item_id", "item_id", "timestamp"])
    pq.write_table(table, tmp_path / "dup.parquet")
    assert message_of(tmp_path / "dup.parquet") == (
        "dup.parquet, column 'item_id': the schema has 2 columns named 'item_id' (fields 2 and "
        "3); expected each column once")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"item_id": [[1], [2]]},
         "n.parquet, column 'item_id': nested values of type list<element: int64>; expected one "
         "scalar value per row"),
        ({"timestamp": [{"s": 1}, {"s": 2}]},
         "n.parquet, column 'timestamp': nested values of type struct<s: int64>; expected one "
         "scalar value per row"),
        ({"event_type": [["view"], ["buy"]]},
         "n.parquet, column 'event_type': nested values of type list<element: string>; expected "
         "one scalar value per row"),
    ],
)
def test_error_nested_parquet_column(tmp_path, columns, message):
    base = {"user_id": ["u", "v"], "item_id": ["a", "b"], "timestamp": [1, 2]}
    path = parquet(tmp_path / "n.parquet", **{**base, **columns})
    assert message_of(path) == message


def test_item_table_ids_follow_the_same_rules(tmp_path):
    whole = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": [1.0, 2.0], "title": ["a", "b"]}).to_parquet(whole)
    assert read_items(whole)["item_id"].tolist() == ["1", "2"]
    half = tmp_path / "half.parquet"
    pd.DataFrame({"item_id": [1.0, 2.5]}).to_parquet(half)
    assert message_of(half, read_items) == (
        f"half.parquet, row 2, column 'item_id': float id 2.5 is not a whole number; "
        f"{FLOAT_RULE}")
    mixed = jsonl(tmp_path / "items.jsonl", {"item_id": 3.0}, {"item_id": "x"},
                  {"item_id": [1]})
    assert message_of(mixed, read_items) == (
        "items.jsonl, row 3, column 'item_id': list id [1]; expected a string or an integer")
    repeated = tmp_path / "items.csv"
    repeated.write_text("item_id,title,item_id\na,A,b\n")
    assert message_of(repeated, read_items) == (
        "items.csv, line 1, column 'item_id': the table has 2 columns named 'item_id' (fields 1 "
        "and 3); expected each column once")


# ---------------------------------------------------------------------------------------------
# Special and unreadable files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["auto", "csv", "sasrec", "jsonl", "parquet", "movielens"])
def test_error_fifo_does_not_block(tmp_path, fmt):
    path = tmp_path / "events.csv"
    os.mkfifo(path)
    assert message_of(path, format=fmt) == (
        "events.csv: is a FIFO; expected a regular data file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
@pytest.mark.parametrize("fmt", ["auto", "sasrec", "csv"])
def test_error_symlink_to_dev_zero(tmp_path, fmt):
    path = tmp_path / "beauty.txt"
    path.symlink_to("/dev/zero")
    assert message_of(path, format=fmt) == "beauty.txt: is a device; expected a regular data file"


def test_error_folder(tmp_path):
    (tmp_path / "events.csv").mkdir()
    assert message_of(tmp_path / "events.csv") == (
        "events.csv: is a folder; expected a data file")


def test_error_item_table_beside_is_a_fifo(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::2::3::4\n")
    os.mkfifo(tmp_path / "movies.dat")
    assert message_of(path) == "movies.dat: is a FIFO; expected a regular data file"
    explicit = tmp_path / "items.csv"
    os.mkfifo(explicit)
    assert message_of(explicit, read_items) == (
        "items.csv: is a FIFO; expected a regular data file")


def test_error_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\n")
    # Root reads everything, so the check is made to fail; the real case is below.
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    assert message_of(path) == (
        "events.csv: permission denied (the data file cannot be read)")


def test_error_permission_denied_for_real(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\n")
    path.chmod(0)
    if os.geteuid() != 0:
        assert message_of(path) == (
            "events.csv: permission denied (the data file cannot be read)")
        return
    # As root: read in a child that gives up root (the check fails before any thread starts).
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        try:
            os.setgid(65534)
            os.setuid(65534)
            read_events(path)
            text = "no error"
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            text = f"{type(err).__name__}: {err}"
        os.write(write_end, text.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    assert text == f"EventLogError: {path}: permission denied (the data file cannot be read)"


# ---------------------------------------------------------------------------------------------
# Lines over the size limit (a small limit here; the default is 16 MiB)
# ---------------------------------------------------------------------------------------------

LIMIT = 64
LONG = "x" * (LIMIT + 1)
EXACT = "y" * (LIMIT - 4)  # "u,{EXACT},2" is exactly LIMIT bytes


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(reader_lines, "MAX_LINE_BYTES", LIMIT)


@pytest.mark.parametrize(
    ("name", "text", "fmt", "line"),
    [
        ("c.csv", f"user_id,item_id,timestamp\nu,a,1\nu,{LONG},2\n", "auto", 3),
        ("c.csv.gz", f"user_id,item_id,timestamp\nu,a,1\nu,{LONG},2\n", "auto", 3),
        ("c.tsv", f"user_id\titem_id\ttimestamp\n\nu\t{LONG}\t2\n", "auto", 3),
        ("UserBehavior.csv", f"1,2,3,pv,1511544070\n1,{LONG},3,pv,1511544070\n", "auto", 2),
        ("x.inter", f"user_id:token\titem_id:token\nu\t{LONG}\n", "auto", 2),
        ("u.data", f"1\t2\t3\t4\n1\t{LONG}\t3\t4\n", "auto", 2),
        ("ratings.dat", f"1::2::3::4\n1::{LONG}::3::4\n", "auto", 2),
        ("ratings.dat.gz", f"1::2::3::4\n1::{LONG}::3::4\n", "auto", 2),
        ("beauty.txt", f"1 2\n1 2\n1 {LONG}\n", "sasrec", 3),
        ("beauty.txt.gz", f"1 2\n1 {LONG}\n", "sasrec", 2),
        ("Beauty.txt", f"1 2 3\n{LONG}\n", "s3rec", 2),
        ("e.jsonl", f'{{"user_id": "u", "item_id": "a", "timestamp": 1}}\n'
                    f'{{"user_id": "u", "item_id": "{LONG}", "timestamp": 2}}\n', "auto", 2),
        ("e.jsonl.gz", f"{LONG}\n", "auto", 1),
    ],
)
def test_error_line_over_the_limit(tmp_path, small_limit, name, text, fmt, line):
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert message_of(path, format=fmt) == (
        f"{name}, line {line}: the line is longer than {LIMIT} bytes; expected at most {LIMIT} "
        "bytes per line (one event or record per line)")


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz"])
def test_line_of_exactly_the_limit_is_read(tmp_path, small_limit, name):
    rows = ["user_id,item_id,timestamp", "u,a,1", f"u,{EXACT},2"] + [f"v,{EXACT},3"] * 5
    assert len(rows[2]) == LIMIT
    data = ("\n".join(rows) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert read_events(path).frame["item_id"].tolist() == ["a"] + [EXACT] * 6


def test_error_item_table_line_over_the_limit(tmp_path, small_limit):
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\n")
    (tmp_path / "u.item").write_text(f"2|{LONG}\n")
    assert message_of(path) == (
        f"u.item, line 1: the line is longer than {LIMIT} bytes; expected at most {LIMIT} bytes "
        "per line (one event or record per line)")


@pytest.mark.parametrize("name", ["big.csv", "big.csv.gz"])
def test_error_20_mib_line_with_the_default_limit(tmp_path, name):
    data = b"user_id,item_id,timestamp\nu,a,1\nu," + b"x" * (20 << 20) + b",2\nu,b,3\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, 1) if name.endswith(".gz") else data)
    assert message_of(path) == (
        f"{name}, line 3: the line is longer than 16 MiB; expected at most 16 MiB per line (one "
        "event or record per line)")


def test_messages_quote_long_values_shortened(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("user_id,item_id,timestamp\nu,a," + "9x" * 5000 + "\n")
    message = message_of(path)
    assert message.startswith("c.csv, line 2, column 'timestamp': cannot parse timestamp '9x9x")
    assert len(message) < 300
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"column_{i}" for i in range(2000)) + "\n" + "1," * 1999 + "1\n")
    assert len(message_of(wide)) < 300


def test_error_json_document_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reader_lines, "MAX_DOCUMENT_BYTES", 16)
    path = tmp_path / "Beauty.txt"
    path.write_text("1 10 11\n")
    (tmp_path / "Beauty_item2attributes.json").write_text(json.dumps({"10": [1, 2, 3]}))
    assert message_of(path) == (
        "Beauty_item2attributes.json: the file is larger than 16 bytes; expected a smaller JSON "
        "document")
