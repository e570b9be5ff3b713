"""Approximate index kinds, per-search parameters, filters, add/remove and persistence."""

from __future__ import annotations

import numpy as np
import pytest

from recsft.retrieval.index import ItemIndex
from recsft.retrieval.kinds import KINDS, HNSWConfig, IVFPQConfig, index_config

N_ITEMS, DIM, N_QUERIES, K = 3000, 16, 50, 10


def _clustered(seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((32, DIM))
    items = centers[rng.integers(0, 32, N_ITEMS)] + 0.5 * rng.standard_normal((N_ITEMS, DIM))
    queries = centers[rng.integers(0, 32, N_QUERIES)] + 0.5 * rng.standard_normal((N_QUERIES, DIM))
    ids = [f"i{n}" for n in range(N_ITEMS)]
    return items.astype(np.float32), ids, queries.astype(np.float32)


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    items, ids, queries = _clustered()
    _, exact = ItemIndex(items, ids).search(queries, K)
    return items, ids, queries, exact


@pytest.mark.parametrize(("kind", "params", "minimum"), [
    ("hnsw", {}, 0.97),
    ("ivf_flat", {"nlist": 64, "nprobe": 16}, 0.9),
    ("ivf_pq", {"nlist": 16, "nprobe": 16, "pq_m": 8}, 0.5),
])
def test_approximate_kinds_recall(data, kind: str, params: dict, minimum: float) -> None:
    items, ids, queries, exact = data
    index = ItemIndex(items, ids, kind=kind, **params)
    assert index.kind == kind and len(index) == N_ITEMS
    scores, got = index.search(queries, K)
    assert _recall(got, exact) >= minimum
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_ivf_flat_probing_every_cell_is_exact(data) -> None:
    items, ids, queries, exact = data
    index = ItemIndex(items, ids, kind="ivf_flat", nlist=20, nprobe=1)
    _, one_cell = index.search(queries, K)
    _, all_cells = index.search(queries, K, nprobe=20)
    assert all_cells.tolist() == exact.tolist()
    assert _recall(one_cell, exact) < 1.0


def test_hnsw_search_parameter_override(data) -> None:
    items, ids, queries, exact = data
    index = ItemIndex(items, ids, kind="hnsw", m=8, ef_construction=16, ef_search=10)
    _, narrow = index.search(queries, K)
    _, wide = index.search(queries, K, ef_search=400)
    assert _recall(wide, exact) > _recall(narrow, exact)
    assert _recall(wide, exact) > 0.95


def test_unknown_parameters_are_rejected(data) -> None:
    items, ids, queries, _ = data
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['nprobe'\] for index kind "
                                        r"'hnsw'; known: \['m', 'ef_construction', 'ef_search'\]"):
        ItemIndex(items, ids, kind="hnsw", nprobe=3)
    with pytest.raises(ValueError, match="unknown index kind 'annoy'"):
        ItemIndex(items, ids, kind="annoy")
    with pytest.raises(ValueError, match="m must be a positive integer, got 0"):
        index_config("hnsw", m=0)
    flat = ItemIndex(items[:10], ids[:10])
    with pytest.raises(TypeError, match=r"unknown search parameter\(s\) \['ef_search'\] for a "
                                        r"'flat' index; known: none"):
        flat.search(queries, K, ef_search=3)


def test_ivf_needs_enough_vectors_to_train(data) -> None:
    items, ids, _, _ = data
    with pytest.raises(ValueError, match="'ivf_flat' index with 64 cells needs at least 64"):
        ItemIndex(items[:20], ids[:20], kind="ivf_flat", nlist=64)
    with pytest.raises(ValueError, match="pq_m = 5 must divide the dimension 16"):
        ItemIndex(items, ids, kind="ivf_pq", pq_m=5)


