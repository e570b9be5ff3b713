"""What the Hub modules share: the error of a failed Hub request, the form of a repository id,
and the one-line text of an error."""

from __future__ import annotations

import re

from recsft.errors import RecsftError

__all__ = ["REPO_ID", "HubError", "is_repo_id", "one_line"]

# A Hub model repository id as recsft pushes it: namespace/name.
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class HubError(RecsftError):
    """The Hub refused a request or could not be reached; the original error is chained."""


def is_repo_id(value: str) -> bool:
    """Whether ``value`` is a Hub repository id of the form ``user/name``, by the Hub's rules as
    ``huggingface_hub.utils.validate_repo_id`` checks them (letters, digits, ``-``, ``_``,
    ``.``; no ``--`` or ``..``; no part starting or ending in ``-`` or ``.``; at most 96
    characters).

    Example:
        >>> is_repo_id("alice/recsft-demo"), is_repo_id("runs/a/b"), is_repo_id("a--b/c")
        (True, False, False)
    """
    if not REPO_ID.match(value):
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def one_line(err: BaseException) -> str:
    """The first line of an error, with the Hub's own message when it sent one."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    server = getattr(err, "server_message", None)
    if server and server not in text:
        text += f" ({' '.join(str(server).split())})"
    return text
