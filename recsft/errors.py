"""The errors recsft anticipates.

Every failure caused by what a user handed in (a data file, a config, a run folder, a request)
is a :class:`RecsftError` whose message names the file, line, column or field and what was
expected. The command line prints it as one line and exits 2; anything else is a bug, reported
as one line with the path of a file holding the traceback, exit 1 (see :mod:`recsft.cli`).

``RecsftError`` subclasses ``ValueError`` so that code catching ``ValueError`` keeps working.
"""

from __future__ import annotations


class RecsftError(ValueError):
    """An anticipated failure with a message meant for the user (one line, names the culprit)."""


class RunFolderError(RecsftError):
    """A run folder that is missing, incomplete, altered, mismatched or unsafe to load."""


class RefusedError(RecsftError):
    """An operation refused because it would delete or overwrite what recsft did not create."""


class ResourceError(RecsftError):
    """A request or input that would exceed a bound (size, memory, count) checked beforehand."""


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages that quote user input.

    A message never prints an unbounded value (a YAML alias bomb expands to gigabytes).

    Args:
        value: Anything.
        limit: Longest result, in characters.

    Returns:
        The representation, ending in ``...`` when it was cut.

    Example:
        >>> shorten("x" * 100, 10)
        "'xxxxxx..."
    """
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} elements>"
    text = repr(value) if not isinstance(value, (list, tuple, dict, set)) else _short_repr(value)
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."


def _short_repr(value: object, budget: int = 200) -> str:
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 3, 40, 40
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6
    return short.repr(value)[:budget]
