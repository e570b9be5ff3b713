"""The RecBole sequential reader and the amazon-scientific registry entry, on tiny files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsft.data.events import EventLogError
from recsft.data.readers import read_events
from recsft.data.registry import (
    DatasetNotAvailable,
    compare_with_published,
    load_named_dataset,
    locate,
    locate_item_table,
)
from recsft.data.split import leave_one_out
from recsft.text.items import read_item_table

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
# Three users; full sequences (indices): u0 = 0 1 2 3 4, u1 = 5 6 2 7, u2 = 1 8 3 9 0 5
TEST = HEADER + "0\t0 1 2 3\t4\n1\t5 6 2\t7\n2\t1 8 3 9 0\t5\n"
VALID = HEADER + "0\t0 1 2\t3\n1\t5 6\t2\n2\t1 8 3 9\t0\n"
ITEMS = "".join(f"ASIN{i:02d}\t{i}\n" for i in range(10))
USERS = "AU0\t0\nAU1\t1\nAU2\t2\n"


def write_release(folder: Path, test: str = TEST, items: str | None = ITEMS,
                  users: str | None = USERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Scientific.test.inter").write_text(test)
    (folder / "Scientific.valid.inter").write_text(VALID)
    if items is not None:
        (folder / "Scientific.item2index").write_text(items)
    if users is not None:
        (folder / "Scientific.user2index").write_text(users)
    (folder / "Scientific.text").write_text(
        "item_id:token\ttext:token_seq\n" + "".join(f"ASIN{i:02d}\tItem {i}. Tools.\n"
                                                     for i in range(10)))
    return folder / "Scientific.test.inter"


def test_sequences_rebuilt_with_original_ids_and_order_only_times(tmp_path):
    log = read_events(write_release(tmp_path))
    assert log.stats() == {"users": 3, "items": 10, "interactions": 15}
    seqs = log.sequences()
    assert seqs.user_ids == ["AU0", "AU1", "AU2"]
    assert seqs.items[1] == ["ASIN05", "ASIN06", "ASIN02", "ASIN07"]
    assert seqs.timestamps[2] == [0, 1, 2, 3, 4, 5]
    assert log.steps[0]["params"]["format"] == "recbole"
    items = read_item_table(tmp_path / "Scientific.text")
    assert set(log.frame["item_id"]) <= set(items["item_id"])


def test_without_maps_the_file_indices_are_kept(tmp_path):
    log = read_events(write_release(tmp_path, items=None, users=None))
    assert log.sequences().items[0] == ["0", "1", "2", "3", "4"]
    assert log.sequences().user_ids == ["0", "1", "2"]


def test_split_equals_the_release_valid_and_test_rows(tmp_path):
    splits = leave_one_out(read_events(write_release(tmp_path)).sequences())
    mapped = {str(i): f"ASIN{i:02d}" for i in range(10)}
    for split, text in ((splits.test, TEST), (splits.valid, VALID)):
        rows = [line.split("\t") for line in text.splitlines()[1:]]
        assert split.targets == [mapped[r[2]] for r in rows]
        assert split.histories == [[mapped[i] for i in r[1].split()] for r in rows]


@pytest.mark.parametrize(("text", "items", "message"), [
    (HEADER + "0\t0 1\n", ITEMS, r"Scientific.test.inter, line 2: expected 3 tab-separated"),
    (HEADER + "0\t0 1\t2 3\n", ITEMS, r"line 2, column 'item_id': expected one target item"),
    (HEADER + "0\t0 1\t2\n0\t0 1 2\t3\n", ITEMS,
     r"line 3, column 'user_id': user '0' also on line 2; expected one row per user"),
    (HEADER + "0\t0 42\t2\n", ITEMS,
     r"line 2, column 'item_id_list': index '42' is not in Scientific.item2index"),
    (HEADER + "\t0 1\t2\n", ITEMS, r"line 2, column 'user_id': empty user"),
    ("user_id:token\titem_id_list:token_seq\n0\t1 2\n", ITEMS,
     r"line 1: header columns \['user_id', 'item_id_list'\]; expected"),
    (HEADER, ITEMS, "no rows after the header"),
    (TEST, "ASIN00\t0\nASIN01\n", r"Scientific.item2index, line 2: expected 2 non-empty"),
    (TEST, "ASIN00\t0\nASIN01\t0\n", r"Scientific.item2index, line 2: index '0' given twice"),
])
def test_malformed_files_give_one_clear_line(tmp_path, text, items, message):
    path = write_release(tmp_path, test=text, items=items)
    with pytest.raises(EventLogError, match=message) as info:
        read_events(path)
    assert "\n" not in str(info.value)


def test_registry_entry_reads_a_local_copy_and_its_item_table(tmp_path, monkeypatch):
    write_release(tmp_path / "amazon-scientific")
    monkeypatch.setenv("RECSFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RECSFT_CACHE", str(tmp_path / "cache"))
    assert load_named_dataset("amazon-scientific").stats()["interactions"] == 15
    assert locate_item_table("amazon-scientific") == tmp_path / "amazon-scientific" / \
        "Scientific.text"
    (tmp_path / "amazon-scientific" / "Scientific.text").unlink()
    with pytest.raises(DatasetNotAvailable, match="no 'Scientific.text'"):
        locate_item_table("amazon-scientific")
    monkeypatch.setenv("RECSFT_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotAvailable, match="must be downloaded by hand: not downloadable"):
        locate("amazon-scientific")
    assert locate_item_table("amazon-beauty") is None  # a dataset without an item table


def test_published_statistics_accept_the_recoverable_interactions():
    full = compare_with_published("amazon-scientific",
                                  {"users": 8442, "items": 4385, "interactions": 59427})
    assert full["matches"] and full["differences"] == {}
    cut = compare_with_published("amazon-scientific",
                                 {"users": 8442, "items": 4385, "interactions": 59384})
    assert cut["matches"] and cut["differences"] == {"interactions": -43}
    assert not compare_with_published(
        "amazon-scientific", {"users": 8442, "items": 4385, "interactions": 59000})["matches"]


def _check_split(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run scripts/check_scientific_split.py on a config naming the release in ``folder``."""
    root = Path(__file__).parents[2]
    config = tmp_path / "run.yaml"
    config.write_text(f"name: sasrec-scientific\ndata:\n  source: amazon-scientific\n  path: "
                      f"{folder}\n")
    return subprocess.run([sys.executable, str(root / "scripts" / "check_scientific_split.py"),
                           str(config)], capture_output=True, text=True, check=False)


def test_check_script_reports_the_split_as_json(tmp_path):
    write_release(tmp_path / "amazon-scientific")
    done = _check_split(tmp_path / "amazon-scientific", tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["split_matches_release"] is True
    assert report["test_vs_release"]["target_mismatches"] == 0
    assert report["split"]["test_users"] == 3


def test_check_script_fails_when_the_release_split_differs(tmp_path):
    write_release(tmp_path / "amazon-scientific")
    (tmp_path / "amazon-scientific" / "Scientific.valid.inter").write_text(
        VALID.replace("0\t0 1 2\t3", "0\t0 1 2\t9"))
    done = _check_split(tmp_path / "amazon-scientific", tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["valid_vs_release"]["target_mismatches"] == 1