def test_default_sizes() -> None:
    assert IVFPQConfig().sub_quantizers(128) == 32 and IVFPQConfig().sub_quantizers(30) == 6
    assert index_config("ivf_flat").cells(1_000_000) == 4000
    # Small catalogues: 39 training vectors per cell at least, one cell at the least.
    assert index_config("ivf_flat").cells(1000) == 25
    assert index_config("ivf_flat").cells(3) == 1
    assert index_config("ivf_flat", nlist=7).cells(3) == 7
    assert [IVFPQConfig().code_bits(n) for n in (77, 78, 1000, 9983, 9984, 10**6)] == [
        0, 1, 4, 7, 8, 8]
    assert IVFPQConfig(nbits=5).code_bits(100) == 5
    assert HNSWConfig().to_dict() == {"m": 32, "ef_construction": 200, "ef_search": 128}
    assert set(KINDS) == {"flat", "hnsw", "ivf_flat", "ivf_pq"}


@pytest.mark.parametrize("kind", ["flat", "ivf_flat"])
def test_filter_matches_brute_force_over_allowed(data, kind: str) -> None:
    items, ids, queries, _ = data
    allowed = ids[::7] + ["not-an-item"]
    params = {"nlist": 8, "nprobe": 8} if kind == "ivf_flat" else {}
    index = ItemIndex(items, ids, kind=kind, **params)
    scores, got = index.search(queries, K, filter=allowed)
    rows = np.arange(0, N_ITEMS, 7)
    reference = queries.astype(np.float64) @ items[rows].astype(np.float64).T
    expected = np.array(ids)[rows][np.argsort(-reference, axis=1, kind="stable")[:, :K]]
    assert got.tolist() == expected.tolist()
    _, none_left = index.search(queries[:2], K, filter=["nothing"])
    assert none_left.tolist() == [[None] * K] * 2
    with pytest.raises(TypeError, match="not a single string"):
        index.search(queries, K, filter="i1")


def test_filter_and_exclude_combine(data) -> None:
    items, ids, queries, _ = data
    index = ItemIndex(items, ids, kind="hnsw")
    allowed = ids[:200]
    _, first = index.search(queries[:1], 3, filter=allowed)
    _, second = index.search(queries[:1], 3, filter=allowed, exclude=[list(first[0, :2])])
    assert set(second[0]) <= set(allowed)
    assert second[0, 0] == first[0, 2]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf_flat", "ivf_pq"])
def test_add_without_rebuild(data, kind: str) -> None:
    items, ids, queries, _ = data
    params = {"nlist": 16, "nprobe": 16} if kind.startswith("ivf") else {}
    index = ItemIndex(items, ids, kind=kind, **params)
    new = queries[:3] * 10.0  # each new item is the best match of its own query
    index.add(new, ["new0", "new1", "new2"])
    assert len(index) == N_ITEMS + 3 and "new1" in index
    _, got = index.search(queries[:3], 1)
    assert got[:, 0].tolist() == ["new0", "new1", "new2"]
    with pytest.raises(ValueError, match="item id 'new0' is already indexed"):
        index.add(new[:1], ["new0"])
    with pytest.raises(ValueError, match="expected dimension 16, got 4"):
        index.add(np.zeros((1, 4), dtype=np.float32), ["x"])
    with pytest.raises(ValueError, match="first bad row is 0"):
        index.add(np.full((1, DIM), np.nan, dtype=np.float32), ["x"])


@pytest.mark.parametrize("kind", ["flat", "ivf_flat"])
def test_remove_without_rebuild(tmp_path, data, kind: str) -> None:
    items, ids, queries, _ = data
    params = {"nlist": 16, "nprobe": 16} if kind == "ivf_flat" else {}
    index = ItemIndex(items, ids, kind=kind, **params)
    _, before = index.search(queries, K)
    gone = sorted({str(i) for i in before[:, 0]})
    assert index.remove(gone) == len(gone)
    assert len(index) == N_ITEMS - len(gone) and gone[0] not in index
    _, after = index.search(queries, K)
    assert not set(after.ravel()) & set(gone)
    assert after[:, 0].tolist() == [
        next(i for i in row if i not in gone) for row in before.tolist()]
    with pytest.raises(KeyError, match="unknown item id 'i-missing'"):
        index.remove(["i-missing"])
    index.save(tmp_path)
    loaded = ItemIndex.load(tmp_path)
    assert loaded.search(queries, K)[1].tolist() == after.tolist()
    assert loaded.item_ids == index.item_ids


