"""A run argument that is a local folder or a Hub repository id, resolved to a local folder.

:func:`resolve_run` is the one place where ``Recommender.from_pretrained``, ``recsft recommend
--run`` and ``recsft evaluate --run`` turn what they were given into a folder that
:meth:`recsft.runs.Run.open` then checks:

- an existing path is returned as it is (nothing is imported from ``huggingface_hub``);
- anything else that looks like a repository id (``user/name``) is downloaded with
  ``huggingface_hub.snapshot_download`` into the Hugging Face cache (``HF_HUB_CACHE``, or
  ``cache_dir``): first the run's manifest (``recsft_manifest.json``), then exactly the files
  it lists (and the model card), never a pickle file (``*.bin``, ``*.pt``, ``*.pth``, ``*.pkl``,
  ``*.pickle``, ``*.ckpt``); files of the repository that the manifest does not list are not
  downloaded;
- the cache keeps its files as symlinks into ``blobs/``, which ``Run.open`` refuses (a symlink
  can point anywhere), so the listed files are hard-linked (copied where links are impossible)
  into ``<cache>/models--user--name/recsft/<commit>/``, a folder of regular files that lives
  and is removed with the repository's cache entry; ``Run.open`` then checks every file
  against the manifest's SHA-256 as for a local run.

A second call finds the commit's files in the cache and downloads nothing: one request resolves
a branch or tag to its commit, none for a commit hash or with ``HF_HUB_OFFLINE=1``.

Example:
    >>> from recsft.hub.download import resolve_run
    >>> resolve_run("runs/demo")                        # doctest: +SKIP
    PosixPath('runs/demo')
    >>> resolve_run("alice/recsft-demo")                # doctest: +SKIP
    PosixPath('/home/me/.cache/huggingface/hub/models--alice--recsft-demo/recsft/8f1c...')
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
from pathlib import Path

from recsft import progress
from recsft.errors import RecsftError, RunFolderError
from recsft.fileio import swap_in, temporary_folder
from recsft.hub.common import HubError, is_repo_id, one_line
from recsft.runs.files import CARD, MANIFEST

__all__ = ["PICKLE_PATTERNS", "is_repo_id", "resolve_run"]

# Files that can run code when loaded: never downloaded, refused when a manifest lists one.
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt")
VIEW_DIR = "recsft"


def resolve_run(run: str | os.PathLike, revision: str | None = None,
                cache_dir: str | os.PathLike | None = None, token: str | bool | None = None,
                endpoint: str | None = None) -> Path:
    """A local folder for a run given as a folder or as a Hub repository id.

    Args:
        run: A run folder, or a Hub model repository id (``user/name``) that ``recsft push``
            wrote. An existing path always wins over a repository of the same name.
        revision: Branch, tag or commit of the repository (default ``main``); only for an id.
        cache_dir: Hugging Face cache folder (default ``HF_HUB_CACHE``).
        token: Hub token for a private repository (default ``HF_TOKEN`` or the saved login).
        endpoint: Hub address (default ``HF_ENDPOINT`` at call time, else huggingface.co).

    Returns:
        The folder to open with :meth:`recsft.runs.Run.open`: ``run`` itself for a local path,
        else a folder of the commit's files in the cache.

    Raises:
        RunFolderError: ``run`` is neither an existing path nor a repository id, the repository
            holds no recsft manifest, its manifest lists a pickle file, or a listed file is
            not in the repository.
        HubError: the repository or revision does not exist, the token is refused, the Hub
            cannot be reached and the cache does not hold the files (one line, the
            ``huggingface_hub`` error chained).
    """
    path = Path(run)
    if path.exists() or path.is_symlink():
        if revision is not None:
            raise RecsftError(f"{path}: a local folder; a revision applies only to a Hub "
                              "repository id")
        return path
    text = os.fspath(run)
    if not is_repo_id(text):
        raise RunFolderError(f"{text}: no such run folder (nor a Hub repository id of the "
                             "form user/name)")
    return _download(text, revision, cache_dir, token, endpoint)


def _download(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None,
              token: str | bool | None, endpoint: str | None) -> Path:
    from huggingface_hub import snapshot_download

    import recsft

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    options = {"repo_type": "model", "cache_dir": cache_dir, "token": token,
               "endpoint": endpoint.rstrip("/") if endpoint else None,
               "library_name": "recsft", "library_version": recsft.__version__,
               "ignore_patterns": list(PICKLE_PATTERNS)}
    where = f"{repo_id}" + (f" (revision {revision})" if revision else "")
    with _hub_errors(repo_id, where, endpoint):
        snapshot = Path(snapshot_download(repo_id, revision=revision,
                                          allow_patterns=[MANIFEST], **options))
    commit = snapshot.name
    storage = snapshot.parent.parent           # <cache>/models--user--name
    view = storage / VIEW_DIR / commit
    if _complete(view):
        return view
    if not (snapshot / MANIFEST).is_file():
        raise RunFolderError(f"{where}: the repository holds no {MANIFEST}; not a run pushed "
                             "by recsft")
    work = temporary_folder(storage / VIEW_DIR, commit)
    try:
        _link(snapshot / MANIFEST, work / MANIFEST, storage)
        names = _listed_files(work, where)
        with _hub_errors(repo_id, where, endpoint):
            snapshot_download(repo_id, revision=commit,
                              allow_patterns=[glob.escape(name) for name in (*names, CARD)],
                              tqdm_class=progress.tqdm_class(), **options)
        missing = [name for name in names if not (snapshot / name).is_file()]
        if missing:
            raise RunFolderError(f"{where}: {MANIFEST} lists {missing[0]}, which the "
                                 f"repository does not hold ({len(missing)} missing); an "
                                 "incomplete upload")
        for name in (*names, CARD):
            if (snapshot / name).is_file():
                _link(snapshot / name, work / name, storage)
        _publish(work, view)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return view


def _listed_files(folder: Path, where: str) -> list[str]:
    """The pushable files the manifest in ``folder`` lists (checked: plain paths, no pickle)."""
    from recsft.runs.manifest import Manifest

    try:
        manifest = Manifest.load(folder, kind="recsft-run")
    except RunFolderError as err:
        raise RunFolderError(f"{where}: {MANIFEST} of the repository: "
                             f"{str(err).split(': ', 1)[-1]}") from None
    names = manifest.pushable()
    for name in names:
        if any(fnmatch.fnmatch(name.lower(), pattern) for pattern in PICKLE_PATTERNS):
            raise RunFolderError(f"{where}: {MANIFEST} lists {name}, a pickle file, which can "
                                 "run code when loaded; recsft loads safetensors only")
    return names


def _link(source: Path, target: Path, storage: Path) -> None:
    """Hard-link the cache's file behind ``source`` to ``target`` (a copy where links fail)."""
    real = Path(os.path.realpath(source))
    if not real.is_relative_to(Path(os.path.realpath(storage))) or not real.is_file():
        raise RunFolderError(f"{source}: not a file of the repository's cache entry")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(real, target)
    except OSError:
        shutil.copyfile(real, target)


