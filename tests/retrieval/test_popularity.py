"""Item popularity tables: ranking, and item_popularity.json checked on load."""

from __future__ import annotations

import json
import os

import pytest

from recsft.errors import RecsftError, RunFolderError
from recsft.retrieval.popularity import POPULARITY_FILE, Popularity


def test_ranks_by_count_ties_in_file_order_and_round_trips(tmp_path):
    popularity = Popularity({"a": 1, "b": 3, "c": 1.0, "d": 0})
    assert popularity.top(3) == [("b", 3.0), ("a", 1.0), ("c", 1.0)]
    assert popularity.top(2, exclude=["b"], keep=lambda i: i != "a") == [("c", 1.0), ("d", 0.0)]
    popularity.save(tmp_path)
    assert os.listdir(tmp_path) == [POPULARITY_FILE]
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / POPULARITY_FILE).stat().st_mode & 0o777 == 0o666 & ~mask
    loaded = Popularity.load(tmp_path)
    assert loaded.item_ids == ("b", "a", "c", "d") and loaded.count("b") == 3.0
    assert Popularity.load(tmp_path / "none") is None


@pytest.mark.parametrize("text, message", [
    ('{"a": 1, "b": NaN}', "popularity of item 'b' must be a non-negative number, got nan"),
    ('{"a": 1, "b": Infinity}', "item 'b' must be a non-negative number, got inf"),
    ('{"a": -2}', "item 'a' must be a non-negative number, got -2"),
    ('{"a": "3"}', "item 'a' must be a non-negative number, got '3'"),
    ('{"a": true}', "item 'a' must be a non-negative number, got True"),
    ('{"a": [1]}', r"item 'a' must be a non-negative number, got \[1\]"),
    ('{"a": 1, "b": 2, "a": 3}', "item 'a' appears twice; expected one count per item"),
    ('[["a", 1]]', "expected a JSON object of item id -> count, got list"),
    ('{"a": 1', "item_popularity.json: cannot read the item popularity .Expecting"),
    ("", "cannot read the item popularity"),
    ("[" * 100_000, "cannot read the item popularity"),
])
def test_crafted_files_are_refused_naming_the_file(tmp_path, text, message):
    (tmp_path / POPULARITY_FILE).write_text(text)
    with pytest.raises(RunFolderError, match=message) as error:
        Popularity.load(tmp_path)
    assert POPULARITY_FILE in str(error.value) and "\n" not in str(error.value)


def test_long_values_are_shortened(tmp_path):
    (tmp_path / POPULARITY_FILE).write_text(json.dumps({"x" * 10_000: "y" * 10_000}))
    with pytest.raises(RunFolderError, match="must be a non-negative number") as error:
        Popularity.load(tmp_path)
    # Bounded apart from the file's own path (whose length depends on the machine).
    assert len(str(error.value).replace(str(tmp_path), "")) < 250


def test_a_folder_in_its_place_is_refused(tmp_path):
    (tmp_path / POPULARITY_FILE).mkdir()
    with pytest.raises(RecsftError, match=f"{POPULARITY_FILE}: is a folder"):
        Popularity.load(tmp_path)


def test_check_ids_against_the_runs_items(tmp_path):
    Popularity({"a": 2, "b": 1}).save(tmp_path)
    loaded = Popularity.load(tmp_path)
    loaded.check_ids(["b", "a"])
    with pytest.raises(RunFolderError, match=f"{tmp_path / POPULARITY_FILE}: the item popularity "
                                             r"\(2 items\) lacks 1 of the run's items, e.g. 'c'"):
        loaded.check_ids(["a", "b", "c"])
    with pytest.raises(RunFolderError, match="^run/x.json: .*lists 1 item.s. the run does not "
                                             "have, e.g. 'b'"):
        loaded.check_ids(["a"], source="run/x.json")