def test_hnsw_cannot_remove(data) -> None:
    items, ids, _, _ = data
    index = ItemIndex(items[:100], ids[:100], kind="hnsw")
    with pytest.raises(ValueError, match="cannot remove items in place.*filter="):
        index.remove(["i1"])


@pytest.mark.parametrize("kind", ["hnsw", "ivf_flat", "ivf_pq"])
@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_save_load_keeps_kind_and_results(tmp_path, data, kind: str, metric: str) -> None:
    items, ids, queries, _ = data
    params = {"nlist": 16, "nprobe": 4} if kind.startswith("ivf") else {"ef_search": 40}
    index = ItemIndex(items, ids, metric=metric, kind=kind, **params)
    index.save(tmp_path)
    loaded = ItemIndex.load(tmp_path)
    assert (loaded.kind, loaded.metric, loaded.params) == (kind, metric, index.params)
    s1, i1 = index.search(queries, K, exclude=[ids[:5]] * N_QUERIES)
    s2, i2 = loaded.search(queries, K, exclude=[ids[:5]] * N_QUERIES)
    np.testing.assert_array_equal(s1, s2)
    assert i1.tolist() == i2.tolist()


def test_load_rejects_kind_mismatch(tmp_path, data) -> None:
    import json

    items, ids, _, _ = data
    ItemIndex(items[:50], ids[:50], kind="hnsw").save(tmp_path)
    meta_path = tmp_path / "item_index.json"
    meta = json.loads(meta_path.read_text())
    meta.update(kind="flat", params={})
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="holds a IndexHNSWFlat but .* says kind 'flat'"):
        ItemIndex.load(tmp_path)


# ---------------------------------------------------------------------- crafted files on load


def _ivf_saved(tmp_path, data, remove: tuple[str, ...] = ()):
    import faiss

    items, ids, _, _ = data
    index = ItemIndex(items[:200], ids[:200], kind="ivf_flat", nlist=4, nprobe=4)
    if remove:
        index.remove(list(remove))
    index.save(tmp_path)
    stored = faiss.read_index(str(tmp_path / "item_index.faiss"))
    return stored, faiss.downcast_InvertedLists(stored.invlists)


def _set_stored_label(tmp_path, stored, lists, position: int, label: int) -> None:
    """Overwrite one label an IVF index stores in its first non-empty list, and save it."""
    import faiss

    cell = next(c for c in range(lists.nlist) if lists.list_size(c))
    labels = faiss.rev_swig_ptr(lists.get_ids(cell), lists.list_size(cell))
    labels[position] = label
    faiss.write_index(stored, str(tmp_path / "item_index.faiss"))


@pytest.mark.parametrize("label, message", [
    (10**6, "stores label 1000000, which names no item of the id map .labels 0..199"),
    (-5, "stores label -5, which names no item"),
])
def test_ivf_labels_outside_the_id_map_are_refused(tmp_path, data, label, message) -> None:
    from recsft.errors import RunFolderError

    stored, lists = _ivf_saved(tmp_path, data)
    _set_stored_label(tmp_path, stored, lists, 0, label)
    with pytest.raises(RunFolderError, match=f"FAISS index {tmp_path}/item_index.faiss: "
                                             f"{message}"):
        ItemIndex.load(tmp_path)


def test_ivf_label_of_a_removed_item_or_repeated_is_refused(tmp_path, data) -> None:
    import faiss

    from recsft.errors import RunFolderError

    stored, lists = _ivf_saved(tmp_path, data, remove=("i7",))
    _set_stored_label(tmp_path, stored, lists, 0, 7)  # i7 was removed: its label is null
    with pytest.raises(RunFolderError, match="stores label 7, which names no item"):
        ItemIndex.load(tmp_path)
    cell = next(c for c in range(lists.nlist) if lists.list_size(c) > 1)
    labels = faiss.rev_swig_ptr(lists.get_ids(cell), lists.list_size(cell))
    labels[1] = labels[0] = 3
    faiss.write_index(stored, str(tmp_path / "item_index.faiss"))
    with pytest.raises(RunFolderError, match="stores a label twice"):
        ItemIndex.load(tmp_path)


