"""The streaming ``recsft data prepare``: :func:`prepare_stream`, :func:`choose_engine`.

Passes: (1) :func:`~recsft.data.stream.buckets.scatter` reads the input once in batches,
validates and filters rows, writes the events in file order to Parquet and scatters them into
per-user bucket files; (2) per bucket, exact duplicates are marked; (3) the k-core repeats
passes over the bucket files with the item counts in memory; (4) per bucket, the surviving
events become sorted sequences (one Arrow shard per bucket) and the counts behind
``items.parquet`` and ``stats.json``; (5) the events of pass 1 are copied without the dropped
ones. The result equals the in-memory path's (see :mod:`recsft.data.stream`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsft.data.preprocess import PreprocessConfig
from recsft.data.stream.buckets import bucket_count, scatter
from recsft.data.stream.build import BucketState, filter_events, k_core, write_sequences
from recsft.data.stream.inputs import STREAM_FORMATS, EventInput
from recsft.errors import RecsftError

#: Peak bytes per event of the in-memory path (1.90 GiB at 10.1 M events, data_scale.json).
MEMORY_BYTES_PER_EVENT = 200
#: Bytes per event of one bucket's work in the streaming path (sort, lists, strings).
BUCKET_BYTES_PER_EVENT = 200
#: Default bound of ``--memory-gib``.
DEFAULT_MEMORY_GIB = 4.0
#: The preprocessing steps the streaming path applies.
STREAM_OPTIONS = ("start", "end", "keep_event_types", "drop_duplicates", "user_k", "item_k")


def unsupported_options(config: PreprocessConfig) -> list[str]:
    """The options of ``config`` that are switched on and that streaming cannot apply."""
    defaults = PreprocessConfig()
    return [name for name in PreprocessConfig.__dataclass_fields__
            if name not in STREAM_OPTIONS and name not in ("truncate", "default_weight")
            and getattr(config, name) != getattr(defaults, name)]


def choose_engine(engine: str, source_path: Path, fmt: str, config: PreprocessConfig,
                  rows: int | None, memory_gib: float) -> str:
    """``"memory"`` or ``"stream"`` for ``recsft data prepare``.

    ``auto`` streams whenever it can (the format is one of :data:`STREAM_FORMATS` and every
    option on is one of :data:`STREAM_OPTIONS`): measured at 10 M events it is faster and
    smaller than the in-memory path (``benchmarks/results/data_scale.json``). Otherwise it
    prepares in memory when the estimated peak (:data:`MEMORY_BYTES_PER_EVENT` per event) fits
    ``memory_gib``, and refuses when it does not.

    Args:
        engine: ``auto``, ``memory`` or ``stream``.
        source_path: The input (for messages).
        fmt: The input's format (after detection).
        config: The preprocessing options.
        rows: Estimated events in the input (``None``: unknown, taken to fit).
        memory_gib: The memory bound.

    Raises:
        RecsftError: streaming is asked for (or needed) but the format or an option is one it
            cannot do.
    """
    if engine not in ("auto", "memory", "stream"):
        raise RecsftError(f"--engine {engine}: expected auto, memory or stream")
    if engine == "memory":
        return "memory"
    bad = unsupported_options(config)
    if engine == "auto" and fmt in STREAM_FORMATS and not bad:
        return "stream"
    need = (rows or 0) * MEMORY_BYTES_PER_EVENT / 2**30
    if engine == "auto" and need <= memory_gib:
        return "memory"
    why = ("--engine stream" if engine == "stream" else
           f"about {need:.1f} GiB in memory > --memory-gib {memory_gib:g}")
    if fmt not in STREAM_FORMATS:
        raise RecsftError(f"{source_path}: format '{fmt}' cannot be prepared in batches ({why});"
                          f" streaming reads {', '.join(STREAM_FORMATS)}; convert the input or "
                          "raise --memory-gib")
    if bad:
        raise RecsftError(f"--preprocess {bad[0]}: the streaming preparation ({why}) cannot "
                          f"apply it (it applies {', '.join(STREAM_OPTIONS)}); drop the option "
                          "or raise --memory-gib to prepare in memory")
    return "stream"


def prepare_stream(
    source: EventInput,
    out_dir: str | os.PathLike,
    config: PreprocessConfig,
    memory_gib: float = DEFAULT_MEMORY_GIB,
    buckets: int | None = None,
    metadata: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Write a prepared folder (see :mod:`recsft.data.prepare`) from an input read in batches.

    Args:
        source: The opened input.
        out_dir: Destination folder (replaced atomically when complete).
        config: Preprocessing; only :data:`STREAM_OPTIONS` may be on.
        memory_gib: Bound on the peak memory; sets the number of buckets.
        buckets: Number of buckets (``None``: from the input's size and ``memory_gib``).
        metadata: Extra metadata (source, digest, settings) to record.
        key: Cache key recorded in ``metadata.json``.

    Returns:
        The metadata written, with ``stats``.

    Raises:
        RecsftError: an option streaming cannot apply, a bad input row (named by file, line or
            row, and column), or no event left after cleaning.
    """
    from recsft.data.prepare import EVENTS_FILE, SEQUENCES_DIR, write_record
    from recsft.data.preprocess.cleaning import _kept_types, _window_bounds
    from recsft.data.preprocess.kcore import _check_k
    from recsft.fileio import swap_in, temporary_folder

    bad = unsupported_options(config)
    if bad:
        raise RecsftError(f"--preprocess {bad[0]}: the streaming preparation cannot apply it "
                          f"(it applies {', '.join(STREAM_OPTIONS)})")
    c = config
    try:
        window = (_window_bounds(c.start, c.end)
                  if c.start is not None or c.end is not None else None)
        kept = _kept_types(c.keep_event_types) if c.keep_event_types is not None else None
        core = _check_k(c.user_k, c.item_k) if c.user_k > 1 or c.item_k > 1 else None
    except ValueError as err:
        raise RecsftError(f"--preprocess: {err}") from None
    n = buckets or bucket_count(source.estimated_rows(), memory_gib, BUCKET_BYTES_PER_EVENT)
    out = Path(out_dir)
    work = temporary_folder(out.resolve().parent, out.name)
    scratch = work / ".scratch"
    try:
        scratch.mkdir()
        filtering = c.drop_duplicates or core is not None
        events_target = scratch / EVENTS_FILE if filtering else work / EVENTS_FILE
        scattered = scatter(source.batches(), scratch, n, events_target, window, kept)
        steps = [source.read_step(scattered.read), *scattered.records]
        state = BucketState(scattered, scratch, c.drop_duplicates)
        for record in scattered.records:
            in_window = record["name"] == "time_window" and scattered.partial
            record.update(users_after=state.users_window if in_window else state.users,
                          items_after=state.items_window if in_window else state.items)
        remaining = scattered.events - state.duplicates_removed
        if c.drop_duplicates:
            steps.append({"name": "drop_duplicates", "params": {},
                          "events_before": scattered.events, "events_after": remaining,
                          "users_after": state.users, "items_after": state.items,
                          "duplicates_removed": state.duplicates_removed})
        item_alive, details = (k_core(state, *core) if core is not None else (None, {}))
        survivors = write_sequences(state, work / SEQUENCES_DIR, work / "users.parquet",
                                    item_alive, core[0] if core else 0, filtering)
        lengths = (np.concatenate(survivors.lengths) if survivors.lengths
                   else np.zeros(0, dtype=np.int64))
        alive = np.flatnonzero(survivors.item_counts > 0)
        if core is not None:
            steps.append({"name": "k_core", "params": {"user_k": core[0], "item_k": core[1]},
                          "events_before": remaining, "events_after": int(lengths.sum()),
                          "iterations": details["iterations"],
                          "users_removed": details["users_before"] - len(lengths),
                          "items_removed": details["items_before"] - len(alive)})
        if not len(lengths):
            names = ", ".join(str(s["name"]) for s in steps)
            raise RecsftError(f"--preprocess: no event of {source.path} is left after cleaning "
                              f"(steps: {names}); loosen the options (k-core, time window, "
                              "lengths)")
        if filtering:
            filter_events(scratch / EVENTS_FILE, survivors.dropped, work / EVENTS_FILE)
        order = alive[np.argsort(survivors.item_first[alive], kind="stable")]
        pd.DataFrame({
            "item_id": np.asarray(scattered.items.values, dtype=object)[order].astype(str),
            "index": np.arange(len(order)),
            "count": survivors.item_counts[order],
        }).to_parquet(work / "items.parquet", index=False)
        types = np.flatnonzero(survivors.type_counts)
        types = types[np.argsort(-survivors.type_counts[types], kind="stable")]
        from recsft.data.prepare import stats_from_counts

        stats = stats_from_counts(
            users=len(lengths), items=len(alive), lengths=lengths,
            event_types=[(scattered.types.values[t], int(survivors.type_counts[t]))
                         for t in types],
            span=(survivors.first, survivors.last))
        if core is not None:
            steps[-1].update(users_after=stats["users"], items_after=stats["items"])
        engine = {"engine": "stream", "buckets": n, "memory_gib": memory_gib}
        shutil.rmtree(scratch)
        record = write_record(work, {**(metadata or {}), "preparation": engine}, key, steps,
                              stats)
        swap_in(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return record

