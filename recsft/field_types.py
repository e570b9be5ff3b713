"""Values read from YAML validated against the type hints of the dataclass fields they fill.

pydantic does the validation (a ``TypeAdapter`` per hint, built on first use and cached; pydantic
is imported only then, so ``import recsft.config`` stays light). The hints are read with these
rules, which suit YAML:

* ``int``, ``bool`` and ``str`` are strict: ``"abc"``, ``2.5`` and ``true`` are not integers,
  ``1`` is not ``true`` and ``5`` is not a string.
* ``float`` accepts an integer (which becomes a float) and a string that spells a number (YAML 1.1
  reads ``1e-3``, without a dot, as a string), but not ``true``/``false``.
* ``list[X]``, ``tuple[X, ...]``, ``dict[K, V]`` and unions are checked member by member;
  ``Any`` takes any value, another class (``datetime.date``) an instance of it (a YAML date or
  date-time, not a string).

Example:
    >>> coerce("1e-3", float)
    0.001
    >>> coerce(2, float | None)
    2.0
    >>> coerce("abc", int)
    Traceback (most recent call last):
    ...
    TypeError: an integer
"""

from __future__ import annotations

import datetime
import functools
import types
import typing
from typing import Any, Literal, Union

_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
          type(None): "null", datetime.date: "a date", datetime.datetime: "a date-time"}
_PLURALS = {bool: "true or false", int: "integers", float: "numbers", str: "strings"}


def coerce(value: Any, hint: Any) -> Any:
    """``value`` validated against ``hint``: as it is, or converted where the hint allows.

    Args:
        value: A value read from YAML.
        hint: A field's type hint (evaluated, as ``typing.get_type_hints`` gives it).

    Returns:
        The validated value: a float for an integer or a numeric string where a float is
        expected, a tuple for a list where a tuple is expected, else an equal value.

    Raises:
        TypeError: the value does not fit; the message says what was expected
            (``"an integer or null"``, :func:`describe`).
    """
    if hint is Any:
        return value
    from pydantic import ValidationError

    try:
        return _adapter(hint).validate_python(value)
    except ValidationError:
        raise TypeError(describe(hint)) from None


@functools.cache
def _adapter(hint: Any) -> Any:
    """The pydantic ``TypeAdapter`` of :func:`pydantic_hint` ``(hint)``, built once per hint."""
    from pydantic import ConfigDict, TypeAdapter

    return TypeAdapter(pydantic_hint(hint), config=ConfigDict(arbitrary_types_allowed=True))


def pydantic_hint(hint: Any) -> Any:
    """``hint`` with the rules of this module spelled as pydantic annotations.

    Args:
        hint: A field's type hint.

    Returns:
        The same type with ``int``, ``bool`` and ``str`` strict, ``float`` refusing booleans
        and other classes taking their instances, at any depth (``list[int]`` ->
        ``list[Annotated[int, Strict()]]``).
    """
    from pydantic import BeforeValidator, InstanceOf, Strict

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return Union[tuple(pydantic_hint(arg) for arg in args)]  # noqa: UP007 (built at run time)
    if origin in (list, tuple, dict) and args:
        converted = tuple(arg if arg is Ellipsis else pydantic_hint(arg) for arg in args)
        return origin[converted if origin is not list else converted[0]]
    if hint is float:
        return typing.Annotated[float, BeforeValidator(_refuse_bool)]
    if hint in (int, bool, str):
        return typing.Annotated[hint, Strict()]
    if isinstance(hint, type) and hint not in (Any, type(None)):
        return InstanceOf[hint]  # a date is a YAML date (or a datetime), not a string
    return hint


def _refuse_bool(value: Any) -> Any:
    """Before pydantic's float validation: ``true`` is not the number 1."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


def describe(hint: Any) -> str:
    """What a value of ``hint`` is, in words, for messages: ``"a list of integers"``.

    Example:
        >>> describe(dict[str, float] | None)
        'a mapping of strings to numbers or null'
    """
    if hint is Any:
        return "any value"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin in (list, tuple) and args:
        return f"a list of {_plural(args[0])}"
    if origin is dict and len(args) == 2:
        return f"a mapping of {_plural(args[0])} to {_plural(args[1])}"
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if hint in _NAMES:
        return _NAMES[hint]
    name = getattr(origin or hint, "__name__", str(hint))
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _plural(hint: Any) -> str:
    if hint in _PLURALS:
        return _PLURALS[hint]
    if hint is Any:
        return "values"
    words = describe(hint)
    return words.split(" ", 1)[1] + "s" if words.startswith(("a ", "an ")) else words
