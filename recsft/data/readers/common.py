"""What every reader shares: the request, the result, the formats' defaults and the mapping
from canonical column names to the file's columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recsft.data.events import CANONICAL_COLUMNS, EventLogError
from recsft.data.readers.lines import names_text
from recsft.errors import shorten

#: RetailRocket ``event`` values -> canonical event types.
RETAILROCKET_EVENT_MAP = {"view": "view", "addtocart": "cart", "transaction": "buy"}
#: Taobao UserBehavior ``behavior_type`` values -> canonical event types.
TAOBAO_EVENT_MAP = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "buy"}

# Canonical name -> name in the file, per format; unlisted canonical columns keep their name.
DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "retailrocket": {
        "user_id": "visitorid", "item_id": "itemid", "timestamp": "timestamp",
        "event_type": "event",
    },
    "amazon-reviews": {"user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime"},
}
# Canonical columns a format cannot do without (others are read when present).
REQUIRED = {
    "recbole": ("user_id", "item_id"),
    "retailrocket": CANONICAL_COLUMNS,
}
FIXED_LAYOUT = ("sasrec", "s3rec", "movielens", "taobao")
NO_EVENT_TYPES = ("sasrec", "s3rec", "movielens")
DEFAULT_EVENT_MAPS = {"retailrocket": RETAILROCKET_EVENT_MAP, "taobao": TAOBAO_EVENT_MAP}
DEFAULT_UNITS = {"retailrocket": "ms"}


@dataclass
class ReadRequest:
    """What :func:`~recsft.data.readers.read` is asked to do (``read_events``'s arguments,
    resolved).

    Attributes:
        path: The event file.
        format: One of :data:`~recsft.data.events.FORMATS` (not ``"auto"``).
        columns: Canonical name -> name in the file, as the caller gave it.
        event_map: Source event type -> canonical event type, or ``None`` for the format's
            default map (RetailRocket, Taobao) or none at all.
        items_path: An explicit item attribute table, or ``None`` to look beside the events.
        encoding: Text encoding, or ``None`` for the format's default.
        timestamp_unit: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``, or ``None`` for the format's
            default (milliseconds for RetailRocket, seconds otherwise).
    """

    path: Path
    format: str
    columns: dict[str, str]
    event_map: dict[str, str] | None = None
    items_path: Path | None = None
    encoding: str | None = None
    timestamp_unit: str | None = None


@dataclass
class ReadResult:
    """What a reader produced, and the settings it used (recorded in ``EventLog.steps``).

    Attributes:
        frame: The canonical event frame.
        columns: Canonical name -> the file's column each canonical column came from (``None``
            for the SASRec/S3-Rec text formats, which have no columns).
        event_map: The event map applied, if any.
        items: The item attribute table, if the format has one or one was given.
        items_path: Where ``items`` came from.
        encoding: The text encoding used (``None`` for Parquet).
        timestamp_unit: The unit the file's numeric timestamps were read in (``None`` for
            order-only formats, whose timestamp is the position in the file).
    """

    frame: pd.DataFrame
    columns: dict[str, str] | None
    event_map: dict[str, str] | None = None
    items: pd.DataFrame | None = None
    items_path: str | None = None
    encoding: str | None = "utf-8"
    timestamp_unit: str | None = "s"


def resolve_columns(path: Path, fmt: str, available: list[str], user: Mapping[str, str], *,
                    what: str = "header", **location: Any) -> dict[str, str]:
    """Canonical name -> file column, from the format's defaults and the user's mapping.

    Args:
        path: The file, for errors.
        fmt: The format (its default names and required columns).
        available: The file's column names, in order.
        user: The caller's mapping.
        what: What lists the columns ("header", "schema"), for errors.
        location: Where that list is (``line=1`` for a header), for errors.

    Raises:
        EventLogError: a required or mapped column is missing, or a column to be read appears
            more than once (which one a reader would take is not defined).
    """
    defaults = DEFAULT_COLUMNS.get(fmt, {})
    required = REQUIRED.get(fmt, ("user_id", "item_id", "timestamp"))
    names: dict[str, str] = {}
    for canonical in CANONICAL_COLUMNS:
        source = user.get(canonical, defaults.get(canonical, canonical))
        if source in available:
            names[canonical] = source
        elif canonical in required or canonical in user:
            raise EventLogError(
                path,
                f"missing column '{source}' (for {canonical}); the file has "
                f"{names_text(available)}",
                column=source,
            )
    # A search query rides along when the file has a column of that name (recsft.search).
    if "query" in available and "query" not in names.values():
        names["query"] = "query"
    for source in dict.fromkeys(names.values()):
        check_unique(path, available, source, what, **location)
    return names


def check_unique(path: Path, available: list[str], name: str, what: str = "header",
                 **location: Any) -> None:
    """Refuse a column name that ``available`` holds more than once."""
    positions = [i + 1 for i, column in enumerate(available) if column == name]
    if len(positions) > 1:
        fields = ", ".join(map(str, positions[:-1])) + f" and {positions[-1]}"
        raise EventLogError(
            path,
            f"the {what} has {len(positions)} columns named {shorten(name)} (fields {fields}); "
            "expected each column once",
            column=name,
            **location,
        )


def check_all_unique(path: Path, available: list[str], what: str = "header",
                     **location: Any) -> None:
    """Refuse the first column name that ``available`` holds more than once."""
    seen: set[str] = set()
    for name in available:
        if name in seen:
            check_unique(path, available, name, what, **location)
        seen.add(name)


def event_map(request: ReadRequest, names: Mapping[str, str]) -> dict[str, str] | None:
    """The map to apply: the caller's, else the format's default when it has event types."""
    if request.event_map is not None:
        return dict(request.event_map)
    default = DEFAULT_EVENT_MAPS.get(request.format)
    return dict(default) if default is not None and "event_type" in names else None
