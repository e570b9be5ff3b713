"""Event inputs read in batches: CSV / TSV / RetailRocket files, Parquet files and Parquet
dataset folders (as Spark, Ray or Dask write them).

Every batch goes through the column checks of :mod:`recsft.data.readers.columns` (the checks of
the in-memory readers), so a bad value raises the same one-line
:class:`~recsft.data.events.EventLogError` naming the file, the line (or Parquet row group and
row) and the column. A dataset folder's files are read in path order (directories and names
sorted): data files are every file except ``_*`` / ``.*`` ones (``_SUCCESS``,
``_committed_*``, ``_metadata``), ``*.crc`` checksums and anything under ``_*`` / ``.*``
folders; ``key=value`` folders (Hive partitions) give string columns ``key`` unless the files
have such a column.

Example:
    >>> from recsft.data.stream.inputs import EventInput
    >>> source = EventInput.open("events.csv")  # doctest: +SKIP
    >>> sum(batch.num_rows for batch in source.batches())  # doctest: +SKIP
    1000
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsft.data.events import EventLogError
from recsft.data.readers.columns import Where, canonical_arrow
from recsft.data.readers.common import DEFAULT_UNITS, ReadRequest, event_map, resolve_columns
from recsft.data.readers.delimited import diagnose, split_csv
from recsft.data.readers.lines import (
    GZIP_ERRORS,
    arrow_encoding,
    first_line,
    line_limit,
    line_of_row,
    require_input,
)
from recsft.data.readers.parquet import open_parquet

#: Formats the streaming preparation reads (a Parquet dataset folder is ``parquet``).
STREAM_FORMATS = ("csv", "tsv", "retailrocket", "parquet")
#: Rows per Parquet batch.
PARQUET_BATCH_ROWS = 1 << 20
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def dataset_files(folder: Path) -> list[Path]:
    """The data files of a Parquet dataset folder, in path order (see the module docstring).

    Raises:
        EventLogError: the folder holds no data file.
    """
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        files.extend(Path(root) / n for n in sorted(names)
                     if not n.startswith(("_", ".")) and not n.endswith(".crc"))
    if not files:
        raise EventLogError(folder, "a Parquet dataset folder without data files (_SUCCESS, "
                                    "_committed_*, .crc and hidden files are ignored); expected "
                                    "part-*.parquet files")
    return files


def partition_values(folder: Path, file: Path) -> dict[str, str | None]:
    """The Hive partition columns of ``file``: ``key=value`` folders between it and
    ``folder``."""
    values: dict[str, str | None] = {}
    for part in file.relative_to(folder).parts[:-1]:
        key, sep, value = part.partition("=")
        if sep and key:
            text = unquote(value)
            values[unquote(key)] = None if text == _HIVE_NULL else text
    return values


def canonical_table(table: pa.Table, where: Where, unit: str | None,
                    mapping: Mapping[str, str] | None) -> pa.Table:
    """Validate a batch whose columns carry canonical names; the canonical Arrow table
    (``user_id``, ``item_id`` strings, ``timestamp`` int64 unix seconds, ``event_type``, and
    ``query`` when present): what :func:`recsft.data.readers.columns.finish` makes, in Arrow."""
    if "timestamp" not in table.column_names or unit is None:
        raise EventLogError(where.path, "no timestamp column; expected one for streaming")
    return canonical_arrow(table, where, unit, mapping).combine_chunks()


@dataclass
class EventInput:
    """An event file or Parquet dataset folder, read batch by batch.

    Attributes:
        path: The file or folder.
        format: One of :data:`STREAM_FORMATS`.
        request: The reader request (columns, event map, timestamp unit).
        files: The data files (one for a file).
        names: Canonical column -> column in the input.
        mapping: The event map applied (``None``: types kept as they are).
        unit: Timestamp unit of numeric timestamps.
    """

    path: Path
    format: str
    request: ReadRequest
    files: list[Path] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    mapping: dict[str, str] | None = None
    unit: str = "s"

    @classmethod
    def open(cls, path: str | os.PathLike, format: str = "auto",
             columns: Mapping[str, str] | None = None,
             event_map_: Mapping[str, str] | None = None) -> EventInput:
        """Check the input and its columns (every file of a folder) before reading rows.

        Raises:
            EventLogError: a missing or empty input, a format the streaming path cannot read,
                a missing column, or files of one folder whose columns differ in type.
        """
        path = Path(path)
        if path.is_dir():
            if format not in ("auto", "parquet"):
                raise EventLogError(path, f"a folder is read as a Parquet dataset, not as "
                                          f"'{format}'; expected format auto or parquet")
            fmt = "parquet"
        else:
            from recsft.data.readers.detect import detect_format

            fmt = detect_format(path) if format == "auto" else format
        if fmt not in STREAM_FORMATS:
            raise EventLogError(path, f"format '{fmt}' cannot be read in batches; expected one "
                                      f"of {', '.join(STREAM_FORMATS)} (or prepare in memory)")
        request = ReadRequest(path=path, format=fmt, columns=dict(columns or {}),
                              event_map=dict(event_map_) if event_map_ is not None else None,
                              items_path=None, encoding=None, timestamp_unit=None)
        source = cls(path, fmt, request, unit=DEFAULT_UNITS.get(fmt, "s"))
        if path.is_dir():
            source.files = dataset_files(path)
            source._check_parquet_schemas()
        elif fmt == "parquet":
            source.files = [require_input(path)]
            source._check_parquet_schemas()
        else:
            source.files = [require_input(path)]
            source.names = resolve_columns(path, fmt, source._header(), source.request.columns,
                                           line=1)
        source.mapping = event_map(request, source.names)
        return source

    @property
    def encoding(self) -> str | None:
        return None if self.format == "parquet" else "utf-8"

    def estimated_rows(self) -> int:
        """Rows in the input: exact for Parquet, from the first 4 MiB's lines for text."""
        if self.format == "parquet":
            return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        path = self.files[0]
        opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            sample = handle.read(4 << 20)
        lines = max(sample.count(b"\n"), 1)
        size = path.stat().st_size * (4 if opener is gzip.open else 1)
        return int(size * lines / max(len(sample), 1))

    def _header(self) -> list[str]:
        first = first_line(self.path, "utf-8").lstrip("\ufeff")
        return [c.strip() for c in split_csv(self._delimiter())(first)]

    def _delimiter(self) -> str:
        return "\t" if self.format == "tsv" else ","

    def _check_parquet_schemas(self) -> None:
        seen: dict[str, tuple[pa.DataType, Path]] = {}
        for file in self.files:
            handle = _open_parquet(file)
            schema = handle.schema_arrow
            available = list(schema.names)
            extra = {k: pa.string() for k in partition_values(self.path, file)
                     if k not in available} if self.path.is_dir() else {}
            names = resolve_columns(file, "parquet", [*available, *extra],
                                    self.request.columns, what="schema")
            if not self.names:
                self.names = names
            elif names != self.names:
                raise EventLogError(file, f"columns {sorted(names.values())} differ from those "
                                          f"of {self.files[0]} ({sorted(self.names.values())});"
                                          " expected the same schema in every file")
            for source in names.values():
                kind = extra[source] if source in extra else schema.field(source).type
                if source in seen and seen[source][0] != kind:
                    raise EventLogError(file, f"type {kind} differs from {seen[source][0]} in "
                                              f"{seen[source][1]}; expected the same schema in "
                                              "every file of the dataset", column=source)
                seen.setdefault(source, (kind, file))

    def batches(self) -> Iterator[pa.Table]:
        """The canonical, validated batches, in input order.

        Raises:
            EventLogError: a bad row (named by file, line or row group and row, and column),
                or an input without rows.
        """
        rows = 0
        parts = self._parquet_batches() if self.format == "parquet" else self._csv_batches()
        for table, where in parts:
            if table.num_rows:
                rows += table.num_rows
                yield canonical_table(table, where, self.unit, self.mapping)
        if rows == 0:
            raise EventLogError(self.path, "the input has no rows; expected at least one event")

    def _parquet_batches(self) -> Iterator[tuple[pa.Table, Where]]:
        for file in self.files:
            handle = _open_parquet(file)
            partitions = partition_values(self.path, file) if self.path.is_dir() else {}
            wanted = [s for s in dict.fromkeys(self.names.values()) if s in
                      handle.schema_arrow.names]
            bounds = np.cumsum([handle.metadata.row_group(i).num_rows
                                for i in range(handle.num_row_groups)])
            offset = 0
            try:
                for batch in handle.iter_batches(PARQUET_BATCH_ROWS, columns=wanted):
                    table = pa.Table.from_batches([batch])
                    columns = {}
                    for canonical, source in self.names.items():
                        if source in table.column_names:
                            columns[canonical] = table[source]
                        else:
                            columns[canonical] = pa.array([partitions.get(source)] *
                                                          table.num_rows, pa.string())

                    def locate(row: int, start: int = offset,
                               ends: np.ndarray = bounds) -> dict[str, int]:
                        row += start
                        group = int(np.searchsorted(ends, row, side="right"))
                        return {"row": row + 1, "row_group": group}

                    yield pa.table(columns), Where(file, self.names, locate)
                    offset += table.num_rows
            except (pa.ArrowInvalid, OSError) as err:
                raise EventLogError(file, f"cannot read the Parquet file ({str(err)[:200]}); "
                                          "expected a Parquet file") from err

    def _csv_batches(self) -> Iterator[tuple[pa.Table, Where]]:
        path, fields, delimiter = self.path, self._header(), self._delimiter()
        wanted = list(dict.fromkeys(self.names.values()))
        convert = pacsv.ConvertOptions(include_columns=wanted,
                                       column_types={c: pa.string() for c in wanted},
                                       strings_can_be_null=False)
        block = max(line_limit() // 2, 1)

        def run(threads: bool, handler: Any = None, *, block: int) -> pa.Table:
            read = pacsv.ReadOptions(encoding=arrow_encoding("utf-8"), block_size=block,
                                     use_threads=threads)
            parse = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler)
            return pacsv.read_csv(path, read, parse, convert)

        errors = (pa.ArrowInvalid, OSError, *GZIP_ERRORS)
        offset = 0
        try:
            reader = pacsv.open_csv(
                path, pacsv.ReadOptions(encoding="utf8", block_size=block),
                pacsv.ParseOptions(delimiter=delimiter), convert)
            for batch in reader:
                table = pa.Table.from_batches([batch])
                columns = {c: table[s] for c, s in self.names.items()}

                def locate(row: int, start: int = offset) -> dict[str, int]:
                    return {"line": line_of_row(path, start + row, 1)}

                yield pa.table(columns), Where(path, self.names, locate)
                offset += table.num_rows
        except errors as err:
            raise diagnose(path, err, partial(run, block=line_limit() + 1), "utf-8", fields,
                           split_csv(delimiter), 1, delimiter) from err

    def read_step(self, events: int) -> dict[str, Any]:
        """The ``read`` step record, as :func:`recsft.data.readers.read_events` writes it."""
        return {"name": "read", "params": {
            "path": str(self.path), "format": self.format, "columns": self.names,
            "event_map": self.mapping, "items_path": None, "encoding": self.encoding,
            "timestamp_unit": self.unit}, "events": int(events)}


def _open_parquet(file: Path) -> pq.ParquetFile:
    return open_parquet(file, "a Parquet file (a dataset folder holds only data files, "
                              "_SUCCESS and .crc files)")


def read_folder_log(path: str | os.PathLike, format: str = "auto",
                    columns: Mapping[str, str] | None = None,
                    event_map_: Mapping[str, str] | None = None):
    """A Parquet dataset folder read whole into an :class:`~recsft.data.events.EventLog` (the
    in-memory path for a folder), with the ``read`` step recorded.
    """
    from recsft.data.events import EventLog

    source = EventInput.open(path, format, columns, event_map_)
    table = pa.concat_tables(list(source.batches()))
    frame = table.to_pandas()
    return EventLog(frame, source=str(path), steps=[source.read_step(len(frame))])
