"""Parquet event files and item tables.

Parquet has no lines: errors name the row group (0-based) and the row (1-based, counted over
the whole file). Columns are typed, so ids and timestamps go through the checks of
:mod:`recsft.data.readers.columns` (whole float ids read as integers, NaN or fractions refused,
nested list / struct columns refused where a scalar is expected).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsft.data.events import EventLogError
from recsft.data.readers.columns import Where, finish, key_items
from recsft.data.readers.common import ReadRequest, ReadResult, event_map, resolve_columns
from recsft.data.readers.lines import clip, require_input


def open_parquet(path: Path, expected: str = "a Parquet file") -> pq.ParquetFile:
    """``path`` opened as Parquet (nothing read yet); one error line naming ``expected``."""
    require_input(path)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise EventLogError(path, f"cannot read the Parquet file ({clip(str(err))}); expected "
                                  f"{expected}") from err


def read_parquet(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """A Parquet event table with named (or mapped) columns."""
    path = request.path
    handle = open_parquet(path)
    names = resolve_columns(path, "parquet", handle.schema_arrow.names, request.columns,
                            what="schema")
    try:
        table = handle.read(columns=list(dict.fromkeys(names.values())))
    except (pa.ArrowInvalid, OSError) as err:
        raise EventLogError(path, f"cannot read the Parquet file ({clip(str(err))}); expected a "
                                  "Parquet file") from err
    table = pa.table({canonical: table[source] for canonical, source in names.items()})
    sizes = [handle.metadata.row_group(i).num_rows for i in range(handle.num_row_groups)]
    bounds = np.cumsum(sizes)

    def locate(row: int) -> dict[str, int]:
        group = int(np.searchsorted(bounds, row, side="right"))
        return {"row": row + 1, "row_group": group}

    mapping = event_map(request, names)
    where = Where(path, names, locate, empty="the file has no rows; expected at least one event")
    frame = finish(table, where, unit, mapping)
    return ReadResult(frame, names, mapping, encoding=None, timestamp_unit=unit)


def read_parquet_items(path: Path, item_column: str | None) -> pd.DataFrame:
    """A Parquet item table (any columns; nested attribute columns are kept)."""
    require_input(path)
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as err:
        raise EventLogError(path, f"cannot read the Parquet file ({clip(str(err))})") from err
    return key_items(frame, path, item_column)
