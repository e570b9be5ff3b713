"""One check shared by the files of a run that list item ids: do they list the run's items?

An item index or a popularity table copied from another run (or left by an earlier training of
the same name) would make a run recommend items its model never saw, or miss some of its own:
:func:`check_same_items` refuses it with one line naming the file.

Example:
    >>> check_same_items(["a", "b"], ["b", "a"], "run/item_popularity.json", "item popularity")
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from recsft.errors import RunFolderError, shorten

__all__ = ["check_same_items"]


def check_same_items(found: Iterable[str], expected: Iterable[str],
                     source: str | os.PathLike, what: str, remedy: str = "",
                     ordered: bool = False) -> None:
    """Refuse ``found`` ids unless they are exactly the ``expected`` ones.

    Args:
        found: The ids a file lists.
        expected: The run's item ids (its tokenizer's items, in token order).
        source: The file named in the message.
        what: What the file holds ("the item index", ...).
        remedy: How to fix it, appended to the message ("rebuild it with ...").
        ordered: Also require the same order (an index whose labels are token rows).

    Raises:
        RunFolderError: an id is missing, extra, repeated or (``ordered``) out of place; the
            message gives the counts and one example, shortened.
    """
    found, expected = list(found), list(expected)
    have, want = set(found), set(expected)
    why = ""
    if len(have) != len(found):
        why = f"lists item {shorten(_first_repeat(found))} twice"
    elif have - want:
        extra = next(i for i in found if i not in want)
        why = f"lists {len(have - want)} item(s) the run does not have, e.g. {shorten(extra)}"
    elif want - have:
        missing = next(i for i in expected if i not in have)
        why = f"lacks {len(want - have)} of the run's items, e.g. {shorten(missing)}"
    elif ordered and found != expected:
        at = next(n for n, (a, b) in enumerate(zip(found, expected)) if a != b)
        why = (f"lists the run's items in another order (position {at} holds "
               f"{shorten(found[at])}, the run's tokenizer has {shorten(expected[at])})")
    if why:
        tail = f"; {remedy}" if remedy else ""
        raise RunFolderError(f"{source}: {what} ({len(found)} items) {why}: not from this run "
                             f"({len(expected)} items){tail}")


def _first_repeat(ids: list[str]) -> str:
    """The first id of ``ids`` seen before (``ids`` holds at least one repeat)."""
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            return item
        seen.add(item)
    raise AssertionError("no repeated id")
