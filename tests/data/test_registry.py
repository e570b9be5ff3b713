import urllib.error

import pytest

from recsft.data import registry
from recsft.data.registry import (
    REGISTRY,
    DatasetNotAvailable,
    compare_with_published,
    load_named_dataset,
    locate,
)


def test_every_dataset_names_its_source_and_terms():
    expected = {"ml-100k", "ml-1m", "ml-20m", "amazon-beauty", "amazon-sports", "amazon-toys",
                "amazon-beauty-bert4rec", "yelp", "steam", "retailrocket", "taobao"}
    assert expected <= set(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.license and spec.homepage and spec.events_file and spec.format
        assert spec.remote or spec.manual
        for remote in spec.remote:
            assert remote.url.startswith("https://")
            assert remote.sha256 is None or len(remote.sha256) == 64


def test_local_copy_by_folder_or_file(tmp_path):
    (tmp_path / "Beauty.txt").write_text("1 10 11 12\n2 10 12\n")
    log = load_named_dataset("amazon-beauty", path=tmp_path)
    assert log.stats() == {"users": 2, "items": 3, "interactions": 5}
    assert locate("amazon-beauty", tmp_path / "Beauty.txt") == tmp_path / "Beauty.txt"
    with pytest.raises(DatasetNotAvailable, match="no 'Beauty.txt' for dataset 'amazon-beauty'"):
        locate("amazon-beauty", tmp_path / "elsewhere")


def test_offline_download_gives_a_clear_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(registry.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotAvailable, match="without internet, download it elsewhere"):
        locate("ml-100k", cache_dir=tmp_path)
    assert not list((tmp_path / "ml-100k").iterdir())  # nothing half-written


def test_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    import io

    monkeypatch.setattr(registry.urllib.request, "urlopen",
                        lambda *a, **k: io.BytesIO(b"not the real file"))
    with pytest.raises(DatasetNotAvailable, match="does not match the pinned"):
        locate("amazon-beauty-bert4rec", cache_dir=tmp_path)
    assert not list((tmp_path / "amazon-beauty-bert4rec").iterdir())


def test_manual_datasets_explain_themselves(tmp_path):
    with pytest.raises(DatasetNotAvailable, match="must be downloaded by hand"):
        locate("retailrocket", cache_dir=tmp_path)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: .*amazon-beauty"):
        locate("amazon-everything")


def test_published_statistics_comparison():
    assert compare_with_published(
        "ml-100k", {"users": 943, "items": 1682, "interactions": 100000})["matches"]
    assert not compare_with_published(
        "ml-100k", {"users": 943, "items": 1681, "interactions": 100000})["matches"]
    assert compare_with_published("retailrocket", {"users": 1})["matches"] is None


SHARED = {
    "amazon-beauty": "../shared/data/amazon-beauty",
    "amazon-beauty-bert4rec": "../shared/data/amazon-beauty-bert4rec",
    "ml-100k": "../shared/data/ml-100k",
}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_real_copies_reproduce_published_statistics(name):
    import os

    if not os.path.isdir(SHARED[name]):
        pytest.skip("../shared/data not present")
    log = load_named_dataset(name, path=SHARED[name])
    assert compare_with_published(name, log.stats())["matches"]


def test_docs_list_every_named_dataset():
    import pathlib

    doc = pathlib.Path(__file__).parents[2] / "docs" / "datasets.md"
    text = doc.read_text()
    missing = [name for name in REGISTRY if f"`{name}`" not in text]
    assert not missing, f"docs/datasets.md lacks {missing}"
