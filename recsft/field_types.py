"""Values read from YAML checked against the type hints of the dataclass fields they fill.

The cheap way: ``bool``, ``int``, ``float``, ``str``, other classes, ``list[X]`` and unions of
these are checked; other hints (``dict[str, Any]``, ``Any``) are left to the code that reads the
value. A ``bool`` is not an ``int``; an ``int`` is a ``float`` and kept as it is; a string that
spells a number becomes a float where a float is expected (YAML 1.1 reads ``1e-3``, without a
dot, as a string).

Example:
    >>> coerce("1e-3", float)
    0.001
    >>> coerce("abc", int)
    Traceback (most recent call last):
    ...
    TypeError: an integer
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
          type(None): "null"}


def coerce(value: Any, hint: Any) -> Any:
    """``value`` if it fits ``hint``; the float a numeric string spells where a float fits.

    Args:
        value: A value read from YAML.
        hint: A field's type hint (evaluated, as ``typing.get_type_hints`` gives it).

    Returns:
        ``value`` or its float.

    Raises:
        TypeError: the value does not fit; the message says what was expected
            (``"an integer or null"``).
    """
    if not checkable(hint) or matches(value, hint):
        return value
    if isinstance(value, str) and float in _members(hint):
        try:
            return float(value)
        except ValueError:
            pass
    raise TypeError(describe(hint))


def checkable(hint: Any) -> bool:
    """Whether :func:`coerce` checks values of this hint."""
    for member in _members(hint):
        if typing.get_origin(member) is list:
            if not all(checkable(arg) for arg in typing.get_args(member)):
                return False
        elif not isinstance(member, type) or member is dict or typing.get_origin(member):
            return False
    return True


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the (checkable) type ``hint``."""
    for member in _members(hint):
        if typing.get_origin(member) is list:
            (item,) = typing.get_args(member)
            if isinstance(value, list) and all(matches(v, item) for v in value):
                return True
        elif member is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif member is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif isinstance(value, member):
            return True
    return False


def describe(hint: Any) -> str:
    """What a value of ``hint`` is, for messages: ``"a list of integers"``."""
    names = []
    for member in _members(hint):
        if typing.get_origin(member) is list:
            (item,) = typing.get_args(member)
            names.append(f"a list of {describe(item).removeprefix('an ').removeprefix('a ')}s")
        else:
            names.append(_NAMES.get(member, f"a {getattr(member, '__name__', member)}"))
    return " or ".join(names)


def _members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)
