"""Publish a run on the Hugging Face Hub: exactly the files its manifest lists.

Uploaded: the model, tokenizer, item index and id map, popularity, transitions, metrics, run
config, training log, TensorBoard logs: every file the run's manifest lists, each checked
against its digest first; the manifest itself (so that a downloaded copy is checked the same
way), and the model card. Never uploaded: the run's saved events (``data/``:
datasets have their own terms), resume checkpoints, dotfiles (``.env``, locks), temporary files,
symlinks, and anything else a user put in the folder. ``recsft push --dry-run`` lists them.

Example:
    >>> from recsft.hub import push_to_hub
    >>> push_to_hub("runs/demo", "alice/recsft-demo")             # doctest: +SKIP
    'https://huggingface.co/alice/recsft-demo/commit/...'

A pushed run loads with ``import recsft`` followed by
``AutoModel.from_pretrained("alice/recsft-demo")`` (no ``trust_remote_code``), or with
``Recommender.from_pretrained("alice/recsft-demo")`` (:mod:`recsft.hub.download`).
"""

from __future__ import annotations

import os

from recsft.errors import RecsftError
from recsft.hub.common import HubError, is_repo_id, one_line
from recsft.runs import Run
from recsft.runs.files import CARD, MANIFEST

__all__ = ["HubError", "files_to_push", "push_to_hub"]


def files_to_push(run: Run | str | os.PathLike) -> list[str]:
    """The files :func:`push_to_hub` uploads: the manifest's pushable files, the manifest and
    the model card.

    Raises:
        RunFolderError: a folder given by path is incomplete or a file differs from its manifest
            (:meth:`Run.open` checks them).
    """
    run = run if isinstance(run, Run) else Run.open(run)
    return sorted(set(run.manifest.pushable()) | {CARD, MANIFEST})


def push_to_hub(run: Run | str | os.PathLike, repo_id: str, token: str | None = None,
                private: bool = False, commit_message: str | None = None,
                endpoint: str | None = None) -> str:
    """Upload a run to a Hub model repository, with a model card, in one commit.

    A card is written into the run if it has none; an existing card (a regular file) is
    uploaded as it is.

    Args:
        run: A :class:`~recsft.runs.Run` or run folder.
        repo_id: Target repository, ``user/name`` or ``organization/name``.
        token: Hub token with write access; default: ``HF_TOKEN`` or the saved login.
        private: Create the repository as private. Without it the namespace's default applies
            (public for a user). It does not change the visibility of an existing repository.
        commit_message: Summary of the commit; default ``Upload recsft run <name>``.
        endpoint: Hub address; default: ``HF_ENDPOINT`` at call time, else huggingface.co.

    Returns:
        The URL of the commit.

    Raises:
        RunFolderError: the run is incomplete or altered.
        RecsftError: ``repo_id`` is malformed.
        HubError: the Hub refused a request or could not be reached.
    """
    if isinstance(run, Run):
        run.manifest.check_all(run.path)    # opened earlier: the files may have changed since
    else:
        run = Run.open(run)
    if not is_repo_id(repo_id):
        raise RecsftError(f"repo id '{repo_id}' must look like user/name")
    card = run.path / CARD
    if card.is_symlink() or (card.exists() and not card.is_file()):
        raise RecsftError(f"{card}: not a regular file; the model card is uploaded only as one")
    if not card.exists():
        from recsft.hub.card import write_model_card

        write_model_card(run, repo_id=repo_id)  # its files were just checked
    names = files_to_push(run)
    if commit_message is None:
        commit_message = f"Upload recsft run {run.path.name}"

    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import httpx

    import recsft

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint.rstrip("/") if endpoint else None, token=token,
                library_name="recsft", library_version=recsft.__version__)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(run.path / name))
                  for name in names]
    try:
        api.create_repo(repo_id, private=True if private else None, exist_ok=True)
        commit = api.create_commit(repo_id=repo_id, operations=operations,
                                   commit_message=commit_message)
    except (OSError, httpx.HTTPError) as err:
        raise HubError(f"pushing {run.path} to {api.endpoint}/{repo_id} failed: "
                       f"{one_line(err)}") from err
    return str(commit.commit_url)

