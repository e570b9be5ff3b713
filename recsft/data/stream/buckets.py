"""The first pass of the streaming preparation: events scattered into per-user bucket files.

Every event goes, by a hash of its user id, to one of ``n`` Arrow IPC files (a user's events
all land in one bucket, in file order), with the item and event type replaced by integer codes
(first-seen order; the dictionaries stay in memory) and its position among the events that pass
the row-wise filters (time window, event types; with both, the events in the window of
another type are kept too, at position -1, to count the users after the window). The same
events, in file order, are appended to a Parquet file (one row group per batch):
``events.parquet`` itself when no later step drops events, else a scratch copy that the last
pass filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Most buckets (each is an open file during the first pass).
MAX_BUCKETS = 512
BUCKET_SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("item", pa.int32()),
    ("timestamp", pa.int64()),
    ("event_type", pa.int32()),
    ("pos", pa.int64()),
])


class Codes:
    """A growing string -> int32 dictionary; codes follow the order of first sight."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __len__(self) -> int:
        return len(self.values)

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Codes of ``column`` (strings, no nulls), shape ``(len(column),)``, int32."""
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        encoded = pc.dictionary_encode(array)
        lookup = np.empty(len(encoded.dictionary), dtype=np.int32)
        index, values = self.index, self.values
        for i, value in enumerate(encoded.dictionary.to_pylist()):
            code = index.get(value)
            if code is None:
                code = index[value] = len(values)
                values.append(value)
            lookup[i] = code
        return lookup[encoded.indices.to_numpy(zero_copy_only=False)]

    def array(self) -> pa.Array:
        """The strings, code order."""
        return pa.array(self.values, pa.string())


def user_buckets(users: pa.Array, n: int) -> np.ndarray:
    """Bucket of each event's user, shape ``(len(users),)``: a stable hash of the id mod ``n``."""
    if n == 1:
        return np.zeros(len(users), dtype=np.int64)
    encoded = pc.dictionary_encode(users)
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(uniques, categorize=False) % np.uint64(n)
    return hashed.astype(np.int64)[encoded.indices.to_numpy(zero_copy_only=False)]


@dataclass
class Scattered:
    """What the first pass found.

    Attributes:
        events: Events written (after the row-wise filters).
        read: Events read.
        items: Item dictionary.
        types: Event-type dictionary.
        buckets: Bucket files that received events, by bucket number.
        records: Step records of the row-wise filters.
        partial: Whether bucket rows include events inside the time window but of a type
            filtered out (position -1), kept to count the users and items after the window.
    """

    events: int = 0
    read: int = 0
    items: Codes = field(default_factory=Codes)
    types: Codes = field(default_factory=Codes)
    buckets: dict[int, Path] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False


def scatter(batches: Iterable[pa.Table], folder: Path, n: int, events_path: Path,
            window: tuple[int | None, int | None] | None = None,
            kept: list[str] | None = None) -> Scattered:
    """Read the validated batches once: filter rows, write events and bucket files.

    Args:
        batches: Canonical event tables, in file order.
        folder: Where the bucket files go (``bucket-00000.arrow`` ...).
        n: Number of buckets.
        events_path: The Parquet file receiving the filtered events in file order.
        window: ``(start, end)`` of the time window step, or ``None``.
        kept: Event types to keep, or ``None``.

    Returns:
        The counts, dictionaries, bucket files and the row-wise step records.
    """
    out = Scattered()
    writers: dict[int, Any] = {}
    events_writer = None
    after_window = 0
    removed_by_type: dict[str, int] = {}
    kept_set = pa.array(kept or [], pa.string())
    # events.parquet is written by a second thread (pyarrow releases the GIL) while the next
    # batch is parsed and scattered.
    background = ThreadPoolExecutor(max_workers=1)
    pending: Future | None = None
    try:
        for table in batches:
            out.read += table.num_rows
            if window is not None:
                times = table["timestamp"]
                mask = pc.and_(pc.greater_equal(times, window[0] if window[0] is not None
                                                else -(2**62)),
                               pc.less(times, window[1] if window[1] is not None else 2**62))
                table = table.filter(mask)
                after_window += table.num_rows
            full = None
            if kept is not None:
                mask = pc.is_in(table["event_type"], value_set=kept_set)
                dropped = table["event_type"].filter(pc.invert(mask))
                for entry in pc.value_counts(dropped).to_pylist():
                    name = entry["values"]
                    removed_by_type[name] = removed_by_type.get(name, 0) + entry["counts"]
                if window is None:
                    table = table.filter(mask)
                else:  # the window's survivors stay in the buckets (pos -1): users after it
                    full = mask.to_numpy(zero_copy_only=False)
            events = table if full is None else table.filter(pa.array(full))
            rows = events.num_rows
            if table.num_rows == 0:
                continue
            if rows:
                if events_writer is None:
                    events_writer = pq.ParquetWriter(events_path, events.schema)
                if pending is not None:
                    pending.result()  # one batch in flight: memory stays bounded
                pending = background.submit(events_writer.write_table, events)
            positions = np.arange(out.events, out.events + rows, dtype=np.int64)
            if full is not None:
                out.partial = True
                spread = np.full(table.num_rows, -1, dtype=np.int64)
                spread[full] = positions
                positions = spread
            users = table["user_id"].combine_chunks()
            part = pa.table({
                "user_id": users,
                "item": out.items.encode(table["item_id"]),
                "timestamp": table["timestamp"],
                "event_type": out.types.encode(table["event_type"]),
                "pos": positions,
            }, schema=BUCKET_SCHEMA)
            out.events += rows
            bucket = user_buckets(users, n)
            order = np.argsort(bucket, kind="stable")
            part = part.take(order)
            counts = np.bincount(bucket, minlength=n)
            start = 0
            for b in np.flatnonzero(counts):
                if b not in writers:
                    out.buckets[int(b)] = folder / f"bucket-{b:05d}.arrow"
                    writers[b] = pa.ipc.new_file(str(out.buckets[int(b)]), BUCKET_SCHEMA)
                writers[b].write_table(part.slice(start, int(counts[b])))
                start += int(counts[b])
    finally:
        for writer in writers.values():
            writer.close()
        if pending is not None:
            pending.result()
        background.shutdown()
        if events_writer is not None:
            events_writer.close()
    if window is not None:
        out.records.append({"name": "time_window",
                            "params": {"start": window[0], "end": window[1]},
                            "events_before": out.read, "events_after": after_window})
    if kept is not None:
        before = after_window if window is not None else out.read
        out.records.append({"name": "filter_event_types", "params": {"keep": kept},
                            "events_before": before, "events_after": out.events,
                            "removed_by_type": dict(sorted(removed_by_type.items()))})
    return out


def read_bucket(path: Path) -> pa.Table:
    """A bucket file, memory-mapped (its columns are not copied into memory)."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def bucket_count(rows: int, memory_gib: float, bytes_per_event: int) -> int:
    """Buckets such that one bucket's work (``rows / n * bytes_per_event``) takes at most a
    third of ``memory_gib`` (at most :data:`MAX_BUCKETS`: one open file each)."""
    share = max(memory_gib * 2**30 / 3, 1 << 16)
    return min(MAX_BUCKETS, max(1, int(np.ceil(rows * bytes_per_event / share))))
