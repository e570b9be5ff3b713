"""Small helpers shared by the command groups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from recsft.errors import RecsftError


def pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict.

    Raises:
        RecsftError: an argument without ``=``.
    """
    found = {}
    for value in values:
        if "=" not in value:
            raise RecsftError(f"{flag} '{value}' must look like KEY=VALUE")
        key, _, val = value.partition("=")
        found[key.strip()] = val.strip()
    return found


def split_ids(text: str) -> list[str]:
    """Comma-separated ids, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def write_json(result: dict[str, Any], path: str | None) -> None:
    """Write a command's JSON result through a temporary file (nothing half-written)."""
    if path:
        from recsft.fileio import atomic_write_text
        from recsft.runs.guard import check_json_output

        check_json_output(path, "--output")
        atomic_write_text(path, json.dumps(result, indent=2, default=str))
