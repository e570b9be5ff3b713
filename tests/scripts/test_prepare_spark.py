"""scripts/prepare_spark.py in Spark local mode against ``recsft data prepare`` on the same file:
the same sequences, user by user (and in the same order), for the default path and for the
cleaning options; the same cleaned events, which recsft reads back as a Parquet dataset folder;
and a bad row stopped (one line naming the file, row and column) or dropped.

The generated CSV has ties in timestamps, repeats, several event types and several timestamp
spellings (integers, fractions, ISO-8601 with and without a zone); the bad rows (empty ids, a
timestamp that is not one, one out of range, a ragged row, an event type outside the map) go
into a second file, which recsft refuses and the Spark job drops to give the first file's result.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install "
                              "'recsft[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (no java on PATH, no JAVA_HOME)", allow_module_level=True)

import pyarrow.parquet as pq  # noqa: E402

from recsft.cli import main as recsft_main  # noqa: E402
from recsft.data.prepare import load_prepared  # noqa: E402
from tests.scripts.script_module import load_script  # noqa: E402

TYPES = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "buy"}


def _script():
    return load_script("prepare_spark")


@pytest.fixture(scope="module")
def job():
    return _script()


@pytest.fixture(scope="module")
def spark(job):
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = job.spark_session({
        "spark.master": "local[2]", "spark.ui.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        # Two output files for the events (their order across files is checked).
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
        # Tiny data: compiling whole-stage code costs more than it saves.
        "spark.sql.codegen.wholeStage": "false",
        # Several input partitions, so that the row numbers cross partitions.
        "spark.sql.files.maxPartitionBytes": "4096",
    })
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _when(rng: random.Random, seconds: int) -> str:
    """One timestamp, spelt one of the ways recsft reads."""
    import datetime as dt

    kind = rng.random()
    if kind < 0.05:
        return f" {seconds} "  # padded with spaces: still the number
    if kind < 0.6:
        return str(seconds)
    if kind < 0.75:
        return f"{seconds}.{rng.randint(0, 9)}"
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    if kind < 0.9:
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """``clean.csv`` (what recsft reads) and ``dirty.csv`` (the same rows and bad ones)."""
    folder = tmp_path_factory.mktemp("events")
    rng = random.Random(7)
    header = ["visitor", "sku", "ts", "kind"]
    rows = []
    for user in range(40):
        start = 1_700_000_000 + rng.randint(0, 50) * 60
        item = f"i{rng.randint(0, 24)}"
        for _ in range(rng.randint(1, 18)):
            if rng.random() > 0.35:  # else a repeat of the same item
                item = f"i{rng.randint(0, 24)}"
            start += rng.choice([0, 0, 1, 30, 600])  # ties in timestamp
            rows.append([f"u{user}", item, _when(rng, start), rng.choice(list(TYPES))])
    rows += [rows[3], rows[10], rows[10]]  # exact duplicates, later in the file
    rng.shuffle(rows)  # users interleaved; ties then keep this file order
    rows.append([" u1", "i2", "1700000100", "pv"])  # ids are taken as they are (no trimming)
    rows.append(["u2", 'i"7,x', "1700000100", "pv"])  # quoted: a comma and a doubled quote
    bad = [["", "i1", "1700000000", "pv"], ["u3", " ", "1700000000", "pv"],
           ["u3", "i1", "yesterday", "pv"], ["u4", "i1", "-5", "cart"],
           ["u5", "i1", "1700000000"], ["u6", "i2", "1700000000", "click"]]
    dirty = list(rows)
    for row in bad:
        dirty.insert(rng.randint(5, len(dirty)), row)
    for name, content in (("clean.csv", rows), ("dirty.csv", dirty)):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(content)
    first_bad = min(dirty.index(row) for row in bad) + 1
    return folder / "clean.csv", folder / "dirty.csv", first_bad


COLUMNS = ["user_id=visitor", "item_id=sku", "timestamp=ts", "event_type=kind"]
EVENT_MAP = [f"{source}={target}" for source, target in TYPES.items()]


def _recsft(csv_path: Path, out: Path, extra: list[str]) -> list[dict]:
    args = ["data", "prepare", "--input", str(csv_path), "--out", str(out)]
    for column in COLUMNS:
        args += ["--column", column]
    assert recsft_main(args + extra) == 0
    dataset, _ = load_prepared(out)
    return dataset.to_list()


def _spark(job, spark, csv_path: Path, out: Path, extra: list[str]) -> list[dict]:
    args = ["--input", str(csv_path), "--out", str(out)]
    for column in COLUMNS:
        args += ["--column", column]
    assert job.main(args + extra, spark=spark) == 0
    return pq.read_table(out / "sequences").to_pylist()


def _event_map(extra: list[str]) -> list[str]:
    return [flag for pair in EVENT_MAP for flag in ("--event-map", pair)] + extra


CASES = {
    "default": [],
    "event map, duplicates, repeats, k-core": _event_map([
        "--preprocess", "drop_duplicates=true", "--preprocess", "collapse_repeats=true",
        "--preprocess", "user_k=3", "--preprocess", "item_k=4"]),
    "window, one type, k-core": _event_map([
        "--preprocess", "start=1700000600", "--preprocess", "end=2023-11-14T23:30:00",
        "--preprocess", "keep_event_types=view", "--preprocess", "user_k=2"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sequences_equal_recsft_prepare(job, spark, files, tmp_path, case) -> None:
    clean, _, _ = files
    expected = _recsft(clean, tmp_path / "recsft", CASES[case])
    got = _spark(job, spark, clean, tmp_path / "spark", CASES[case])
    assert len(expected) > 5
    by_user = {row["user_id"]: row for row in got}
    assert set(by_user) == {row["user_id"] for row in expected}
    for row in expected:
        assert by_user[row["user_id"]] == row, row["user_id"]
    assert got == expected  # users in the same order too
    # The cleaned events: the rows of recsft's events.parquet, in its order.
    assert len(list((tmp_path / "spark" / "events").glob("part-*.parquet"))) >= 2
    events = pq.read_table(tmp_path / "spark" / "events").to_pandas()
    reference = pq.read_table(tmp_path / "recsft" / "events.parquet").to_pandas()
    assert events.to_dict("list") == reference[events.columns].to_dict("list")
    summary = (tmp_path / "spark" / job.SUMMARY_FILE).read_text()
    assert '"written_by": "scripts/prepare_spark.py"' in summary
    # recsft takes the Spark events folder as input and prepares the same sequences again.
    assert recsft_main(["data", "prepare", "--input", str(tmp_path / "spark" / "events"),
                        "--out", str(tmp_path / "again")]) == 0
    assert load_prepared(tmp_path / "again")[0].to_list() == expected


def test_a_bad_row_stops_the_job_with_one_line(job, spark, files, tmp_path, capsys) -> None:
    _, dirty, first_bad = files
    args = ["--input", str(dirty), "--out", str(tmp_path / "out")]
    for column in COLUMNS:
        args += ["--column", column]
    assert job.main(args, spark=spark) == 2
    message = capsys.readouterr().err.strip()
    assert "\n" not in message
    assert message.startswith(f"error: {dirty}, row {first_bad}, column ")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_bad_rows_dropped_give_the_clean_file(job, spark, files, tmp_path) -> None:
    clean, dirty, _ = files
    extra = _event_map(["--preprocess", "collapse_repeats=true"])
    expected = _recsft(clean, tmp_path / "recsft", extra)
    got = _spark(job, spark, dirty, tmp_path / "spark", extra + ["--bad-rows", "drop"])
    assert got == expected
    import json

    summary = json.loads((tmp_path / "spark" / job.SUMMARY_FILE).read_text())
    dropped = summary["bad_rows"]["dropped"]
    assert summary["bad_rows"]["total_dropped"] == 6
    assert dropped["user_id: empty id; expected a non-empty value"] == 1
    assert dropped["item_id: empty id; expected a non-empty value"] == 1
    assert dropped["row: wrong number of fields; expected one per header column"] == 1
    assert sum(v for k, v in dropped.items() if k.startswith("timestamp:")) == 2
    assert sum(v for k, v in dropped.items() if k.startswith("event_type:")) == 1


def test_missing_file_and_column_are_one_line_errors(job, spark, files, tmp_path,
                                                     capsys) -> None:
    clean, _, _ = files
    assert job.main(["--input", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")],
                    spark=spark) == 2
    assert "nope.csv: no such file or folder" in capsys.readouterr().err
    assert job.main(["--input", str(clean), "--out", str(tmp_path / "o"),
                     "--column", "user_id=visitorid"], spark=spark) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "missing column 'visitorid' (for user_id)" in err
    assert job.main(["--input", str(clean), "--out", str(tmp_path / "o"), "--preprocess",
                     "session_gap_seconds=1800"], spark=spark) == 2
    assert "not done by the Spark job" in capsys.readouterr().err
    for option, problem in (("user_k=many", "expected a whole number"),
                            ("end=someday", "cannot read 'someday' as a time")):
        assert job.main(["--input", str(clean), "--out", str(tmp_path / "o"), "--preprocess",
                         option], spark=spark) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and problem in err, err
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("not recsft's")
    assert job.main(["--input", str(clean), "--out", str(tmp_path / "theirs"), "--force"],
                    spark=spark) == 2
    assert "theirs: exists; expected a new folder" in capsys.readouterr().err
    assert (tmp_path / "theirs" / "notes.txt").read_text() == "not recsft's"


def test_parquet_folder_input_with_typed_columns(job, spark, tmp_path) -> None:
    """A Parquet dataset folder (two files) with integer ids, float ids, typed timestamps."""
    import pandas as pd

    folder = tmp_path / "in"
    folder.mkdir()
    first = pd.DataFrame({"user_id": [1, 2, 1], "item_id": [10.0, 11.0, 10.0],
                          "timestamp": pd.to_datetime([5, 5, 5], unit="s", utc=True),
                          "event_type": ["view", None, "buy"]})
    second = pd.DataFrame({"user_id": [2, 1], "item_id": [12.0, 13.0],
                           "timestamp": pd.to_datetime([5, 4], unit="s", utc=True),
                           "event_type": ["buy", "view"]})
    first.to_parquet(folder / "part-0.parquet", index=False)
    second.to_parquet(folder / "part-1.parquet", index=False)
    _spark_plain(job, spark, folder, tmp_path / "out")
    assert job.main(["--input", str(folder), "--out", str(tmp_path / "out")], spark=spark) == 2
    got = _spark_plain(job, spark, folder, tmp_path / "out", "--force")  # its own folder
    assert got == [
        {"user_id": "1", "item_ids": ["13", "10", "10"], "event_types": ["view", "view", "buy"],
         "timestamps": [4, 5, 5]},
        {"user_id": "2", "item_ids": ["11", "12"], "event_types": ["item", "buy"],
         "timestamps": [5, 5]},
    ]


def _spark_plain(job, spark, path: Path, out: Path, *extra: str) -> list[dict]:
    assert job.main(["--input", str(path), "--out", str(out), *extra], spark=spark) == 0
    return pq.read_table(out / "sequences").to_pylist()
