"""Tests for recsft.retrieval.index.ItemIndex against NumPy brute force."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from recsft.errors import RecsftError, RunFolderError
from recsft.retrieval.index import INDEX_FILENAME, METADATA_FILENAME, ItemIndex

N_ITEMS, DIM, N_QUERIES = 40, 8, 6


def _data(seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)
    queries = rng.standard_normal((N_QUERIES, DIM)).astype(np.float32)
    ids = [f"item{i}" for i in range(N_ITEMS)]
    return emb, ids, queries


def _brute_force(
    emb: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    scores = queries.astype(np.float64) @ emb.astype(np.float64).T
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, top, axis=1), top


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_ip_matches_brute_force() -> None:
    emb, ids, queries = _data()
    index = ItemIndex(emb, ids)
    scores, got = index.search(queries, k=5)
    ref_scores, ref_pos = _brute_force(emb, queries, 5)
    assert scores.shape == (N_QUERIES, 5) and scores.dtype == np.float32
    assert got.shape == (N_QUERIES, 5) and got.dtype == object
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    assert got.tolist() == [[ids[p] for p in row] for row in ref_pos]
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_single_query_vector_and_float64_input() -> None:
    emb, ids, queries = _data(1)
    index = ItemIndex(emb.astype(np.float64), ids)
    scores, got = index.search(queries[0].astype(np.float64), k=3)
    ref_scores, ref_pos = _brute_force(emb, queries[:1], 3)
    assert scores.shape == (1, 3)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    assert got[0].tolist() == [ids[p] for p in ref_pos[0]]


def test_cosine_matches_normalised_brute_force() -> None:
    emb, ids, queries = _data(2)
    emb = emb * np.random.default_rng(3).uniform(0.1, 10.0, size=(N_ITEMS, 1)).astype(np.float32)
    index = ItemIndex(emb, ids, metric="cosine")
    scores, got = index.search(queries * 7.0, k=6)
    ref_scores, ref_pos = _brute_force(_normalise(emb), _normalise(queries), 6)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    assert got.tolist() == [[ids[p] for p in row] for row in ref_pos]
    assert np.all(scores <= 1.0 + 1e-5)


def test_exclusion_is_exact() -> None:
    emb, ids, queries = _data(4)
    index = ItemIndex(emb, ids)
    k = 5
    _, unfiltered = index.search(queries, k=k)
    rng = np.random.default_rng(5)
    exclude: list[list[str]] = []
    for q in range(N_QUERIES):
        # Exclude the current top results plus random items and unknown ids.
        chosen = list(unfiltered[q, : q % 4]) + list(rng.choice(ids, size=q, replace=False))
        exclude.append(chosen + ["not-an-item", "another-unknown"])
    scores, got = index.search(queries, k=k, exclude=exclude)

    mask = np.zeros((N_QUERIES, N_ITEMS), dtype=bool)
    for q, excl in enumerate(exclude):
        for item in excl:
            if item in index:
                mask[q, index.position(item)] = True
    ref_scores, ref_pos = _brute_force(emb, queries, k, mask)
    for q in range(N_QUERIES):
        assert not set(got[q]) & set(exclude[q])
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    assert got.tolist() == [[ids[p] for p in row] for row in ref_pos]


def test_exclusion_leaving_too_few_items_pads() -> None:
    emb, ids, queries = _data(6)
    index = ItemIndex(emb[:4], ids[:4])
    scores, got = index.search(queries[:2], k=3, exclude=[ids[:2], []])
    assert got[0, 2] is None and scores[0, 2] == -np.inf
    assert set(got[0, :2]) == set(ids[2:4])
    assert None not in got[1].tolist()


def test_k_larger_than_items_pads_with_minus_inf_and_none() -> None:
    emb, ids, queries = _data(7)
    index = ItemIndex(emb[:3], ids[:3])
    scores, got = index.search(queries, k=5)
    assert scores.shape == (N_QUERIES, 5)
    assert np.all(scores[:, 3:] == -np.inf) and np.all(np.isfinite(scores[:, :3]))
    assert all(x is None for x in got[:, 3:].ravel())
    assert all(isinstance(x, str) for x in got[:, :3].ravel())
    ref_scores, _ = _brute_force(emb[:3], queries, 3)
    np.testing.assert_allclose(scores[:, :3], ref_scores, rtol=1e-5, atol=1e-5)


def test_accessors() -> None:
    emb, ids, _ = _data(8)
    index = ItemIndex(emb, ids, metric="cosine")
    assert len(index) == N_ITEMS and index.dim == DIM
    assert index.item_ids == tuple(ids)
    assert index.metric == "cosine" and index.kind == "flat"
    assert index.position("item7") == 7
    with pytest.raises(KeyError, match="nope"):
        index.position("nope")


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_save_load_round_trip(tmp_path, metric: str) -> None:
    emb, ids, queries = _data(9)
    index = ItemIndex(emb, ids, metric=metric)
    target = tmp_path / "idx"
    index.save(target)
    assert sorted(os.listdir(target)) == sorted([INDEX_FILENAME, METADATA_FILENAME])
    meta = json.loads((target / METADATA_FILENAME).read_text())
    assert meta["metric"] == metric and meta["dim"] == DIM and meta["kind"] == "flat"
    assert meta["item_ids"] == ids and "faiss_version" in meta

    loaded = ItemIndex.load(target)
    assert loaded.item_ids == index.item_ids and loaded.metric == metric
    exclude = [ids[q : q + 3] for q in range(N_QUERIES)]
    s1, i1 = index.search(queries, k=7, exclude=exclude)
    s2, i2 = loaded.search(queries, k=7, exclude=exclude)
    np.testing.assert_array_equal(s1, s2)
    assert i1.tolist() == i2.tolist()

    index.save(target)  # overwrite in place
    assert sorted(os.listdir(target)) == sorted([INDEX_FILENAME, METADATA_FILENAME])


def test_load_detects_inconsistent_files(tmp_path) -> None:
    emb, ids, _ = _data(10)
    ItemIndex(emb, ids).save(tmp_path)
    meta_path = tmp_path / METADATA_FILENAME
    meta = json.loads(meta_path.read_text())
    meta["item_ids"] = ids[:-1]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"item_index\.faiss.*39 item ids"):
        ItemIndex.load(tmp_path)
    (tmp_path / INDEX_FILENAME).unlink()
    with pytest.raises(FileNotFoundError, match=r"item_index\.faiss"):
        ItemIndex.load(tmp_path)


def test_query_wrong_dimension() -> None:
    emb, ids, queries = _data(11)
    index = ItemIndex(emb, ids)
    with pytest.raises(ValueError, match=f"expected dimension {DIM}, got {DIM + 1}"):
        index.search(np.zeros((2, DIM + 1), dtype=np.float32), k=2)


def test_nan_query() -> None:
    emb, ids, queries = _data(12)
    index = ItemIndex(emb, ids)
    queries[3, 1] = np.nan
    with pytest.raises(ValueError, match="queries contains non-finite.*first bad row is 3"):
        index.search(queries, k=2)


def test_bad_k_and_exclude_length() -> None:
    emb, ids, queries = _data(13)
    index = ItemIndex(emb, ids)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.search(queries, k=0)
    with pytest.raises(ValueError, match=f"expected {N_QUERIES} entries, got 1"):
        index.search(queries, k=2, exclude=[["item1"]])
    with pytest.raises(TypeError, match="not a single string"):
        index.search(queries[:1], k=2, exclude=["item1"])


def test_nan_embeddings() -> None:
    emb, ids, _ = _data(14)
    emb[5, 0] = np.inf
    emb[9, 2] = np.nan
    with pytest.raises(ValueError, match="embeddings contains non-finite.*first bad row is 5"):
        ItemIndex(emb, ids)


def test_int_dtype_rejected() -> None:
    _, ids, _ = _data(15)
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        ItemIndex(np.ones((N_ITEMS, DIM), dtype=np.int64), ids)


def test_non_2d_embeddings_rejected() -> None:
    _, ids, _ = _data(15)
    with pytest.raises(ValueError, match="must be 2-D"):
        ItemIndex(np.ones(N_ITEMS, dtype=np.float32), ids)


def test_duplicate_ids() -> None:
    emb, ids, _ = _data(16)
    ids[20] = "item3"
    with pytest.raises(ValueError, match="duplicate id 'item3'"):
        ItemIndex(emb, ids)


def test_mismatched_id_count() -> None:
    emb, ids, _ = _data(17)
    with pytest.raises(ValueError, match=f"got {N_ITEMS - 1} item ids for {N_ITEMS}"):
        ItemIndex(emb, ids[:-1])


def test_unknown_metric() -> None:
    emb, ids, _ = _data(18)
    with pytest.raises(ValueError, match=r"unknown metric 'l2'.*'ip', 'cosine'"):
        ItemIndex(emb, ids, metric="l2")


# ---------------------------------------------------------------------- crafted files on load


def _saved(tmp_path) -> tuple[list[str], dict]:
    emb, ids, _ = _data(11)
    ItemIndex(emb, ids).save(tmp_path)
    return ids, json.loads((tmp_path / METADATA_FILENAME).read_text())


@pytest.mark.parametrize("cut", [0, 5, 40, -4])
def test_truncated_faiss_file_gives_one_line_naming_it(tmp_path, cut: int) -> None:
    _saved(tmp_path)
    path = tmp_path / INDEX_FILENAME
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(RunFolderError, match=f"cannot read FAISS index {path}: .*truncated or "
                                             f"not written by recsft") as error:
        ItemIndex.load(tmp_path)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400


def test_foreign_faiss_file_and_folder_are_refused(tmp_path) -> None:
    _saved(tmp_path)
    path = tmp_path / INDEX_FILENAME
    path.write_bytes(b"IxF2" + b"\xff" * 200)
    with pytest.raises(RunFolderError, match=f"cannot read FAISS index {path}"):
        ItemIndex.load(tmp_path)
    path.unlink()
    path.mkdir()
    with pytest.raises(RecsftError, match=f"{path}: is a folder"):
        ItemIndex.load(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"kind": ["flat"]}, r"unsupported kind \['flat'\]"),
    ({"kind": "annoy"}, "unsupported kind 'annoy'"),
    ({"metric": "l2"}, "unknown metric 'l2'"),
    ({"dim": "8"}, "field 'dim' must be a positive integer, got '8'"),
    ({"dim": True}, "field 'dim' must be a positive integer, got True"),
    ({"dim": 9}, f"has dimension {DIM} but .* says 9"),
    ({"params": [1]}, r"field 'params' must be an object, got \[1\]"),
    ({"params": {"m": 4}}, r"field 'params': unknown parameter\(s\) \['m'\]"),
    ({"format_version": 99}, "field 'format_version' must be an integer up to 2"),
    ({"item_ids": "item0"}, "field 'item_ids' must be a list of strings, got str"),
    ({"item_ids": list(range(N_ITEMS))}, r"item_ids\[0\] is 0"),
    ({"item_ids": [None] + [f"item{i}" for i in range(1, N_ITEMS)]}, r"item_ids\[0\] is None"),
    ({"item_ids": ["item1"] + [f"item{i}" for i in range(1, N_ITEMS)]},
     "item_ids contain duplicates, e.g. 'item1'"),
    ({"item_ids": [f"item{i}" for i in range(N_ITEMS + 1)]},
     f"holds {N_ITEMS} vectors but .* lists {N_ITEMS + 1} item ids"),
])
def test_crafted_metadata_is_refused_naming_the_file(tmp_path, change, message) -> None:
    _, meta = _saved(tmp_path)
    meta.update(change)
    (tmp_path / METADATA_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match=rf"{METADATA_FILENAME}|{INDEX_FILENAME}") as error:
        ItemIndex.load(tmp_path)
    assert re.search(message, str(error.value)), str(error.value)


@pytest.mark.parametrize("text, message", [
    ("", "cannot be read as JSON"), ('{"kind": "flat"', "cannot be read as JSON"),
    ("[1, 2]", "must hold a JSON object, got list"), ("[" * 100000, "cannot be read as JSON"),
    ('{"kind": "flat"}', r"lacks keys \['metric', 'dim', 'item_ids'\]"),
])
def test_unreadable_metadata_is_refused_naming_the_file(tmp_path, text, message) -> None:
    _saved(tmp_path)
    (tmp_path / METADATA_FILENAME).write_text(text)
    with pytest.raises(RunFolderError, match=f"index metadata {tmp_path / METADATA_FILENAME}: "
                                             f"{message}"):
        ItemIndex.load(tmp_path)


def test_long_values_are_shortened_in_messages(tmp_path) -> None:
    ids, meta = _saved(tmp_path)
    long_id = "x" * 10_000
    meta["item_ids"] = [long_id, long_id] + ids[2:]
    (tmp_path / METADATA_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match="duplicates") as error:
        ItemIndex.load(tmp_path)
    assert len(str(error.value)) < 400
    meta.update(item_ids=ids, kind="k" * 10_000)
    (tmp_path / METADATA_FILENAME).write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match="unsupported kind") as error:
        ItemIndex.load(tmp_path)
    assert len(str(error.value)) < 400


def test_check_ids_against_the_runs_items(tmp_path) -> None:
    ids, _ = _saved(tmp_path)
    loaded = ItemIndex.load(tmp_path)
    loaded.check_ids(ids)
    loaded.check_ids(list(reversed(ids)))  # the same items: labels need not follow tokens
    source = str(tmp_path / METADATA_FILENAME)
    with pytest.raises(RunFolderError, match=f"{source}: the item index .40 items. lacks 1 of "
                                             f"the run's items, e.g. 'new'"):
        loaded.check_ids(ids + ["new"])
    with pytest.raises(RunFolderError, match="lists 1 item.s. the run does not have, e.g. "
                                             "'item39'.*rebuild it with 'recsft index build"):
        loaded.check_ids(ids[:-1], source="run/item_index.json")
    with pytest.raises(RunFolderError, match="^item index: "):
        ItemIndex(_data()[0], ids).check_ids(ids[1:])


def test_save_leaves_only_its_two_files_with_the_umask_mode(tmp_path) -> None:
    _saved(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([INDEX_FILENAME, METADATA_FILENAME])
    mask = os.umask(0o022)
    os.umask(mask)
    for name in (INDEX_FILENAME, METADATA_FILENAME):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask
