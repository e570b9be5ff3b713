"""The manifest: what it lists, and that it catches a changed, missing or swapped file."""

from __future__ import annotations

import json
import os

import pytest

from recsft.errors import RunFolderError
from recsft.runs.manifest import MANIFEST, Manifest, folder_files


def folder(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "checkpoints" / "step-1").mkdir(parents=True)
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "logs" / "events").write_text("tb")
    (tmp_path / "checkpoints" / "step-1" / "state.json").write_text("{}")
    (tmp_path / ".env").write_text("HF_TOKEN=secret")
    (tmp_path / ".tmp-x-model.safetensors").write_text("half")
    os.symlink("/etc/passwd", tmp_path / "passwd")
    return tmp_path


def test_lists_what_recsft_wrote_and_nothing_else(tmp_path):
    assert folder_files(folder(tmp_path)) == ["logs/events", "model.safetensors"]


def test_round_trip_and_checks(tmp_path):
    path = folder(tmp_path)
    Manifest.build(path, "recsft-run", {"vocab_size": 5}).save(path)
    manifest = Manifest.load(path, kind="recsft-run")
    manifest.check_all(path)
    assert manifest.info["vocab_size"] == 5
    (path / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(RunFolderError, match="model.safetensors: differs"):
        manifest.check_file(path, "model.safetensors")
    os.remove(path / "model.safetensors")
    os.symlink(path / "logs" / "events", path / "model.safetensors")
    with pytest.raises(RunFolderError, match="not a regular file"):
        manifest.check_file(path, "model.safetensors")
    os.remove(path / "model.safetensors")
    with pytest.raises(RunFolderError, match="missing"):
        manifest.check_file(path, "model.safetensors")


def test_no_manifest_means_incomplete(tmp_path):
    with pytest.raises(RunFolderError, match="incomplete"):
        Manifest.load(tmp_path)


@pytest.mark.parametrize("entry", ["../outside", "/etc/passwd", ".env", "checkpoints/x"])
def test_a_crafted_manifest_cannot_name_files_outside_the_run(tmp_path, entry):
    payload = {"format": "recsft-run", "format_version": 1,
               "files": {entry: {"sha256": "0" * 64, "bytes": 1}}}
    (tmp_path / MANIFEST).write_text(json.dumps(payload))
    with pytest.raises(RunFolderError, match="plain relative path"):
        Manifest.load(tmp_path)


def test_wrong_kind_is_refused(tmp_path):
    Manifest.build(tmp_path, "recsft-index", {}).save(tmp_path)
    with pytest.raises(RunFolderError, match="expected a recsft-run"):
        Manifest.load(tmp_path, kind="recsft-run")
