"""The manifest of a run folder: every file recsft wrote, with its size and SHA-256.

It is written last and atomically, so its presence means the run is complete; loading checks
it, so a file changed, truncated or swapped after the run was written is refused. ``push``
uploads exactly the files it lists (less the local-only ones).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("x")
    >>> manifest = Manifest.build(folder, kind="recsft-index", info={})
    >>> manifest.save(folder); Manifest.load(folder).files["a.txt"]["bytes"]
    1
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsft.errors import RunFolderError
from recsft.fileio import TEMP_PREFIX, atomic_write_text
from recsft.runs.files import CARD, LOCAL_ONLY_DIRS, MANIFEST, UNLISTED_DIRS

FORMAT_VERSION = 1
KINDS = ("recsft-run", "recsft-index")
_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def listable(relative: str) -> bool:
    """Whether a file (path relative to the folder, ``/``-separated) belongs in a manifest.

    Dotfiles and dot-folders (locks, temporary files of atomic writes, ``.env``), the manifest
    itself and resume checkpoints are never listed, nor the model card (``README.md``): it is
    documentation its owner edits, loaded by nothing, uploaded as it is.
    """
    parts = relative.split("/")
    if any(part.startswith(".") or part.startswith(TEMP_PREFIX) for part in parts):
        return False
    return relative not in (MANIFEST, CARD) and parts[0] not in UNLISTED_DIRS


def folder_files(folder: Path) -> list[str]:
    """Regular files under ``folder`` a manifest lists, sorted; symlinks are never followed."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        rel_root = os.path.relpath(root, folder)
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))
        for name in names:
            path = os.path.join(root, name)
            relative = name if rel_root == "." else f"{rel_root}/{name}".replace(os.sep, "/")
            if stat.S_ISREG(os.lstat(path).st_mode) and listable(relative):
                found.append(relative)
    return sorted(found)


@dataclass
class Manifest:
    """What a recsft folder holds.

    Attributes:
        kind: ``"recsft-run"`` or ``"recsft-index"`` (an index built for a run elsewhere).
        files: ``{relative path: {"sha256": hex, "bytes": size}}``.
        info: What the folder is: ``model_type``, ``vocab_size``, ``num_items``,
            ``recsft_version``, ``created`` (and for an index, the run and model digest it was
            built from).
    """

    kind: str
    files: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, folder: str | os.PathLike, kind: str, info: dict[str, Any],
              names: Iterable[str] | None = None) -> Manifest:
        """Hash the files of ``folder`` (all listable ones, or ``names``)."""
        from recsft import __version__

        folder = Path(folder)
        names = folder_files(folder) if names is None else sorted(names)
        files = {name: {"sha256": sha256_file(folder / name),
                        "bytes": (folder / name).stat().st_size} for name in names}
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(kind, files, {"recsft_version": __version__, "created": stamp, **info})

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``recsft_manifest.json`` atomically (the last write of a complete folder)."""
        path = Path(folder) / MANIFEST
        payload = {"format": self.kind, "format_version": FORMAT_VERSION, **self.info,
                   "files": self.files}
        atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike, kind: str | None = None) -> Manifest:
        """Read and validate the manifest of ``folder``.

        Raises:
            RunFolderError: no manifest (an incomplete folder), not JSON, a wrong kind, or a
                malformed entry; the message names the file.
        """
        path = Path(folder) / MANIFEST
        if not path.is_file() or path.is_symlink():
            raise RunFolderError(
                f"{folder}: no {MANIFEST}; the folder is incomplete (a training or build that "
                "did not finish) or was written before recsft kept manifests. If you trust its "
                f"files, record them with 'recsft run seal --run {folder}'")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RunFolderError(f"{path}: not a valid manifest ({err})") from None
        if not isinstance(raw, dict) or raw.get("format") not in KINDS:
            raise RunFolderError(f"{path}: field 'format' must be one of {', '.join(KINDS)}")
        if kind is not None and raw["format"] != kind:
            raise RunFolderError(f"{path}: a {raw['format']} folder; expected a {kind} folder")
        if raw.get("format_version") != FORMAT_VERSION:
            raise RunFolderError(f"{path}: field 'format_version' must be {FORMAT_VERSION}")
        files = raw.pop("files", None)
        if not isinstance(files, dict):
            raise RunFolderError(f"{path}: field 'files' must be an object")
        for name, entry in files.items():
            if (not isinstance(name, str) or not listable(name) or ".." in name.split("/")
                    or name.startswith("/")):
                raise RunFolderError(f"{path}: file entry {name!r} is not a plain relative path")
            if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                    or not isinstance(entry.get("bytes"), int)):
                raise RunFolderError(f"{path}: entry {name!r} needs 'sha256' (text) and "
                                     "'bytes' (integer)")
        kind_name = raw.pop("format")
        raw.pop("format_version")
        return cls(kind_name, files, raw)

    def check_file(self, folder: str | os.PathLike, name: str) -> Path:
        """Check one listed file against its recorded size and digest.

        Raises:
            RunFolderError: not listed, missing, not a regular file (a symlink included), or
                its size / SHA-256 differs.
        """
        path = Path(folder) / name
        entry = self.files.get(name)
        if entry is None:
            raise RunFolderError(f"{path}: not listed in {MANIFEST}; it was not written with "
                                 "this run")
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise RunFolderError(f"{path}: missing, but listed in {MANIFEST}") from None
        if not stat.S_ISREG(info.st_mode):
            raise RunFolderError(f"{path}: not a regular file (a symlink or special file)")
        if info.st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise RunFolderError(
                f"{path}: differs from the file recorded in {MANIFEST} (changed, truncated or "
                "replaced after the run was written)")
        return path

    def check_all(self, folder: str | os.PathLike) -> None:
        """:meth:`check_file` for every listed file present; local-only files (the saved
        events, never pushed) may be absent from a downloaded copy."""
        for name in self.files:
            if self.local_only(name) and not os.path.lexists(Path(folder) / name):
                continue
            self.check_file(folder, name)

    @staticmethod
    def local_only(name: str) -> bool:
        """Whether a listed file stays on the machine that wrote it (not pushed)."""
        return name.split("/")[0] in LOCAL_ONLY_DIRS

    def pushable(self) -> list[str]:
        """Listed files that may go to a hub (not the local-only data)."""
        return [name for name in self.files if not self.local_only(name)]
