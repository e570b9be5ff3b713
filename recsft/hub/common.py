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
    """Whether ``value`` has the form of a Hub repository id, ``user/name`` (no ``..``, no
    trailing ``.git``)."""
    return bool(REPO_ID.match(value)) and ".." not in value and not value.endswith(".git")


def one_line(err: BaseException) -> str:
    """The first line of an error, with the Hub's own message when it sent one."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    server = getattr(err, "server_message", None)
    if server and server not in text:
        text += f" ({' '.join(str(server).split())})"
    return text
