"""The streaming `recsft data prepare` equals the in-memory one (sequences, items, stats,
events), in bounded-memory mode with many buckets, on Parquet dataset folders, with
de-duplication and k-core, and refuses what it cannot do with one line."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsft.cli import main
from recsft.data.prepare import load_prepared, load_prepared_log
from recsft.data.synthetic import SyntheticConfig, generate_events


def messy_frame(seed: int = 3) -> pd.DataFrame:
    """Synthetic events with exact duplicates, tied timestamps and users interleaved."""
    rng = np.random.default_rng(seed)
    events = generate_events(SyntheticConfig(num_users=80, num_items=60, num_categories=4,
                                             seed=seed)).events
    frame = events[["user_id", "item_id", "timestamp", "event_type"]].copy()
    frame["timestamp"] = frame["timestamp"] // 5000 * 5000  # many ties
    duplicates = frame.sample(n=len(frame) // 10, random_state=seed)
    frame = pd.concat([frame, duplicates, frame.head(30)], ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def sequences_of(folder) -> dict:
    dataset, _ = load_prepared(folder)
    return {row["user_id"]: (row["item_ids"], row["event_types"], row["timestamps"])
            for row in dataset}


def prepare(args, out, *extra) -> None:
    assert main(["data", "prepare", *args, "--out", str(out), *extra]) == 0


def assert_same(memory, stream) -> None:
    assert sequences_of(stream) == sequences_of(memory)
    a, b = (pd.read_parquet(f / "items.parquet") for f in (memory, stream))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    stats = [json.loads((f / "stats.json").read_text()) for f in (memory, stream)]
    assert stats[0] == stats[1]
    events = [load_prepared_log(f).frame for f in (memory, stream)]
    pd.testing.assert_frame_equal(events[0], events[1], check_dtype=False)
    users = pd.read_parquet(stream / "users.parquet")
    assert users["user_id"].tolist() == load_prepared(stream)[0]["user_id"]


@pytest.mark.parametrize("options", [
    [],
    ["--preprocess", "drop_duplicates=true"],
    ["--preprocess", "drop_duplicates=true", "--preprocess", "user_k=5",
     "--preprocess", "item_k=8"],
    ["--preprocess", "user_k=20", "--preprocess", "keep_event_types=view"],
    ["--preprocess", "keep_event_types=buy", "--preprocess", "end=1602000000",
     "--preprocess", "drop_duplicates=true"],
    ["--preprocess", "start=1601000000", "--preprocess", "end=1602500000",
     "--preprocess", "drop_duplicates=true", "--preprocess", "item_k=3"],
])
def test_stream_equals_memory_with_many_buckets(tmp_path, options):
    csv = tmp_path / "events.csv"
    messy_frame().to_csv(csv, index=False)
    memory, stream = tmp_path / "memory", tmp_path / "stream"
    prepare(["--input", str(csv), "--engine", "memory", *options], memory)
    prepare(["--input", str(csv), "--engine", "stream", "--buckets", "7", *options], stream)
    assert 1 < len(list((stream / "sequences").glob("part-*.arrow"))) <= 7
    assert_same(memory, stream)
    metadata = json.loads((stream / "metadata.json").read_text())
    assert metadata["preparation"]["buckets"] == 7
    counted = ("name", "params", "events", "events_before", "events_after", "users_after",
               "items_after", "duplicates_removed", "users_removed", "items_removed",
               "removed_by_type")
    assert [{k: s[k] for k in counted if k in s} for s in metadata["steps"]] == [
        {k: s[k] for k in counted if k in s}
        for s in json.loads((memory / "metadata.json").read_text())["steps"]]


def test_auto_streams_what_it_can_and_the_bound_sets_the_buckets(tmp_path, capsys):
    csv = tmp_path / "events.csv"
    messy_frame().to_csv(csv, index=False)
    memory, stream, small = tmp_path / "memory", tmp_path / "stream", tmp_path / "small"
    prepare(["--input", str(csv), "--engine", "memory"], memory)
    assert "streaming" not in capsys.readouterr().out
    prepare(["--input", str(csv)], stream)
    assert "streaming" in capsys.readouterr().out
    assert json.loads((stream / "metadata.json").read_text())["preparation"]["buckets"] == 1
    assert load_prepared(stream)[0]["user_id"] == load_prepared(memory)[0]["user_id"]
    prepare(["--input", str(csv), "--memory-gib", "0.0001"], small)
    capsys.readouterr()
    assert json.loads((small / "metadata.json").read_text())["preparation"]["buckets"] > 1
    assert_same(memory, small)
    # An option streaming cannot apply: in memory while it fits.
    prepare(["--input", str(csv), "--preprocess", "collapse_repeats=true"], tmp_path / "c")
    assert "streaming" not in capsys.readouterr().out


def test_parquet_dataset_folder_with_hive_partitions(tmp_path):
    frame = messy_frame()
    folder = tmp_path / "dataset"
    for kind, part in frame.groupby("event_type", sort=True):
        leaf = folder / f"event_type={kind}"
        leaf.mkdir(parents=True)
        rest = part.drop(columns="event_type")
        half = len(rest) // 2
        for j, chunk in enumerate((rest.iloc[:half], rest.iloc[half:])):
            pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False),
                           leaf / f"part-{j:05d}-x.snappy.parquet", row_group_size=50)
            (leaf / f".part-{j:05d}-x.snappy.parquet.crc").write_bytes(b"crc")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "_committed_123").write_text("{}")
    # The same rows, in the order the folder is read, as one file.
    ordered = pd.concat([p for _, p in frame.groupby("event_type", sort=True)])
    single = tmp_path / "single.parquet"
    ordered.to_parquet(single, index=False)
    memory, stream, folder_memory = (tmp_path / n for n in ("memory", "stream", "fm"))
    prepare(["--input", str(single), "--engine", "memory"], memory)
    prepare(["--input", str(folder), "--engine", "stream", "--buckets", "3"], stream)
    prepare(["--input", str(folder), "--engine", "memory"], folder_memory)
    assert_same(memory, stream)
    assert_same(memory, folder_memory)


def test_folder_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_bytes(b"")
    assert main(["data", "prepare", "--input", str(empty), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip()
    assert "without data files" in err and len(err.splitlines()) == 1
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    base = {"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": [1, 2]}
    pd.DataFrame(base).to_parquet(mixed / "part-0.parquet", index=False)
    pd.DataFrame({**base, "item_id": [1, 2]}).to_parquet(mixed / "part-1.parquet", index=False)
    for engine in ("memory", "stream"):
        assert main(["data", "prepare", "--input", str(mixed), "--engine", engine,
                     "--out", str(tmp_path / "o")]) != 0
        err = capsys.readouterr().err.strip()
        assert "part-1.parquet" in err and "item_id" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_bad_row_names_its_line_and_unsupported_options_are_refused(tmp_path, capsys):
    csv = tmp_path / "events.csv"
    frame = messy_frame()
    frame.loc[41, "timestamp"] = -5
    frame.to_csv(csv, index=False)
    assert main(["data", "prepare", "--input", str(csv), "--engine", "stream", "--out",
                 str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip()
    assert "line 43" in err and "timestamp" in err and len(err.splitlines()) == 1
    frame.loc[41, "timestamp"] = 5
    frame.to_csv(csv, index=False)
    for option in ("collapse_repeats=true", "session_gap_seconds=600"):
        assert main(["data", "prepare", "--input", str(csv), "--engine", "stream",
                     "--preprocess", option, "--out", str(tmp_path / "o")]) != 0
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and option.split("=")[0] in err
    # Too large for memory and an option streaming cannot apply: refused, naming both.
    assert main(["data", "prepare", "--input", str(csv), "--memory-gib", "0.0001",
                 "--preprocess", "collapse_repeats=true", "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip()
    assert "collapse_repeats" in err and "--memory-gib" in err
    assert not (tmp_path / "o").exists()


def test_a_folder_is_only_read_as_parquet(tmp_path, capsys):
    folder = tmp_path / "dataset"
    folder.mkdir()
    pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "timestamp": [1]}).to_parquet(
        folder / "part-0.parquet", index=False)
    assert main(["data", "prepare", "--input", str(folder), "--format", "csv",
                 "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip()
    assert "Parquet dataset" in err and len(err.splitlines()) == 1


def test_a_renamed_partition_is_a_new_input(tmp_path):
    from recsft.data.prepare import input_digest

    folder = tmp_path / "dataset"
    (folder / "event_type=view").mkdir(parents=True)
    pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "timestamp": [1]}).to_parquet(
        folder / "event_type=view" / "part-0.parquet", index=False)
    before = input_digest(folder)
    (folder / "event_type=view").rename(folder / "event_type=buy")
    assert input_digest(folder) != before
