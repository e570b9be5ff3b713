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


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path / "served"``, stopped after the
    test; ``server.requests`` lists the paths asked for."""
    import functools
    import http.server
    import threading
    import types

    served = tmp_path / "served"
    served.mkdir()
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield types.SimpleNamespace(folder=served, requests=asked,
                                    url=f"http://127.0.0.1:{httpd.server_port}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _register(monkeypatch, *remote, events_file="events.txt"):
    spec = registry.DatasetSpec(name="tiny", description="test", events_file=events_file,
                                format="sasrec", remote=tuple(remote), homepage="-",
                                license="-")
    monkeypatch.setitem(REGISTRY, "tiny", spec)
    return spec


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


EVENTS = b"1 10\n1 11\n2 10\n"


def test_download_checks_the_pinned_digest_and_happens_once(tmp_path, server, monkeypatch):
    (server.folder / "events.txt").write_bytes(EVENTS)
    _register(monkeypatch, registry.RemoteFile(f"{server.url}/events.txt", "events.txt",
                                               _sha256(EVENTS)))
    cache = tmp_path / "cache"
    events = locate("tiny", cache_dir=cache, progressbar=False)
    assert events == cache / "tiny" / "events.txt" and events.read_bytes() == EVENTS
    assert load_named_dataset("tiny", cache_dir=cache).stats() == {
        "users": 2, "items": 2, "interactions": 3}
    assert server.requests == ["/events.txt"]  # found in the cache the second time
    assert sorted(p.name for p in (cache / "tiny").iterdir()) == ["events.txt"]


def test_an_unpinned_download_prints_its_digest(tmp_path, server, monkeypatch, capsys):
    (server.folder / "events.txt").write_bytes(EVENTS)
    _register(monkeypatch, registry.RemoteFile(f"{server.url}/events.txt", "events.txt"))
    locate("tiny", cache_dir=tmp_path / "cache", progressbar=False)
    assert f"events.txt: sha256 {_sha256(EVENTS)} (not pinned" in capsys.readouterr().out


def test_checksum_mismatch_keeps_nothing(tmp_path, server, monkeypatch):
    (server.folder / "events.txt").write_bytes(b"not the real file")
    _register(monkeypatch, registry.RemoteFile(f"{server.url}/events.txt", "events.txt",
                                               _sha256(EVENTS)))
    with pytest.raises(DatasetNotAvailable, match=r"^http://127.0.0.1:\d+/events.txt: the "
                                                  r"SHA-256 of the download does not match the "
                                                  "pinned"):
        locate("tiny", cache_dir=tmp_path, progressbar=False)
    assert not (tmp_path / "tiny").exists()


def test_offline_download_gives_one_clear_line(tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    url = f"http://127.0.0.1:{port}/events.txt"
    _register(monkeypatch, registry.RemoteFile(url, "events.txt"))
    with pytest.raises(DatasetNotAvailable) as raised:
        locate("tiny", cache_dir=tmp_path, progressbar=False)
    message = str(raised.value)
    assert message.startswith(f"cannot download dataset 'tiny' from {url} (ConnectionError")
    assert message.endswith("without internet, download it elsewhere and put its files in "
                            "$RECSFT_DATA_DIR/tiny/ or pass their folder as data.path (--path)")
    assert "\n" not in message
    assert not (tmp_path / "tiny").exists()  # nothing half-written, no empty folder left


def test_a_zip_is_unpacked_whole(tmp_path, server, monkeypatch):
    import zipfile

    with zipfile.ZipFile(server.folder / "tiny.zip", "w") as archive:
        archive.writestr("tiny/events.txt", EVENTS)
    _register(monkeypatch, registry.RemoteFile(f"{server.url}/tiny.zip", "tiny.zip"),
              events_file="tiny/events.txt")
    events = locate("tiny", cache_dir=tmp_path, progressbar=False)
    assert events.read_bytes() == EVENTS
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["tiny", "tiny.zip"]


def test_local_copies_by_name_under_recsft_data_dir(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "copies" / "amazon-beauty").mkdir(parents=True)
    (tmp_path / "copies" / "amazon-beauty" / "Beauty.txt").write_text("1 10 11 12\n")
    (tmp_path / "copies" / "ml-100k").mkdir()
    monkeypatch.setenv("RECSFT_DATA_DIR",
                       f"{tmp_path / 'elsewhere'}{__import__('os').pathsep}{tmp_path / 'copies'}")
    assert locate("amazon-beauty", cache_dir=tmp_path / "cache") == (
        tmp_path / "copies" / "amazon-beauty" / "Beauty.txt")
    with pytest.raises(DatasetNotAvailable, match=r"copies/ml-100k: no 'ml-100k.inter' for "
                                                  r"dataset 'ml-100k' there \(found through "
                                                  r"\$RECSFT_DATA_DIR\)"):
        locate("ml-100k", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing was downloaded


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
