"""Recommendation requests in JSON Lines, one history per line.

Each non-blank line is an object::

    {"user_id": "u1", "history": ["i3", "i7"], "event_types": ["view", "cart"],
     "timestamps": [1700000000, 1700000300], "exclude": ["i9"], "k": 5}

Only ``history`` is required (a list of item ids, oldest first, possibly empty). The whole file
is checked before anything is recommended; the first problem is reported with the file, line
and field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RecommendRequest", "read_requests", "FIELDS"]

FIELDS: tuple[str, ...] = ("user_id", "history", "event_types", "timestamps", "exclude", "k")


@dataclass
class RecommendRequest:
    """One line of a request file.

    Attributes:
        line: 1-based line number in the file.
        history: Item ids, oldest first.
        user_id: Echoed in the answer (any JSON scalar), or ``None``.
        event_types: Parallel event types, or ``None``.
        timestamps: Parallel event times in seconds, or ``None``.
        exclude: Items never to recommend to this user.
        k: Number of recommendations for this line (default: the command's ``--k``).
    """

    line: int
    history: list[str]
    user_id: Any = None
    event_types: list[str] | None = None
    timestamps: list[float] | None = None
    exclude: list[str] = field(default_factory=list)
    k: int | None = None


def _strings(value: Any, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {name!r} must be a list of strings")
    return value


def _parse(obj: Any, where: str, line: int) -> RecommendRequest:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object with a 'history' list, "
                         f"got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known: {list(FIELDS)}")
    if "history" not in obj:
        raise ValueError(f"{where}: missing 'history' (a list of item ids, oldest first)")
    history = _strings(obj["history"], where, "history")
    request = RecommendRequest(line=line, history=history, user_id=obj.get("user_id"))
    if isinstance(request.user_id, (dict, list)):
        raise ValueError(f"{where}: 'user_id' must be a string or number")
    if obj.get("event_types") is not None:
        request.event_types = _strings(obj["event_types"], where, "event_types")
        if len(request.event_types) != len(history):
            raise ValueError(f"{where}: 'event_types' has {len(request.event_types)} entries "
                             f"for a history of {len(history)}")
    if obj.get("timestamps") is not None:
        times = obj["timestamps"]
        if not isinstance(times, list) or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) for t in times):
            raise ValueError(f"{where}: 'timestamps' must be a list of numbers (seconds)")
        if len(times) != len(history):
            raise ValueError(f"{where}: 'timestamps' has {len(times)} entries for a history "
                             f"of {len(history)}")
        request.timestamps = times
    if obj.get("exclude") is not None:
        request.exclude = _strings(obj["exclude"], where, "exclude")
    if obj.get("k") is not None:
        k = obj["k"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{where}: 'k' must be a positive integer, got {k!r}")
        request.k = k
    return request


def read_requests(path: str | os.PathLike[str]) -> list[RecommendRequest]:
    """Read and check every line of a JSONL request file.

    Args:
        path: The file.

    Returns:
        One request per non-blank line, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line is not valid JSON or breaks the schema (the message starts with
            ``path:line``).
    """
    path = os.fspath(path)
    requests = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") \
                    from None
            requests.append(_parse(obj, where, number))
    return requests
