"""Where a training writes, and what it refuses to touch.

The promises (see ``docs/security.md``):

- A run ``name`` is a plain folder name: it never leads out of ``output_dir``.
- A run is built in ``<output_dir>/.<name>.partial/`` and renamed to ``<output_dir>/<name>``
  only when complete (manifest written last). An existing run stays whole until then, and is
  replaced only with ``overwrite``.
- A folder recsft did not create is never replaced or deleted, even with ``overwrite``.
- An interrupted training's checkpoints are never discarded without ``overwrite``: ``resume``
  continues them.
- A lock file (``<output_dir>/.<name>.lock``, ``flock``: released by the kernel when the
  process dies, ``kill -9`` included) makes a second concurrent training of the same run fail at
  once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from recsft.errors import RefusedError
from recsft.fileio import atomic_write_text, make_folder, temporary_folder
from recsft.runs.files import MANIFEST, MODEL_CONFIG, RUN_CONFIG

PARTIAL_MARKER = ".recsft-partial.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def check_run_name(name: object) -> str:
    """A run name must be a plain folder name (no separator, not ``.``/``..``, no leading dot).

    Raises:
        RefusedError: anything else (``../x``, ``/abs``, ``a/b``, empty, a dotfile).
    """
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        from recsft.errors import shorten

        raise RefusedError(f"run name {shorten(name)}: expected a plain folder name (letters, "
                           "digits, '.', '_', '+', '-'; no path separator, not starting with "
                           "'.')")
    return name


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a folder recsft wrote as a run (a manifest, or a run config and a
    model config from a recsft older than manifests)."""
    return path.is_dir() and not path.is_symlink() and (
        (path / MANIFEST).is_file() or ((path / RUN_CONFIG).is_file()
                                        and (path / MODEL_CONFIG).is_file()))


def is_partial_folder(path: Path) -> bool:
    """Whether ``path`` is an interrupted training's work folder (it carries the marker)."""
    return path.is_dir() and not path.is_symlink() and (path / PARTIAL_MARKER).is_file()


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<output_dir>/.<name>.lock``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with RunLock(folder, "demo"):
        ...     pass
    """

    def __init__(self, output_dir: str | os.PathLike, name: str) -> None:
        self.path = Path(output_dir) / f".{name}.lock"
        self._handle: IO | None = None

    def acquire(self) -> RunLock:
        """Take the lock.

        Raises:
            RefusedError: another process holds it (the message gives its pid).
        """
        make_folder(self.path.parent)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RefusedError(f"another training of this run is in progress (pid {holder}; "
                               f"lock {self.path}); wait for it or choose another name") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class RunPlan:
    """Where one training writes.

    Attributes:
        final: ``<output_dir>/<name>``, the folder users read.
        work: ``<output_dir>/.<name>.partial``, built while training, renamed to ``final``.
        resume: Continue the checkpoints in ``work``.
    """

    final: Path
    work: Path
    resume: bool


def plan_run(output_dir: str | os.PathLike, name: str, resume: bool = False,
             overwrite: bool = False, inputs: tuple[str | os.PathLike, ...] = ()) -> RunPlan:
    """Check a training's destination and prepare its work folder (call it holding the lock).

    Args:
        output_dir: Parent of the run folder.
        name: Run name (:func:`check_run_name`).
        resume: Continue an interrupted training of this run.
        overwrite: Replace an existing run (when the new one completes) or discard an
            interrupted training's checkpoints.
        inputs: Paths the training reads (data files): refused if replacing would delete them.

    Returns:
        The plan; ``work`` exists and carries the partial marker.

    Raises:
        RefusedError: the destination is a file or a folder recsft did not create, the run
            exists and ``overwrite`` is not given, an interrupted training would be discarded
            without ``overwrite``, ``resume`` finds nothing to resume, or an input lies inside
            a folder that would be replaced.
    """
    check_run_name(name)
    parent = Path(output_dir)
    if parent.exists() and not parent.is_dir():
        raise RefusedError(f"output_dir {parent}: is a file; expected a folder for run folders")
    final, work = parent / name, parent / f".{name}.partial"
    if final.is_symlink() or (final.exists() and not is_run_folder(final)):
        raise RefusedError(f"{final}: exists and is not a recsft run folder; recsft never "
                           "replaces what it did not create (choose another name or output_dir)")
    if work.is_symlink() or (work.exists() and not is_partial_folder(work)):
        raise RefusedError(f"{work}: exists and was not created by recsft; remove it yourself "
                           "or choose another name")
    for source in inputs:
        for folder in (final, work):
            if folder.exists() and inside(Path(source), folder):
                raise RefusedError(f"{source}: the training's input lies inside {folder}, "
                                   "which this run would replace; move the input first")
    if resume:
        if not is_partial_folder(work):
            where = (f"{final} is complete" if is_run_folder(final) else "none was started")
            raise RefusedError(f"--resume: no interrupted training of run '{name}' to continue "
                               f"({where}); start it without --resume")
        from recsft.fileio import read_json

        marker = read_json(work / PARTIAL_MARKER, "interrupted training's marker", RefusedError)
        if not isinstance(marker, dict):
            raise RefusedError(f"{work / PARTIAL_MARKER}: expected a JSON object; discard the "
                               "interrupted training with --overwrite")
        if final.exists() and not (overwrite or marker.get("overwrite")):
            raise RefusedError(f"{final} exists; resuming would replace it: add --overwrite")
        return RunPlan(final, work, resume=True)
    if final.exists() and not overwrite:
        raise RefusedError(f"{final}: a run of this name exists; add --overwrite to replace it "
                           "once the new run completes (it stays whole until then), or choose "
                           "another name")
    if work.exists():
        if not overwrite:
            raise RefusedError(f"{work}: an interrupted training of run '{name}' left its "
                               "work folder (and any checkpoints) there; continue it with "
                               "--resume, or discard it with --overwrite")
        shutil.rmtree(work)
    # Built aside with its marker, then renamed: a work folder never exists without it.
    fresh = temporary_folder(parent, f"{name}.partial")
    atomic_write_text(fresh / PARTIAL_MARKER,
                      json.dumps({"name": name, "overwrite": overwrite, "pid": os.getpid()}))
    os.replace(fresh, work)
    return RunPlan(final, work, resume=False)


def refuse_inputs_inside(target: Path, inputs: tuple[str | os.PathLike, ...], flag: str) -> None:
    """Refuse an output that is, or holds, one of the command's inputs."""
    for source in inputs:
        if source is not None and Path(source).exists() and inside(Path(source), target):
            raise RefusedError(f"{flag} {target}: holds the input {source}; choose an output "
                               "outside it")


