"""Event-file readers: :func:`read_events` and the format-specific readers behind it.

Each reader turns one kind of file into the canonical event frame (``user_id``, ``item_id``,
``timestamp``, ``event_type``; see :mod:`recsft.data.events`) and, where the format has one, an
item attribute table. Tables (CSV, TSV, Parquet, RecBole, MovieLens, RetailRocket, Taobao) are
parsed by :mod:`pyarrow` and validated column-wise, never row by row; line-oriented text formats
(SASRec, S3-Rec, JSON lines that :mod:`pyarrow.json` cannot take) are read line by line.

Modules, one format family each: :mod:`~recsft.data.readers.lines` (files, lines, encodings,
gzip, the input and line-size checks), :mod:`~recsft.data.readers.common` (request, result,
column mapping), :mod:`~recsft.data.readers.columns` (ids, timestamps, event types),
:mod:`~recsft.data.readers.delimited` (CSV, TSV, RetailRocket, Taobao),
:mod:`~recsft.data.readers.parquet`, :mod:`~recsft.data.readers.recbole` (and
:mod:`~recsft.data.readers.recbole_seq`, sequential ``.inter`` files),
:mod:`~recsft.data.readers.movielens`, :mod:`~recsft.data.readers.jsonl` (JSON lines, Amazon),
:mod:`~recsft.data.readers.text` (SASRec, S3-Rec), :mod:`~recsft.data.readers.items` (item
tables) and :mod:`~recsft.data.readers.detect`.

Every bad input raises one :class:`~recsft.data.events.EventLogError` that names the file, the
line (1-based, a header is line 1; for Parquet the row group and row), the column, and what was
expected. Finding the exact line of a bad row costs a second pass over the file, which is only
made when there is an error. Only regular, readable files are opened, and no line longer than
:data:`~recsft.data.readers.lines.MAX_LINE_BYTES` is read whole.

Example:
    >>> from recsft.data.readers import read_events
    >>> log = read_events("clicks.csv", columns={"user_id": "visitor", "item_id": "sku"})
    >>> sequences = log.sequences()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from recsft.data.events import CANONICAL_COLUMNS, FORMATS, EventLog, EventLogError
from recsft.data.readers.columns import MAX_TIMESTAMP, TIMESTAMP_UNITS
from recsft.data.readers.common import (
    DEFAULT_UNITS,
    FIXED_LAYOUT,
    NO_EVENT_TYPES,
    RETAILROCKET_EVENT_MAP,
    TAOBAO_EVENT_MAP,
    ReadRequest,
    ReadResult,
)
from recsft.data.readers.delimited import read_csv_like, read_taobao
from recsft.data.readers.detect import detect_format
from recsft.data.readers.items import read_items
from recsft.data.readers.jsonl import amazon_meta_beside, read_jsonl
from recsft.data.readers.lines import MAX_LINE_BYTES, check_encoding, require_input
from recsft.data.readers.movielens import ML100K_GENRES, movielens_items_beside, read_movielens
from recsft.data.readers.parquet import read_parquet
from recsft.data.readers.recbole import read_recbole, recbole_items_beside
from recsft.data.readers.text import read_text, s3rec_items_beside
from recsft.errors import shorten

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_TIMESTAMP",
    "ML100K_GENRES",
    "RETAILROCKET_EVENT_MAP",
    "TAOBAO_EVENT_MAP",
    "TIMESTAMP_UNITS",
    "ReadRequest",
    "ReadResult",
    "detect_format",
    "read",
    "read_events",
    "read_items",
]

READERS: dict[str, Callable[[ReadRequest, str, str], ReadResult]] = {
    "csv": read_csv_like,
    "tsv": read_csv_like,
    "parquet": read_parquet,
    "jsonl": read_jsonl,
    "sasrec": read_text,
    "s3rec": read_text,
    "recbole": read_recbole,
    "movielens": read_movielens,
    "amazon-reviews": read_jsonl,
    "retailrocket": read_csv_like,
    "taobao": read_taobao,
}
# The item table a format finds beside its events when no items_path is given.
ITEMS_BESIDE: dict[str, Callable[[Path], Path | None]] = {
    "recbole": recbole_items_beside,
    "movielens": movielens_items_beside,
    "amazon-reviews": amazon_meta_beside,
    "s3rec": s3rec_items_beside,
}


def read_events(
    path: str | os.PathLike,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    *,
    event_map: Mapping[str, str] | None = None,
    items_path: str | os.PathLike | None = None,
    encoding: str | None = None,
    timestamp_unit: str | None = None,
) -> EventLog:
    """Read an event log from a file, validate it and record the read as the first step.

    Args:
        path: The event file (text formats may be gzip-compressed, ``.gz``).
        format: ``"auto"`` (from the name and the first line; see :func:`detect_format`) or one
            of :data:`~recsft.data.events.FORMATS`: ``csv``, ``tsv``, ``parquet``, ``jsonl``
            (tables with named columns), ``sasrec`` (``user item`` per line, in time order),
            ``s3rec`` (``user item item ...``), ``recbole`` (``.inter`` atomic file),
            ``movielens`` (``ratings.dat`` or ``u.data``), ``amazon-reviews`` (review JSON
            lines), ``retailrocket`` (``events.csv``), ``taobao`` (``UserBehavior.csv``).
        columns: For formats with named columns (csv, tsv, parquet, jsonl, recbole,
            retailrocket, amazon-reviews): canonical name -> name in the file, e.g.
            ``{"user_id": "visitorid", "item_id": "itemid", "event_type": "event"}``. It
            overrides the format's defaults; unmapped canonical columns are looked up under
            their own names; ``event_type`` is optional.
        event_map: Source event type -> canonical event type (``view``, ``cart``, ``fav``,
            ``buy`` ...). Every type in the file must be a key. ``None`` uses the format's
            default (RetailRocket: view/addtocart/transaction; Taobao: pv/cart/fav/buy) or
            keeps the file's types as they are.
        items_path: An item attribute table (CSV/TSV/Parquet with a header, JSON lines,
            RecBole ``.item``, S3-Rec ``*_item2attributes.json``, ``movies.dat``, ``u.item``),
            read into :attr:`EventLog.items`. ``None`` reads the format's table beside the
            events when present (S3-Rec attributes, RecBole ``.item``, MovieLens movies,
            Amazon ``meta_*.json``; Taobao's category column).
        encoding: Text encoding; ``None`` for utf-8 (latin-1 for MovieLens).
        timestamp_unit: Unit of numeric timestamps: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``;
            ``None`` for the format's (milliseconds for RetailRocket, seconds otherwise).
            Timestamps become int64 unix seconds (rounded down).

    Returns:
        The validated :class:`~recsft.data.events.EventLog`; ``steps[0]`` is ``{"name":
        "read", "params": {"path", "format", "columns", "event_map", "items_path",
        "encoding", "timestamp_unit"}, "events": n}``.

    Raises:
        EventLogError: the file is missing, empty, not a readable regular file, or a
            row/column is not what was expected; the message names the file, the line (or
            Parquet row) and the column.

    Example:
        >>> log = read_events("events.csv")  # doctest: +SKIP
        >>> log.steps[0]["params"]["event_map"]  # RetailRocket: detected from the header
        {'view': 'view', 'addtocart': 'cart', 'transaction': 'buy'}
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise EventLogError(path, f"unknown format {shorten(fmt)}; expected one of "
                                  f"{', '.join(FORMATS)}")
    request = ReadRequest(
        path=Path(path),
        format=fmt,
        columns=dict(columns or {}),
        event_map=dict(event_map) if event_map is not None else None,
        items_path=Path(items_path) if items_path is not None else None,
        encoding=encoding,
        timestamp_unit=timestamp_unit,
    )
    result = read(request)
    step = {
        "name": "read",
        "params": {
            "path": str(path),
            "format": fmt,
            "columns": result.columns,
            "event_map": result.event_map,
            "items_path": result.items_path,
            "encoding": result.encoding,
            "timestamp_unit": result.timestamp_unit,
        },
        "events": len(result.frame),
    }
    return EventLog(result.frame, source=str(path), items=result.items, steps=[step])


def read(request: ReadRequest) -> ReadResult:
    """Read and validate an event file with the reader of ``request.format``.

    Args:
        request: The file, the format and the options.

    Returns:
        The canonical frame, the item table if any, and the settings used.

    Raises:
        EventLogError: the file is missing, empty or not what the format expects.
    """
    path = request.path
    fmt = request.format
    unknown = sorted(set(request.columns) - set(CANONICAL_COLUMNS))
    if unknown:
        raise EventLogError(
            path,
            f"unknown canonical column(s) {shorten(unknown)} in the column mapping; "
            f"expected some of {list(CANONICAL_COLUMNS)}",
        )
    if fmt in FIXED_LAYOUT and request.columns:
        raise EventLogError(
            path,
            f"format '{fmt}' has a fixed layout, so columns= does not apply; expected no "
            "column mapping (it applies to csv, tsv, parquet, jsonl, recbole, retailrocket, "
            "amazon-reviews)",
        )
    if fmt in NO_EVENT_TYPES and request.event_map is not None:
        raise EventLogError(path, f"an event_map was given but format '{fmt}' has no event "
                                  "types; expected event_map=None")
    unit = request.timestamp_unit or DEFAULT_UNITS.get(fmt, "s")
    if unit not in TIMESTAMP_UNITS:
        raise EventLogError(
            path, f"unknown timestamp_unit {shorten(unit)}; expected one of "
                  f"{list(TIMESTAMP_UNITS)}"
        )
    encoding = check_encoding(path, request.encoding or ("latin-1" if fmt == "movielens"
                                                          else "utf-8"))
    require_input(path)
    result = READERS[fmt](request, encoding, unit)
    items_path = request.items_path
    if items_path is None and fmt in ITEMS_BESIDE:
        items_path = ITEMS_BESIDE[fmt](path)
    if items_path is not None:
        item_column = request.columns.get("item_id") or (result.columns or {}).get("item_id")
        result.items = read_items(items_path, item_column=item_column, encoding=request.encoding)
        result.items_path = str(items_path)
    return result