def _complete(view: Path) -> bool:
    """Whether a folder built earlier holds its manifest and every file the manifest lists
    (their digests are checked by ``Run.open``)."""
    if not (view / MANIFEST).is_file() or view.is_symlink():
        return False
    from recsft.runs.manifest import Manifest

    try:
        manifest = Manifest.load(view, kind="recsft-run")
    except RunFolderError:
        return False
    return all((view / name).is_file() for name in manifest.pushable())


def _publish(work: Path, view: Path) -> None:
    """Move a complete folder into place; a stale one built by recsft earlier is replaced
    atomically (:func:`recsft.fileio.swap_in`), one built meanwhile by another process kept."""
    if _complete(view):
        return
    try:
        swap_in(work, view)
    except OSError:
        if not _complete(view):     # not a race with another process building it: a failure
            raise


class _hub_errors:  # noqa: N801 (used as a context manager, named like one)
    """Turn what ``huggingface_hub`` raises into one :class:`~recsft.hub.common.HubError`
    line."""

    def __init__(self, repo_id: str, where: str, endpoint: str | None) -> None:
        self.repo_id, self.where, self.endpoint = repo_id, where, endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, trace) -> bool:
        if err is None or isinstance(err, RecsftError) or not isinstance(err, Exception):
            return False
        from huggingface_hub.errors import (
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from huggingface_hub.utils import httpx

        if isinstance(err, RevisionNotFoundError):
            raise HubError(f"{self.where}: no such revision in the repository") from err
        if isinstance(err, RepositoryNotFoundError):
            raise HubError(f"{self.repo_id}: no such run folder, nor a model repository on "
                           f"{self._host()} that this token can read") from err
        if isinstance(err, LocalEntryNotFoundError):
            raise HubError(f"{self.where}: no such run folder; as a Hub repository it is not "
                           "in the Hugging Face cache, and the Hub cannot be reached or "
                           "HF_HUB_OFFLINE is set") from err
        if isinstance(err, (HfHubHTTPError, httpx.HTTPError, OSError)):
            raise HubError(f"downloading {self.where} from {self._host()} failed: "
                           f"{one_line(err)}") from err
        return False

    def _host(self) -> str:
        from huggingface_hub import constants

        return (self.endpoint or constants.ENDPOINT).rstrip("/")
