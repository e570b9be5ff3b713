"""Files written as recsft promises: atomically, with the user's umask, never half-written.

One helper for every file recsft writes (:func:`atomic_write`), one for folders built under a
temporary name and swapped in when complete (:func:`temporary_folder`), and the checks applied to
every path a user hands in (:func:`require_regular_file`).

Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> atomic_write_text(os.path.join(folder, "a.txt"), "hello")
    >>> open(os.path.join(folder, "a.txt")).read()
    'hello'
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from recsft.errors import RecsftError

TEMP_PREFIX = ".tmp-"


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new regular file gets under the umask (``0o644`` with the usual ``022``)."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode a new folder gets under the umask (``0o755`` with the usual ``022``)."""
    return 0o777 & ~current_umask()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, binary: bool = False,
                  encoding: str = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` when the block succeeds.

    The file gets the umask's mode (``tempfile.mkstemp`` would give ``0600``) and is flushed
    to disk before the rename, so a crash leaves either the old file or the new one, never a
    mix. On an exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: The final file.
        binary: Open in binary mode.
        encoding: Text encoding when not ``binary``.

    Yields:
        The open file object.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=TEMP_PREFIX,
                                   suffix="-" + path.name)
    try:
        os.fchmod(handle, file_mode())
        with os.fdopen(handle, "wb" if binary else "w",
                       **({} if binary else {"encoding": encoding})) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    with atomic_writer(path) as out:
        out.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_writer(path, binary=True) as out:
        out.write(data)


def atomic_save(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Let ``write(tmp_path)`` write a file (a library's own save), then rename it onto ``path``.

    For writers that take a path rather than a file object (FAISS, safetensors, matplotlib).
    The temporary name keeps ``path``'s suffix, which some writers read.

    Args:
        path: The final file.
        write: Called once with the temporary path.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=TEMP_PREFIX,
                                   suffix="-" + path.name)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def make_folder(path: str | os.PathLike) -> None:
    """``os.makedirs(path, exist_ok=True)`` with the umask's mode."""
    os.makedirs(path, mode=folder_mode(), exist_ok=True)


def temporary_folder(parent: str | os.PathLike, name: str) -> Path:
    """A new empty folder ``parent/.tmp-<name>-XXXX`` with the umask's mode (``mkdtemp`` would
    give ``0700``), to build a result in before :func:`swap_in`."""
    make_folder(parent)
    work = Path(tempfile.mkdtemp(dir=parent, prefix=f"{TEMP_PREFIX}{name}-"))
    os.chmod(work, folder_mode())
    return work


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns:
        ``False`` where the system call is not available (then nothing happened).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # not implemented, or this filesystem cannot exchange
    raise OSError(error, os.strerror(error), os.fspath(a))


def swap_in(work: str | os.PathLike, final: str | os.PathLike) -> None:
    """Replace folder ``final`` by the complete folder ``work``.

    Where the system can, the two are exchanged in one atomic step (``renameat2``), so every
    reader sees either the old folder or the new one, whole. Elsewhere the old folder is
    renamed aside (``.tmp-old-*``), then the new one into place: a crash between the two leaves
    the old folder whole under the aside name. The old folder is removed afterwards.
    """
    work, final = Path(work), Path(final)
    if not final.exists():
        os.replace(work, final)
        return
    if exchange(work, final):
        shutil.rmtree(work, ignore_errors=True)
        return
    aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=f"{TEMP_PREFIX}old-{final.name}-"))
    os.rmdir(aside)
    os.replace(final, aside)
    try:
        os.replace(work, final)
    except BaseException:
        os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def linked_copy(source: str | os.PathLike, target: str | os.PathLike,
                skip: Callable[[str], bool] | None = None) -> None:
    """Copy the tree ``source`` into the existing folder ``target`` with hard links (a copy
    where links are not possible); symlinks are not followed nor copied.

    Files are later replaced through :func:`atomic_writer` (a new inode), never written in
    place, so the linked copy never changes the original.

    Args:
        source: The folder to copy.
        target: An existing empty folder.
        skip: Called with each entry's path relative to ``source``; ``True`` leaves it out.
    """
    source, target = Path(source), Path(target)
    for root, dirs, names in os.walk(source, followlinks=False):
        rel = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()
                   and not (skip and skip(str(rel / d)))]
        for d in dirs:
            os.makedirs(target / rel / d, mode=folder_mode(), exist_ok=True)
        for name in names:
            path = Path(root) / name
            if path.is_symlink() or (skip and skip(str(rel / name))):
                continue
            try:
                os.link(path, target / rel / name)
            except OSError:
                shutil.copy2(path, target / rel / name)


def require_regular_file(path: str | os.PathLike, what: str = "input file") -> Path:
    """Check that ``path`` is an existing regular file (after symlinks) and return it.

    A folder, FIFO, socket or device (``/dev/zero``, ``/dev/stdin``) would make a reader fail
    late, read forever or block: each is refused with a clear message.

    Args:
        path: The path a user gave.
        what: How the message names it ("data file", "config", ...).

    Raises:
        RecsftError: missing, not a regular file, or not readable.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RecsftError(f"{path}: no such {what}") from None
    except PermissionError:
        raise RecsftError(f"{path}: permission denied (the {what} cannot be read)") from None
    except OSError as err:
        raise RecsftError(f"{path}: cannot read the {what} ({err.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise RecsftError(f"{path}: is a folder; expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise RecsftError(f"{path}: is {kind}; expected a regular {what}")
    if not os.access(path, os.R_OK):
        raise RecsftError(f"{path}: permission denied (the {what} cannot be read)")
    return path


def read_json(path: str | os.PathLike, what: str, error: type[RecsftError] = RecsftError,
              **load: object) -> object:
    """Read a JSON file someone handed in: a regular file, decoded, one error line otherwise.

    Args:
        path: The file.
        what: How the message names it ("item popularity file").
        error: The error type raised (a :class:`RecsftError` subclass).
        **load: Passed to :func:`json.load` (``object_pairs_hook``); exceptions the hook raises
            propagate.

    Raises:
        error: not a regular readable file, not UTF-8, not JSON, or nested too deeply.
    """
    import json

    try:
        require_regular_file(path, what)
    except RecsftError as err:
        raise error(str(err)) from None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle, **load)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        reason = " ".join(str(err).split())[:160]
        raise error(f"{path}: cannot read the {what} ({reason})") from None


def cache_root() -> Path:
    """recsft's cache folder: ``$RECSFT_CACHE``, else ``~/.cache/recsft`` (downloaded datasets
    in ``datasets/``, text vectors in ``text/``)."""
    return Path(os.environ.get("RECSFT_CACHE", Path.home() / ".cache" / "recsft"))
