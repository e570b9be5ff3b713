"""Events handed in from Python: a pandas DataFrame, a ``datasets.Dataset`` or an EventLog.

They go through the checks the file readers apply (:func:`recsft.data.readers.columns.finish`:
ids become strings, timestamps unix seconds, event types mapped), with the run config's
``data.columns`` (canonical name -> column of the table) and ``data.event_map``, so a DataFrame
read from an event file gives the same events as the file itself.

In-memory data has no path to record, so the event log records its digest instead: its
``source`` is ``<in-memory pandas.DataFrame sha256:...>`` and its read step carries the
``sha256`` of the canonical events (:func:`events_sha256`). Both are written into the run's
``metrics.json`` (``dataset.source``, ``dataset.steps``), so a number stays traceable to the data
it came from.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"visitor": [1, 1], "sku": ["a", "b"], "timestamp": [5, 9]})
    >>> log = events_from_data(frame, columns={"user_id": "visitor", "item_id": "sku"})
    >>> log.frame["user_id"].tolist(), log.source.startswith("<in-memory pandas.DataFrame")
    (['1', '1'], True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.events import CANONICAL_COLUMNS, EventLog, EventLogError
from recsft.errors import RecsftError, shorten

#: How the ``source`` of in-memory events starts (a run config cannot read it back).
MEMORY_SOURCE = "<in-memory "


def is_memory_source(source: object) -> bool:
    """Whether a ``data.source`` names in-memory data (recorded by :func:`events_from_data`)."""
    return isinstance(source, str) and source.startswith(MEMORY_SOURCE)


def events_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the canonical events, independent of the pandas and Arrow versions.

    For each canonical column in order (``user_id``, ``item_id``, ``timestamp``,
    ``event_type``) the digest takes the column's name and row count, then its values: the text
    columns as Arrow ``large_string`` offsets (little-endian int64) and UTF-8 bytes, the
    timestamps as little-endian int64.

    Args:
        frame: A canonical event frame (``EventLog.frame``), ``(n, 4+)``.

    Returns:
        64 hexadecimal digits.
    """
    import pyarrow as pa

    digest = hashlib.sha256()
    for name in CANONICAL_COLUMNS:
        column = frame[name]
        digest.update(f"{name}:{len(column)}\n".encode())
        if name == "timestamp":
            digest.update(np.ascontiguousarray(column.to_numpy(dtype="<i8")).tobytes())
            continue
        values = pa.array(column.astype(str).to_numpy(dtype=object), type=pa.large_string())
        _, offsets, data = values.buffers()
        ends = np.frombuffer(offsets, dtype="<i8", count=len(values) + 1)
        digest.update(ends.tobytes())
        if data is not None:
            digest.update(memoryview(data)[: int(ends[-1])])
    return digest.hexdigest()


def events_from_data(
    data: Any,
    columns: Mapping[str, str] | None = None,
    event_map: Mapping[str, str] | None = None,
    items: pd.DataFrame | None = None,
    timestamp_unit: str = "s",
) -> EventLog:
    """The (uncleaned) event log of in-memory data.

    Args:
        data: A :class:`pandas.DataFrame`, a :class:`datasets.Dataset` (one split: a
            ``DatasetDict`` is refused, pass ``dd["train"]``), a :class:`pyarrow.Table`, or an
            :class:`~recsft.data.events.EventLog` (taken as it is, its digest recorded).
        columns: Canonical name -> column of the table, e.g. ``{"user_id": "visitorid"}``;
            unmapped canonical columns are looked up under their own names, ``event_type`` is
            optional.
        event_map: Source event type -> canonical type (every type in the table must be a key).
        items: An item attribute table with an ``item_id`` column (or ``asin`` / ``itemid``),
            e.g. categories for ``model.use_categories``.
        timestamp_unit: Unit of numeric timestamps: ``s``, ``ms``, ``us`` or ``ns``.

    Returns:
        The validated event log; ``source`` and the read step carry the kind of data and the
        SHA-256 of its canonical events.

    Raises:
        EventLogError: a required or mapped column is missing, or a value is not what the
            readers accept (the message names the column and the row).
        RecsftError: data of another type, a ``DatasetDict``, or a mapping given with an
            EventLog.
    """
    import pyarrow as pa

    kind = _kind(data)
    if isinstance(data, EventLog):
        if columns or event_map:
            raise RecsftError("data: an EventLog already has canonical columns and event types; "
                              "expected no data.columns / data.event_map with it")
        log = EventLog(data.frame, source=data.source,
                       items=data.items if items is None else _items(items, kind),
                       steps=list(data.steps))
        digest = events_sha256(log.frame)
        log.source = f"{MEMORY_SOURCE}EventLog sha256:{digest}>"
        log.steps.append({"name": "in_memory", "params": {"type": "EventLog",
                          "source": data.source, "sha256": digest}, "events": len(log)})
        return log
    if kind == "pandas.DataFrame":
        table = _frame_table(data, kind)
    elif kind == "datasets.Dataset":
        table = data.with_format("arrow")[:]  # the rows as the dataset lists them (indices too)
    elif kind == "pyarrow.Table":
        table = data
    else:
        splits = list(data) if kind == "datasets.DatasetDict" else []
        hint = (f"; pass one split of the DatasetDict, e.g. data['{splits[0]}'] (recsft makes "
                "its own splits)" if splits else "")
        raise RecsftError(f"data: a {kind}{hint}; expected a pandas DataFrame, a "
                          "datasets.Dataset, a pyarrow Table or a recsft EventLog")
    if not isinstance(table, pa.Table):
        raise RecsftError(f"data: a {kind} that does not give an Arrow table")
    return _read_table(table, kind, dict(columns or {}), event_map, items, timestamp_unit)


