import json

import numpy as np
import pytest

from recsft.errors import RecsftError, RunFolderError
from recsft.modeling.transitions import TRANSITIONS_FILE, ItemTransitions, TransitionSettings


def test_counts_successors_by_distance_and_normalises_rows():
    settings = TransitionSettings(order_weights=(1.0, 0.5))
    chain = ItemTransitions.fit([[0, 1, 2], [0, 2], [3, -1, 1]], num_items=4, settings=settings)
    matrix = chain.matrix.toarray()
    # 0 -> 1 (1.0), 0 -> 2 (0.5, distance 2; and 1.0 from the second sequence): 1 / 2.5, 1.5 / 2.5
    np.testing.assert_allclose(matrix[0], [0, 0.4, 0.6, 0], rtol=1e-6)
    np.testing.assert_allclose(matrix[1], [0, 0, 1, 0])
    np.testing.assert_allclose(matrix[2], [0, 0, 0, 0])  # no successor: an empty row
    # The unknown item (-1) is no endpoint; 3 -> 1 at distance 2 still counts.
    np.testing.assert_allclose(matrix[3], [0, 1, 0, 0])
    np.testing.assert_allclose(chain.totals, [2.5, 1.0, 0.0, 0.5])


def test_history_reading_weights_the_newest_items_by_decay():
    chain = ItemTransitions.fit([[0, 1], [1, 2], [2, 3]], num_items=4,
                                settings=TransitionSettings(order_weights=(1.0,), decay=0.5,
                                                            window=2))
    probabilities = chain.next_item_probabilities([[0, 1], [5 - 6, 0, 1, 2], [], [3]])
    # Newest 1 (weight 2/3) -> 2, older 0 (1/3) -> 1.
    np.testing.assert_allclose(probabilities[0], [0, 1 / 3, 2 / 3, 0], rtol=1e-6)
    # Window 2: items 1 and 2 only.
    np.testing.assert_allclose(probabilities[1], [0, 0, 1 / 3, 2 / 3], rtol=1e-6)
    assert probabilities[2].sum() == 0
    assert probabilities[3].sum() == 0  # 3 has no known successor
    assert probabilities.dtype == np.float32 and probabilities.shape == (4, 4)


