"""recsft.fileio: atomic writes with the umask's mode, folder swaps, regular-file checks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from recsft.errors import RecsftError
from recsft.fileio import (
    atomic_save,
    atomic_write_text,
    atomic_writer,
    linked_copy,
    require_regular_file,
    swap_in,
    temporary_folder,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_folders_follow_the_umask(tmp_path, umask_022):
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_save(tmp_path / "b.bin", lambda tmp: Path(tmp).write_bytes(b"1"))
    work = temporary_folder(tmp_path, "run")
    assert mode(tmp_path / "a.txt") == 0o644
    assert mode(tmp_path / "b.bin") == 0o644
    assert mode(work) == 0o755
    os.umask(0o077)
    atomic_write_text(tmp_path / "c.txt", "x")
    assert mode(tmp_path / "c.txt") == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target) as out:
        out.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_swap_in_replaces_a_folder_whole(tmp_path):
    final, work = tmp_path / "final", tmp_path / "work"
    final.mkdir()
    work.mkdir()
    (final / "x").write_text("old")
    (work / "x").write_text("new")
    swap_in(work, final)
    assert (final / "x").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["final"]


def test_linked_copy_shares_files_and_never_follows_symlinks(tmp_path):
    source, target = tmp_path / "s", tmp_path / "t"
    (source / "sub").mkdir(parents=True)
    (source / "a").write_text("A")
    (source / "sub" / "b").write_text("B")
    outside = tmp_path / "secret"
    outside.write_text("S")
    os.symlink(outside, source / "link")
    target.mkdir()
    linked_copy(source, target)
    assert (target / "sub" / "b").read_text() == "B"
    assert os.stat(target / "a").st_ino == os.stat(source / "a").st_ino
    assert not (target / "link").exists()
    atomic_write_text(target / "a", "changed")     # replaces the link, not the shared file
    assert (source / "a").read_text() == "A"


@pytest.mark.parametrize("kind", ["folder", "fifo", "device", "missing"])
def test_only_regular_files_are_inputs(tmp_path, kind):
    path = tmp_path / "input"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)
    with pytest.raises(RecsftError, match=str(path)):
        require_regular_file(path, "data file")
