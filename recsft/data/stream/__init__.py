"""Out-of-core ``recsft data prepare``: peak memory bounded by a setting, not by the data.

:func:`prepare_stream` writes the prepared folder of :mod:`recsft.data.prepare` from an input
read in batches (a CSV / TSV / RetailRocket file, a Parquet file or a Parquet dataset folder;
:mod:`~recsft.data.stream.inputs`): one pass scatters the validated events by a hash of the
user id into bucket files on disk (:mod:`~recsft.data.stream.buckets`), then each bucket is
de-duplicated, k-cored (passes over the buckets with the item counts in memory) and turned into
sorted sequences, one Arrow shard per bucket (:mod:`~recsft.data.stream.build`). The number of
buckets follows from the input's size and ``memory_gib``, so the peak is about one bucket's
work plus a byte per event and a few numbers per item and user. :func:`choose_engine` streams
whenever the format and options allow (measured faster and smaller than the in-memory path at
10 M events), else prepares in memory when that fits ``memory_gib``.

Equivalence: the same user -> sequence map (each user's events in time order, ties in file
order), ``items.parquet`` (first appearance among the cleaned events, counts), ``stats.json``
and ``events.parquet`` as the in-memory path (``tests/data/test_prepare_stream.py``). The k-core
reaches the same fixed point (the largest sub-log meeting both thresholds) by alternating
passes; its ``iterations`` count those passes.

Why pure pyarrow + numpy, by measurement (``benchmarks/results/data_engines.json``, from
``python scripts/benchmark_data_scale.py --engines-events 5000000,20000000``; 2 cores shared
with other work, pyarrow 26.0.1, DuckDB 2.0.1, polars 2.1.0, 4 GiB bound): on 20 M CSV events
the pyarrow buckets did the whole preparation (validation with the readers' one-line errors,
events, users, stats) in 26.7 s at 1.32 GiB peak; polars' streaming engine built only the
sequences and the item table in 26.6 s at 2.08 GiB, its peak growing with the input (0.75 GiB
at 5 M: its sort and group-by hold the data); DuckDB (``memory_limit``, ``temp_directory``)
took 36.8 s at 2.33 GiB. Neither would check rows as the readers do, DuckDB is a large
dependency, and "ties in file order" needs a row number over a parallel scan whose order SQL
does not promise. So no new dependency: pyarrow parses, numpy sorts, buckets bound the memory.

Example:
    >>> from recsft.data.stream import EventInput, prepare_stream
    >>> from recsft.data.preprocess import PreprocessConfig
    >>> source = EventInput.open("events.csv")  # doctest: +SKIP
    >>> prepare_stream(source, "prepared/big", PreprocessConfig(), memory_gib=4)  # doctest: +SKIP
"""

from __future__ import annotations

from recsft.data.stream.inputs import STREAM_FORMATS, EventInput, read_folder_log
from recsft.data.stream.pipeline import (
    DEFAULT_MEMORY_GIB,
    STREAM_OPTIONS,
    choose_engine,
    prepare_stream,
    unsupported_options,
)

__all__ = [
    "DEFAULT_MEMORY_GIB",
    "STREAM_FORMATS",
    "STREAM_OPTIONS",
    "EventInput",
    "choose_engine",
    "prepare_stream",
    "read_folder_log",
    "unsupported_options",
]
