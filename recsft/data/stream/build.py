"""The passes after the scatter: de-duplication, k-core and the prepared folder, one bucket at a
time.

Per bucket (all of a user's events, in file order): exact duplicates are marked (first kept);
the k-core repeats passes over the buckets with the item counts in memory until no item falls
below ``item_k`` (users are judged inside their bucket); the last pass sorts each bucket's
surviving events by user (first appearance), time and file position and writes its sequences
as one Arrow stream file ``sequences/part-NNNNN.arrow``. Only one bucket is in memory at a time,
plus a bit per event (which events were dropped) and a few numbers per item and per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsft.data.stream.buckets import Scattered, read_bucket

SEQUENCE_SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("item_ids", pa.list_(pa.string())),
    ("event_types", pa.list_(pa.string())),
    ("timestamps", pa.list_(pa.int64())),
])


@dataclass
class Survivors:
    """What the last pass counted.

    Attributes:
        lengths: Events per user, shape ``(users,)``.
        item_counts: Events per item code, shape ``(items,)``.
        item_first: Position of each item's first surviving event, shape ``(items,)``.
        type_counts: Events per event-type code.
        first: Earliest timestamp (or ``None``).
        last: Latest timestamp (or ``None``).
        dropped: Per position, whether the event was dropped (``None`` when none can be).
    """

    lengths: list[np.ndarray] = field(default_factory=list)
    item_counts: np.ndarray | None = None
    item_first: np.ndarray | None = None
    type_counts: np.ndarray | None = None
    first: int | None = None
    last: int | None = None
    dropped: np.ndarray | None = None


def _user_codes(table: pa.Table) -> np.ndarray:
    """Bucket-local user codes in order of first appearance, shape ``(rows,)``."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(table["user_id"].combine_chunks())
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)


def _duplicates(users: np.ndarray, items: np.ndarray, times: np.ndarray,
                types: np.ndarray) -> np.ndarray:
    """Keep-mask of a bucket's events (given in file order, shape ``(rows,)`` each): the
    first of each (user, item, time, type).

    Two stable sorts of int64 keys, (item, type) then (user, time), make equal events
    neighbours with the earliest in the file first; pandas' hashing when the (user, time) key
    does not fit in an int64.
    """
    items = items.astype(np.int64)
    types = types.astype(np.int64)
    low = int(times.min())
    span = int(times.max()) - low + 1
    if (int(users.max()) + 1) * span >= 2**62:
        frame = pd.DataFrame({"user": users, "item": items, "time": times, "type": types})
        return ~frame.duplicated(keep="first").to_numpy()
    first = users.astype(np.int64) * span + (times - low)
    second = items * (int(types.max()) + 1) + types
    order = np.argsort(second, kind="stable")
    order = order[np.argsort(first[order], kind="stable")]
    a, b = first[order], second[order]
    same = (a[1:] == a[:-1]) & (b[1:] == b[:-1])
    keep = np.ones(len(order), dtype=bool)
    keep[order[1:][same]] = False
    return keep