def check_folder_output(path: str | os.PathLike, flag: str, ours: Callable[[Path], bool],
                        what: str, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Check a folder a command will write (and replace if it exists).

    Args:
        path: The folder the user named.
        flag: The option, for messages (``--out``, ``--output``).
        ours: Whether an existing folder is one recsft wrote of this kind.
        what: The kind, for messages ("a prepared dataset").
        inputs: The command's inputs, which must not lie inside it.

    Raises:
        RefusedError: a file, a symlink, a folder recsft did not write, or a folder holding an
            input.
    """
    target = Path(path)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise RefusedError(f"{flag} {target}: exists and is not a folder; expected a new folder "
                           f"or {what} folder written by recsft")
    refuse_inputs_inside(target, inputs, flag)
    if target.exists() and any(target.iterdir()) and not ours(target):
        raise RefusedError(f"{flag} {target}: an existing folder that is not {what} folder "
                           "written by recsft; recsft never replaces what it did not create "
                           "(choose a new folder)")
    return target


def check_file_output(path: str | os.PathLike, flag: str, ours: Callable[[Path], bool],
                      inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Check a file a command will write (atomically, replacing it if it exists).

    Raises:
        RefusedError: a folder or special file, the input itself, or an existing file that is
            not recsft's output of this kind.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        raise RefusedError(f"{flag} {target}: exists and is not a regular file")
    for source in inputs:
        if source is not None and Path(source).exists() and target.exists() \
                and os.path.samefile(source, target):
            raise RefusedError(f"{flag} {target}: is the input; choose another output file")
    if target.exists() and target.stat().st_size and not ours(target):
        raise RefusedError(f"{flag} {target}: an existing file recsft did not write; recsft "
                           "never overwrites it (remove it yourself or choose another name)")
    return target


def check_json_output(path: str | os.PathLike, flag: str) -> None:
    """``--output`` for a JSON result: refuse anything but a new file or recsft's own JSON."""
    check_file_output(path, flag, _recsft_json)


def _recsft_json(path: Path) -> bool:
    """A JSON result recsft wrote: an object with one of its result keys."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(1 << 20)
        value = json.loads(head)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    keys = {"protocol", "metrics", "run_a", "variants", "folds", "time_windows", "records"}
    return isinstance(value, dict) and bool(keys & set(value))