def test_save_load_round_trip_and_a_clear_error_without_the_file(tmp_path):
    settings = TransitionSettings(order_weights=(1.0, 0.2), decay=0.4, window=5, weight=0.3,
                                  smoothing=10.0, content_weight=2.0, new_item_prior=0.5,
                                  validation=[{"weight": 0.3, "smoothing": 10.0, "ndcg@10": 0.1}])
    chain = ItemTransitions.fit([[0, 1, 2, 1]], num_items=3, settings=settings)
    chain.save(str(tmp_path))
    assert (tmp_path / TRANSITIONS_FILE).exists()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = ItemTransitions.load(str(tmp_path))
    assert loaded.settings == chain.settings and loaded.num_items == 3
    np.testing.assert_allclose(loaded.matrix.toarray(), chain.matrix.toarray())
    np.testing.assert_array_equal(loaded.totals, chain.totals)
    with pytest.raises(FileNotFoundError, match="recsft transitions --run"):
        ItemTransitions.load(str(tmp_path / "elsewhere"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / TRANSITIONS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=f"{TRANSITIONS_FILE}: not an item-transitions file"):
        ItemTransitions.load(str(broken))


@pytest.mark.parametrize("field, value", [("order_weights", ()), ("order_weights", (1, -1)),
                                          ("decay", 0.0), ("window", 0), ("weight", 1.5),
                                          ("smoothing", -1.0), ("temperature", 0.0),
                                          ("content_weight", -0.5),
                                          ("new_item_prior", float("inf"))])
def test_settings_reject_values_outside_their_range(field, value):
    with pytest.raises(ValueError, match=field):
        TransitionSettings(**{field: value})


# ---------------------------------------------------------------------- crafted files on load


def _write(folder, overrides=(), metadata=None, drop=()):
    """A transitions file from a small valid chain, with arrays / header fields replaced."""
    from safetensors.numpy import save_file

    chain = ItemTransitions.fit([[0, 1, 2, 1], [3, 0], [0, 2]], num_items=4,
                                settings=TransitionSettings(order_weights=(1.0,)))
    arrays = {"indptr": chain.matrix.indptr.astype(np.int64),
              "indices": chain.matrix.indices.astype(np.int64),
              "data": chain.matrix.data.astype(np.float32),
              "totals": chain.totals.astype(np.float64)}
    arrays.update(dict(overrides))
    for name in drop:
        del arrays[name]
    header = {"num_items": "4", "settings": json.dumps({"order_weights": [1.0, 0.3]})}
    header.update(metadata or {})
    folder.mkdir(exist_ok=True)
    save_file(arrays, str(folder / TRANSITIONS_FILE), metadata=header)
    return arrays


def test_a_valid_crafted_file_loads(tmp_path):
    arrays = _write(tmp_path)
    # The layout the cases below edit.
    assert arrays["indptr"].tolist() == [0, 2, 3, 4, 5]
    assert arrays["indices"].tolist() == [2, 1, 2, 1, 0]  # SciPy leaves row 0 unsorted
    assert arrays["data"].tolist() == [0.5, 0.5, 1, 1, 1]
    chain = ItemTransitions.load(str(tmp_path))
    assert chain.num_items == 4 and chain.next_item_probabilities([[0]]).shape == (1, 4)


@pytest.mark.parametrize("overrides, message", [
    # The CSR indices are bounds-checked before SciPy sees them (this one segfaulted).
    ({"indices": np.array([1, 2, 10**9, 1, 0])}, "'indices' holds item index 1000000000 at "
                                                 "entry 2, outside the catalogue 0..3"),
    ({"indices": np.array([1, 2, -1, 1, 0])}, "'indices' holds item index -1 at entry 2"),
    ({"indptr": np.array([0, 2, 1, 4, 5])}, "'indptr' decreases at row 1 .2 then 1."),
    ({"indptr": np.array([1, 2, 3, 4, 5])}, "'indptr' must start at 0, got 1"),
    ({"indptr": np.array([0, 2, 3, 4, 4])}, "'indptr' must end at the number of entries 5"),
    ({"indptr": np.array([0, 2, 3, 5])}, "'indptr' has 4 entries, expected num_items . 1 = 5"),
    ({"indptr": np.array([0, 2, 3, 4, 9])}, "'indptr' must end at the number of entries 5"),
    ({"indices": np.array([1, 2, 1, 0], dtype=np.int64)}, "'indices' and 'data' differ"),
    ({"indices": np.array([1, 2, 1, 1, 0], dtype=np.int32)},
     "'indices' has dtype int32, expected int64"),
    ({"data": np.ones(5)}, "'data' has dtype float64, expected float32"),
    ({"indptr": np.array([[0, 2, 3, 4, 5]])}, r"'indptr' has shape \(1, 5\), expected one"),
    ({"data": np.array([0.5, np.nan, 1, 1, 1], dtype=np.float32)},
     "'data' holds nan at entry 1; transition shares are finite and in .0, 1."),
    ({"data": np.array([1.5, -0.5, 1, 1, 1], dtype=np.float32)}, "'data' holds 1.5 at entry 0"),
    ({"totals": np.array([1.3, 1.0, 1.0, np.inf])}, "'totals' holds inf for item 3"),
    ({"totals": np.array([1.3, 1.0, -1.0, 1.0])}, "'totals' holds -1.0 for item 2"),
    ({"totals": np.array([1.3, 1.0, 1.0])}, "'totals' has 3 entries, expected num_items = 4"),
    ({"totals": np.array([1.3, 1.0, 0.0, 1.0])}, "item 2 has 1 successor entries but a "
                                                  "successor count of 0.0"),
    ({"data": np.array([0.5, 0.2, 1, 1, 1], dtype=np.float32)},
     "the transition shares of item 0 sum to 0.7, expected 1"),
])
def test_crafted_arrays_are_refused_naming_the_file(tmp_path, overrides, message):
    overrides = {name: (np.asarray(value, dtype=np.int64)
                        if name in ("indptr", "indices") and np.asarray(value).dtype == np.int_
                        else value) for name, value in overrides.items()}
    _write(tmp_path, overrides)
    with pytest.raises(RunFolderError, match=f"{TRANSITIONS_FILE}: .*{message}") as error:
        ItemTransitions.load(str(tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("metadata, message", [
    ({"num_items": "3"}, "'indptr' has 5 entries, expected num_items . 1 = 4"),
    ({"num_items": "-4"}, "'num_items' must be a non-negative integer, got '-4'"),
    ({"num_items": "4e2"}, "'num_items' must be a non-negative integer"),
    ({"settings": "{"}, "'settings' is not JSON"),
    ({"settings": "[1]"}, "'settings' must be a JSON object, got list"),
    ({"settings": '{"window": "10"}'}, "field 'window' must be an integer, got '10'"),
    ({"settings": '{"smoothing": NaN}'}, "field 'smoothing' must be a finite number, got nan"),
    ({"settings": '{"weight": true}'}, "field 'weight' must be null or a finite number"),
    ({"settings": '{"order_weights": [1, "x"]}'}, "field 'order_weights' must be a list of"),
    ({"settings": '{"validation": [{"ndcg": "high"}]}'}, "field 'validation' must be"),
    ({"settings": '{"decay": 2.0}'}, "'settings' is out of range: decay must be in"),
    ({"settings": '{"content_weight": "2"}'}, "field 'content_weight' must be a finite number"),
    ({"settings": '{"new_item_prior": null}'}, "field 'new_item_prior' must be a finite number"),
    ({"settings": '{"chain": 1}'}, r"'settings' has unknown field\(s\) \['chain'\]"),
])
def test_crafted_headers_are_refused_naming_the_file(tmp_path, metadata, message):
    _write(tmp_path, metadata=metadata)
    with pytest.raises(RunFolderError, match=f"{TRANSITIONS_FILE}: .*{message}"):
        ItemTransitions.load(str(tmp_path))


def test_missing_header_field_or_array_is_refused(tmp_path):
    from safetensors.numpy import save_file

    _write(tmp_path, drop=["totals"])
    with pytest.raises(RunFolderError, match="not an item-transitions file .*no array totals"):
        ItemTransitions.load(str(tmp_path))
    save_file({"indptr": np.zeros(1, dtype=np.int64)}, str(tmp_path / TRANSITIONS_FILE))
    with pytest.raises(RunFolderError, match="no array indices/data/totals"):
        ItemTransitions.load(str(tmp_path))
    save_file(_write(tmp_path), str(tmp_path / TRANSITIONS_FILE), metadata={"num_items": "4"})
    with pytest.raises(RunFolderError, match="header field 'settings' is missing"):
        ItemTransitions.load(str(tmp_path))
    save_file(_write(tmp_path), str(tmp_path / TRANSITIONS_FILE))
    with pytest.raises(RunFolderError, match="'num_items' must be a non-negative integer, got "
                                             "None"):
        ItemTransitions.load(str(tmp_path))


def test_truncated_or_foreign_files_give_one_line(tmp_path):
    _write(tmp_path)
    path = tmp_path / TRANSITIONS_FILE
    whole = path.read_bytes()
    for cut in (len(whole) - 7, 20, 5, 0):
        path.write_bytes(whole[:cut])
        with pytest.raises(RunFolderError, match=f"{TRANSITIONS_FILE}: not an item-transitions "
                                                 f"file written by recsft .not a readable "
                                                 f"safetensors file") as error:
            ItemTransitions.load(str(tmp_path))
        assert "\n" not in str(error.value)
    path.unlink()
    path.mkdir()
    with pytest.raises(RecsftError, match=f"{TRANSITIONS_FILE}: is a folder"):
        ItemTransitions.load(str(tmp_path))


def test_check_items_refuses_another_catalogue(tmp_path):
    chain = ItemTransitions.fit([[0, 1, 2]], num_items=3)
    chain.check_items(3)
    with pytest.raises(RunFolderError, match="run/transitions.safetensors: item transitions "
                                             "over 3 items, but the run's tokenizer has 4"):
        chain.check_items(4, source="run/transitions.safetensors")


def test_save_leaves_no_temporary_file_and_follows_the_umask(tmp_path):
    import os

    ItemTransitions.fit([[0, 1]], num_items=2).save(str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == [TRANSITIONS_FILE]
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / TRANSITIONS_FILE).stat().st_mode & 0o777 == 0o666 & ~mask