def test_hnsw_graph_linking_outside_the_index_is_refused(tmp_path, data) -> None:
    import faiss

    from recsft.errors import RunFolderError
    from recsft.retrieval.index_files import _check_hnsw

    items, ids, _, _ = data
    ItemIndex(items[:100], ids[:100], kind="hnsw", m=8).save(tmp_path)
    path = tmp_path / "item_index.faiss"
    stored = faiss.read_index(str(path))
    links = faiss.vector_to_array(stored.hnsw.neighbors)
    links[links >= 0] = 10**8
    faiss.copy_array_to_vector(links, stored.hnsw.neighbors)
    faiss.write_index(stored, str(path))
    with pytest.raises(RunFolderError, match="its HNSW graph links outside its 100 vectors"):
        _check_hnsw(path, stored)  # recsft's own check, for FAISS before 1.12
    # FAISS >= 1.12 refuses it while reading, older ones only at search (a crash): both named.
    with pytest.raises(RunFolderError, match=f"FAISS index {path}: .*(neighbors|HNSW graph)"):
        ItemIndex.load(tmp_path)


def test_check_ids_ignores_removed_labels(tmp_path, data) -> None:
    from recsft.errors import RunFolderError

    _, ids, _, _ = data
    _ivf_saved(tmp_path, data, remove=("i7",))
    loaded = ItemIndex.load(tmp_path)
    loaded.check_ids([i for i in ids[:200] if i != "i7"])
    with pytest.raises(RunFolderError, match="lacks 1 of the run's items, e.g. 'i7'"):
        loaded.check_ids(ids[:200])


def test_parameters_beyond_faiss_ints_and_long_names_are_refused_briefly() -> None:
    with pytest.raises(ValueError, match="nprobe must be at most 2147483647, got 10000"):
        index_config("ivf_flat", nprobe=10**40)
    with pytest.raises(TypeError, match="unknown parameter") as error:
        index_config("flat", **{"p" * 10_000: 1})
    assert len(str(error.value)) < 300
    with pytest.raises(ValueError, match="m must be a positive integer, got 'xxx") as error:
        index_config("hnsw", m="x" * 10_000)
    assert len(str(error.value)) < 300


@pytest.mark.parametrize("n_items", [20, 100, 1000, 3000])
@pytest.mark.parametrize("kind", ["ivf_flat", "ivf_pq"])
def test_defaults_leave_faiss_nothing_to_warn_about(capfd, kind: str, n_items: int) -> None:
    """FAISS's k-means writes "WARNING clustering N points to K centroids" to the C-level
    stderr when a centroid gets fewer than 39 training vectors; the defaults never ask that
    (before, an ivf_pq index over 1,000 items printed 17 of them)."""
    rng = np.random.default_rng(0)
    items = rng.standard_normal((n_items, 32)).astype(np.float32)
    ids = [f"i{n}" for n in range(n_items)]
    capfd.readouterr()
    if kind == "ivf_pq" and n_items < 78:
        with pytest.raises(ValueError, match="needs at least 78 item vectors"):
            ItemIndex(items, ids, kind=kind)
        return
    index = ItemIndex(items, ids, kind=kind)
    captured = capfd.readouterr()
    assert "WARNING" not in captured.err + captured.out
    params = index.params
    assert params["train_size"] >= 39 * params["nlist"] or params["nlist"] == 1
    if kind == "ivf_pq":
        assert params["train_size"] >= 39 * 2 ** params["nbits"]
    # The index built with those sizes answers: k real items per query.
    _, found = index.search(items[:5], 3, nprobe=params["nlist"])
    assert all(item is not None for row in found for item in row)


def test_explicit_sizes_are_used_as_given() -> None:
    items, ids, _ = _clustered()
    index = ItemIndex(items, ids, kind="ivf_pq", nlist=16, nbits=4, pq_m=8)
    assert (index.params["nlist"], index.params["nbits"], index.params["pq_m"]) == (16, 4, 8)