def _kind(data: Any) -> str:
    """``module.Class`` of the top-level package, e.g. ``pandas.DataFrame``."""
    cls = type(data)
    if isinstance(data, EventLog):
        return "EventLog"
    return f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def _frame_table(frame: pd.DataFrame, kind: str):
    """A DataFrame as an Arrow table, column by column (a column Arrow cannot hold is named)."""
    import pyarrow as pa

    names = [str(name) for name in frame.columns]
    arrays = []
    for position, name in enumerate(names):
        try:
            arrays.append(pa.chunked_array([pa.array(frame.iloc[:, position], from_pandas=True)]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            raise EventLogError(f"<{kind}>", f"cannot read the column ({str(err)[:200]}); "
                                "expected one type of value per column", column=name) from None
    return pa.Table.from_arrays(arrays, names=names) if arrays else pa.table({})


def _read_table(table: Any, kind: str, columns: dict[str, str],
                event_map: Mapping[str, str] | None, items: pd.DataFrame | None,
                unit: str) -> EventLog:
    import pyarrow as pa

    from recsft.data.readers import TIMESTAMP_UNITS
    from recsft.data.readers.columns import Where, finish
    from recsft.data.readers.common import resolve_columns

    where_name = Path(f"<{kind}>")
    unknown = sorted(set(columns) - set(CANONICAL_COLUMNS))
    if unknown:
        raise EventLogError(where_name, f"unknown canonical column(s) {shorten(unknown)} in "
                                        f"data.columns; expected some of {list(CANONICAL_COLUMNS)}")
    if unit not in TIMESTAMP_UNITS:
        raise EventLogError(where_name, f"unknown timestamp_unit {shorten(unit)}; expected one "
                                        f"of {list(TIMESTAMP_UNITS)}")
    names = resolve_columns(where_name, "parquet", list(table.column_names), columns,
                            what="table")
    picked = pa.table({canonical: table[source] for canonical, source in names.items()})
    mapping = dict(event_map) if event_map else None
    where = Where(where_name, names, lambda row: {"row": row + 1},
                  empty="no rows; expected at least one event")
    frame = finish(picked, where, unit, mapping)
    digest = events_sha256(frame)
    step = {"name": "read",
            "params": {"from": kind, "columns": names, "event_map": mapping,
                       "timestamp_unit": unit, "sha256": digest},
            "events": len(frame)}
    return EventLog(frame, source=f"{MEMORY_SOURCE}{kind} sha256:{digest}>",
                    items=None if items is None else _items(items, kind), steps=[step])


def _items(items: Any, kind: str) -> pd.DataFrame:
    """The item table, keyed by a string ``item_id``."""
    from recsft.data.readers.columns import key_items

    if not isinstance(items, pd.DataFrame):
        raise RecsftError(f"items: a {type(items).__name__}; expected a pandas DataFrame with "
                          "an item_id column")
    return key_items(items.reset_index(drop=True), Path(f"<{kind} items>"), None)
