"""The text-vector cache: a second run encodes nothing, damaged files are not trusted, keys
follow the model and its settings."""

from __future__ import annotations

import numpy as np
import pytest

from recsft.text.cache import default_cache_folder, encode_cached, read_cache_file
from recsft.text.encoder import TextEncoder
from tests.text.checkpoint import tiny_bert

TEXTS = ["glue", "steel pan", "kids story book", "glue", "sand paper roll 80 grit"]


class CountingEncoder(TextEncoder):
    """The real encoder, counting the texts it runs on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []

    def encode(self, texts, batch_size=None, desc="encoding texts"):
        self.seen.extend(texts)
        return super().encode(texts, batch_size=batch_size, desc=desc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert"))


def test_second_call_encodes_nothing(folder, tmp_path, capsys):
    encoder = CountingEncoder(folder)
    first = encode_cached(encoder, TEXTS, cache_folder=tmp_path)
    assert (first.encoded, first.cached) == (4, 0)
    assert sorted(encoder.seen) == sorted(set(TEXTS))  # the repeat is encoded once
    assert "text vectors: 4 encoded, 0 from cache" in capsys.readouterr().err
    np.testing.assert_allclose(first.vectors, encoder.encode(TEXTS), atol=1e-6)

    again = CountingEncoder(folder)  # a new run: a fresh encoder of the same checkpoint
    second = encode_cached(again, TEXTS, cache_folder=tmp_path)
    assert (second.encoded, second.cached, again.seen) == (0, 4, [])
    assert "text vectors: 0 encoded, 4 from cache" in capsys.readouterr().err
    np.testing.assert_array_equal(second.vectors, first.vectors)

    third = encode_cached(again, TEXTS + ["water proof tape"], cache_folder=tmp_path)
    assert (third.encoded, third.cached, again.seen) == (1, 4, ["water proof tape"])
    assert len(list(third.folder.glob("*.safetensors"))) == 2
    np.testing.assert_array_equal(third.vectors[:5], first.vectors)


def test_damaged_files_are_ignored_and_replaced(folder, tmp_path, capsys):
    encoder = CountingEncoder(folder)
    first = encode_cached(encoder, TEXTS, cache_folder=tmp_path)
    (path,) = first.folder.glob("*.safetensors")
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00\x00\x80\x7f" * 2  # the last vector's values flipped to +inf / changed
    path.write_bytes(bytes(data))
    capsys.readouterr()
    encoder.seen.clear()
    second = encode_cached(encoder, TEXTS, cache_folder=tmp_path)
    assert (second.encoded, second.ignored) == (4, [path])
    assert "removed the damaged cache file" in capsys.readouterr().err
    np.testing.assert_allclose(second.vectors, first.vectors, atol=1e-6)
    # Rewritten: the same vectors under the same content-addressed name, whole again.
    assert list(second.folder.glob("*.safetensors")) == [path]
    assert read_cache_file(path, encoder.dim) is not None
    assert encode_cached(encoder, TEXTS, cache_folder=tmp_path).encoded == 0


def test_truncated_and_foreign_files_are_ignored(folder, tmp_path):
    encoder = CountingEncoder(folder)
    first = encode_cached(encoder, TEXTS, cache_folder=tmp_path)
    (path,) = first.folder.glob("*.safetensors")
    path.write_bytes(path.read_bytes()[:50])
    (first.folder / "notes.safetensors").write_bytes(b"hello")  # not a name recsft writes
    second = encode_cached(encoder, TEXTS, cache_folder=tmp_path)
    assert second.encoded == 4 and len(second.ignored) == 2
    assert (first.folder / "notes.safetensors").exists()  # left alone


def test_settings_and_weights_change_the_key(folder, tmp_path):
    base = encode_cached(TextEncoder(folder), TEXTS, cache_folder=tmp_path)
    cut = encode_cached(TextEncoder(folder, max_length=3), TEXTS, cache_folder=tmp_path)
    other = encode_cached(TextEncoder(tiny_bert(tmp_path / "other", seed=1)), TEXTS,
                          cache_folder=tmp_path)
    assert cut.encoded == other.encoded == 4
    assert len({base.folder, cut.folder, other.folder}) == 3


def test_default_folder_follows_recsft_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSFT_CACHE", str(tmp_path))
    assert default_cache_folder() == tmp_path / "text"