def _time_order(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Indices sorting rows (given in file order) by user, time, then file order.

    One stable sort of a combined int64 key when it fits (it does unless the time span times
    the users passes 2**62), else three (``np.lexsort``).
    """
    low = int(times.min())
    span = int(times.max()) - low + 1
    if (int(users.max()) + 1) * span < 2**62:
        return np.argsort(users.astype(np.int64) * span + (times - low), kind="stable")
    return np.lexsort((np.arange(len(users)), times, users))


class BucketState:
    """Per-bucket arrays kept on disk between passes: user codes and the keep-mask (events
    past every row-wise filter, without duplicates); and the users and items counted after
    each row-wise step.

    Attributes:
        users_window: Users with an event in the time window (buckets with ``partial`` rows).
        items_window: Items of those events.
        users: Users with an event past every row-wise filter.
        items: Items of those events.
        duplicates_removed: Events dropped as exact duplicates.
    """

    def __init__(self, scattered: Scattered, scratch: Path, dedup: bool) -> None:
        self.scattered = scattered
        self.scratch = scratch
        self.masked = dedup or scattered.partial
        self.duplicates_removed = 0
        self.users_window = self.users = 0
        seen_window = np.zeros(len(scattered.items), dtype=bool)
        seen = np.zeros(len(scattered.items), dtype=bool)
        for b, path in scattered.buckets.items():
            table = read_bucket(path)
            users = _user_codes(table)
            np.save(scratch / f"users-{b:05d}.npy", users)
            items = table["item"].to_numpy()
            keep = table["pos"].to_numpy() >= 0
            self.users_window += int(users.max()) + 1  # codes are 0..k-1
            seen_window[items] = True
            rows = np.flatnonzero(keep)
            self.users += len(np.unique(users[rows]))
            seen[items[rows]] = True
            if dedup and len(rows):
                unique = _duplicates(users[rows], items[rows],
                                     table["timestamp"].to_numpy()[rows],
                                     table["event_type"].to_numpy()[rows])
                self.duplicates_removed += int(len(unique) - np.count_nonzero(unique))
                keep[rows[~unique]] = False
            if self.masked:
                np.save(scratch / f"keep-{b:05d}.npy", keep)
        self.items_window = int(np.count_nonzero(seen_window))
        self.items = int(np.count_nonzero(seen))

    def load(self, b: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """The bucket table, its user codes and its keep-mask after de-duplication."""
        table = read_bucket(self.scattered.buckets[b])
        users = np.load(self.scratch / f"users-{b:05d}.npy", mmap_mode="r")
        keep = (np.load(self.scratch / f"keep-{b:05d}.npy") if self.masked
                else np.ones(table.num_rows, dtype=bool))
        return table, np.asarray(users), keep


def _alive_rows(items: np.ndarray, users: np.ndarray, keep: np.ndarray,
                item_alive: np.ndarray | None, user_k: int) -> np.ndarray:
    """Rows of a bucket that survive: kept, on a living item, of a user with ``user_k`` such
    rows."""
    ok = keep & item_alive[items] if item_alive is not None else keep
    if user_k <= 1:
        return ok
    counts = np.bincount(users[ok], minlength=int(users.max()) + 1 if len(users) else 0)
    return ok & (counts >= user_k)[users]


def k_core(state: BucketState, user_k: int, item_k: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The item set of the user / item k-core, by passes over the buckets.

    Returns:
        ``(item_alive, details)``: a mask over item codes, shape ``(items,)``, and the step
        details (``iterations``: passes, the last one changing nothing; ``users_removed``;
        ``items_removed``).
    """
    n_items = len(state.scattered.items)
    item_alive = np.ones(n_items, dtype=bool)
    iterations = 0
    while True:
        iterations += 1
        counts = np.zeros(n_items, dtype=np.int64)
        for b in state.scattered.buckets:
            table, users, keep = state.load(b)
            items = table["item"].to_numpy()
            rows = _alive_rows(items, users, keep, item_alive, user_k)
            counts += np.bincount(items[rows], minlength=n_items)
        new = item_alive & (counts >= max(item_k, 1))
        if np.array_equal(new, item_alive):
            break
        item_alive = new
    # De-duplication keeps the first of each event: no user or item disappears before this.
    return item_alive, {"iterations": iterations, "users_before": state.users,
                        "items_before": state.items}


def write_sequences(state: BucketState, folder: Path, users_path: Path,
                    item_alive: np.ndarray | None, user_k: int, track_drops: bool) -> Survivors:
    """The last pass: each bucket's sequences (``folder/part-NNNNN.arrow``), ``users.parquet``
    and the counts behind ``items.parquet`` and ``stats.json``."""
    scattered = state.scattered
    n_items, n_types = len(scattered.items), len(scattered.types)
    item_values, type_values = scattered.items.array(), scattered.types.array()
    out = Survivors(item_counts=np.zeros(n_items, dtype=np.int64),
                    item_first=np.full(n_items, np.iinfo(np.int64).max, dtype=np.int64),
                    type_counts=np.zeros(n_types, dtype=np.int64),
                    dropped=np.zeros(scattered.events, dtype=bool) if track_drops else None)
    folder.mkdir()
    user_index = 0
    writer = pq.ParquetWriter(users_path, pa.schema([("user_id", pa.string()),
                                                     ("index", pa.int64())]))
    try:
        for b in sorted(scattered.buckets):
            table, users, keep = state.load(b)
            items = table["item"].to_numpy()
            rows = _alive_rows(items, users, keep, item_alive, user_k)
            positions = table["pos"].to_numpy()
            if out.dropped is not None:
                gone = positions[~rows]
                out.dropped[gone[gone >= 0]] = True
            if not rows.any():
                continue
            kept = np.flatnonzero(rows)
            users = pd.factorize(users[kept])[0]  # first appearance among survivors
            times = table["timestamp"].to_numpy()[kept]
            index = _time_order(users, times)
            order, codes = kept[index], users[index]
            starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
            offsets = pa.array(np.r_[starts, len(order)].astype(np.int32))
            sorted_items = items[order]
            sorted_types = table["event_type"].to_numpy()[order]
            user_ids = table["user_id"].take(pa.array(order[starts]))
            part = pa.table({
                "user_id": user_ids,
                "item_ids": pa.ListArray.from_arrays(offsets, item_values.take(sorted_items)),
                "event_types": pa.ListArray.from_arrays(offsets,
                                                        type_values.take(sorted_types)),
                "timestamps": pa.ListArray.from_arrays(
                    offsets, pa.array(table["timestamp"].to_numpy()[order])),
            }, schema=SEQUENCE_SCHEMA)
            with (pa.OSFile(str(folder / f"part-{b:05d}.arrow"), "wb") as sink,
                  pa.ipc.new_stream(sink, SEQUENCE_SCHEMA) as stream):
                stream.write_table(part)
            writer.write_table(pa.table({
                "user_id": user_ids,
                "index": np.arange(user_index, user_index + len(starts), dtype=np.int64)}))
            user_index += len(starts)
            out.lengths.append(np.diff(np.r_[starts, len(order)]))
            kept_items = items[kept]  # file order
            out.item_counts += np.bincount(kept_items, minlength=n_items)
            first = np.flatnonzero(~pd.Series(kept_items).duplicated().to_numpy())
            unique = kept_items[first]  # each item once, at its first row (hashing, no sort)
            out.item_first[unique] = np.minimum(out.item_first[unique], positions[kept][first])
            out.type_counts += np.bincount(sorted_types, minlength=n_types)
            low, high = int(times.min()), int(times.max())
            out.first = low if out.first is None else min(out.first, low)
            out.last = high if out.last is None else max(out.last, high)
    finally:
        writer.close()
    return out


def filter_events(raw: Path, dropped: np.ndarray, events_path: Path) -> int:
    """Copy ``raw`` (events in file order) to ``events_path`` without the dropped positions,
    row group by row group. Returns the events written."""
    handle = pq.ParquetFile(raw)
    writer = None
    offset = written = 0
    try:
        for batch in handle.iter_batches(1 << 20):
            keep = ~dropped[offset:offset + batch.num_rows]
            offset += batch.num_rows
            table = pa.Table.from_batches([batch]).filter(pa.array(keep))
            if writer is None:
                writer = pq.ParquetWriter(events_path, handle.schema_arrow)
            writer.write_table(table)
            written += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written
