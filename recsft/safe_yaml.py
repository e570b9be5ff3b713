"""YAML for configs a user hands in: bounded in size and depth, with no aliases.

PyYAML's ``safe_load`` runs no code, but it expands nothing lazily: a 509-byte file of nested
anchors and aliases (the "billion laughs" shape) is a value of 10⁹ leaves, which any later walk
(a copy, a ``repr`` in an error message, a dump into the run folder) turns into gigabytes. A run
config has no use for aliases, so they are refused where they appear, together with nesting
deeper than :data:`MAX_DEPTH` (PyYAML's composer is recursive) and files larger than
:data:`MAX_BYTES`. Only regular files are read (a FIFO, a device or a folder is refused).

Example:
    >>> parse_yaml("training: {epochs: 3}", "run.yaml")
    {'training': {'epochs': 3}}
    >>> parse_yaml("a: &x [1]\\nb: *x", "run.yaml")
    Traceback (most recent call last):
    ...
    recsft.errors.RecsftError: run.yaml, line 2, column 4: YAML aliases (*x) are not allowed \
here; write the value out
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from recsft.errors import RecsftError, ResourceError, shorten
from recsft.fileio import require_regular_file

#: Largest YAML file read, in bytes (run configs are a few kilobytes).
MAX_BYTES = 1 << 20

#: Deepest nesting of mappings and sequences accepted.
MAX_DEPTH = 64


def _where(source: str, mark: Any) -> str:
    if mark is None:
        return source
    return f"{source}, line {mark.line + 1}, column {mark.column + 1}"


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and nesting deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise RecsftError(f"{_where(self.source, event.start_mark)}: YAML aliases "
                              f"(*{str(event.anchor)[:40]}) are not allowed here; write the value "
                              "out")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise RecsftError(f"{_where(self.source, mark)}: nested deeper than {MAX_DEPTH} "
                                  "levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document with safe types only, no aliases and bounded nesting.

    Args:
        text: The YAML text.
        source: How messages name where the text came from (a path, ``"--set x=1"``).

    Returns:
        The value (``None`` for an empty document).

    Raises:
        RecsftError: invalid YAML, an alias, or nesting deeper than :data:`MAX_DEPTH`; one line
            naming ``source``, the line and the column.
    """
    loader = _BoundedLoader(text, source)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        problem = " ".join(str(err.problem or err.context or "unreadable").split())
        raise RecsftError(f"{_where(source, err.problem_mark or err.context_mark)}: invalid "
                          f"YAML: {problem[:120]}") from None
    except yaml.YAMLError as err:
        raise RecsftError(f"{source}: invalid YAML: {shorten(str(err), 120)}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike, what: str = "config file") -> Any:
    """Read a YAML file as :func:`parse_yaml` does, after checking it is a small regular file.

    Args:
        path: The file a user gave.
        what: How messages name it.

    Returns:
        The value (``None`` for an empty file).

    Raises:
        RecsftError: missing, not a regular file, unreadable, larger than :data:`MAX_BYTES`,
            not UTF-8, or refused by :func:`parse_yaml`.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise RecsftError(f"{path}: {what} not found")
    require_regular_file(path, what)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise RecsftError(f"{path}: cannot read the {what} ({err.strerror})") from None
    if len(data) > MAX_BYTES:
        raise ResourceError(f"{path}: larger than {MAX_BYTES >> 20} MiB; a {what} is a few "
                            "kilobytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecsftError(f"{path}: not UTF-8 text (byte {err.start}); expected a YAML "
                          f"{what}") from None
    return parse_yaml(text, str(path))
