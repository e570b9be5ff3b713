"""Streaming a synthetic event log to CSV files, one chunk of users at a time.

:func:`write_events_csv` holds one chunk of users in memory, whatever the size of the log, and
writes the same events as :func:`~recsft.data.synthetic.generate_events`. Every file is written
through :func:`recsft.fileio.atomic_writer`; all of them are complete before the first is moved
into place.

Example:
    >>> import tempfile, os
    >>> from recsft.data.synthetic import SyntheticConfig, write_events_csv
    >>> folder = tempfile.mkdtemp()
    >>> counts = write_events_csv(os.path.join(folder, "events.csv"), SyntheticConfig(num_users=20))
    >>> counts["users"], sorted(os.listdir(folder))
    (20, ['events.csv', 'items.csv', 'segments.csv', 'sessions.csv'])
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from recsft.data.synthetic.config import _TYPE_NAMES, SyntheticConfig
from recsft.data.synthetic.generator import _check_chunk_size, _Shop
from recsft.fileio import atomic_writer, make_folder

#: Generated values never contain a comma, quote or newline, so CSVs are written unquoted
#: (pyarrow raises rather than write an unquoted value that would need quotes).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def _append(handle: IO[bytes], columns: dict[str, pa.Array]) -> None:
    """Append rows to a CSV file, unquoted (the values never need quotes)."""
    pa_csv.write_csv(pa.table(columns), handle, write_options=_CSV_OPTIONS)


def write_events_csv(
    path: str | os.PathLike[str],
    config: SyntheticConfig | None = None,
    users_per_chunk: int = 100_000,
    *,
    tables: bool = True,
) -> dict[str, int]:
    """Stream a synthetic event log to a CSV file, one chunk of users at a time.

    Writes the same events as :func:`~recsft.data.synthetic.generate_events` (header
    ``user_id,item_id,timestamp,event_type[,query]``) without holding the log in memory,
    and ``items.csv`` in the same directory; with ``tables`` also ``segments.csv`` and
    ``sessions.csv`` there, so that :meth:`~recsft.data.synthetic.SyntheticData.load` reads
    the directory back. Every file is written under a temporary name
    (:func:`recsft.fileio.atomic_writer`) and moved into place only once all of them are
    complete; on failure none is replaced.

    Args:
        path: The events CSV to write; its directory is created if missing.
        config: Generator parameters; ``SyntheticConfig()`` when omitted.
        users_per_chunk: Number of users generated and written per step; memory grows
            with it (about 30 events per user with the default rates).
        tables: Also write ``segments.csv`` and ``sessions.csv``.

    Returns:
        Counts: ``users``, ``items``, ``sessions``, ``events`` and one entry per event type
        (``view``, ``cart``, ``fav``, ``buy``, ``search``).

    Raises:
        ValueError: If ``users_per_chunk`` is below 1 or ``path`` is named like one of the
            side files.
    """
    size = _check_chunk_size(users_per_chunk)
    cfg = config if config is not None else SyntheticConfig()
    target = Path(path)
    side = ["items.csv", *(["segments.csv", "sessions.csv"] if tables else [])]
    if target.name in side:
        raise ValueError(f"the events file cannot be named {target.name!r}")
    make_folder(target.parent)
    shop = _Shop(cfg)

    # Each writer renames its file when its block ends; the stack ends them all only after
    # the last chunk is written, and on an error removes every temporary file instead.
    with contextlib.ExitStack() as stack:

        def open_csv(name: Path, header: list[str] | None) -> IO[bytes]:
            handle = stack.enter_context(atomic_writer(name, binary=True))
            if header is not None:
                handle.write((",".join(header) + "\n").encode())
            return handle

        files = {"items": open_csv(target.parent / "items.csv", None)}
        files["items"].write(shop.items_frame().to_csv(index=False).encode())
        header = ["user_id", "item_id", "timestamp", "event_type"]
        files["events"] = open_csv(target, header + (["query"] if cfg.search_rate > 0 else []))
        if tables:
            files["segments"] = open_csv(target.parent / "segments.csv", ["user_id", "segment"])
            files["sessions"] = open_csv(
                target.parent / "sessions.csv", ["user_id", "session", "category", "start_time"]
            )
        kinds = np.zeros(len(_TYPE_NAMES), dtype=np.int64)
        n_sessions = 0
        for block in shop.chunks(size):
            _append(files["events"], shop.columns.event_columns(block))
            if tables:
                _append(files["segments"], shop.columns.segment_columns(block))
                _append(files["sessions"], shop.columns.session_columns(block))
            kinds += np.bincount(block.kind, minlength=len(_TYPE_NAMES))
            n_sessions += block.sess_user.shape[0]
        for handle in files.values():  # every byte handed to the system before any rename
            handle.flush()
    counts = {
        "users": cfg.num_users,
        "items": cfg.num_items,
        "sessions": n_sessions,
        "events": int(kinds.sum()),
    }
    counts.update({name: int(count) for name, count in zip(_TYPE_NAMES, kinds)})
    return counts
