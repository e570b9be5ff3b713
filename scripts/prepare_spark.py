"""Prepare event data beyond one machine: a PySpark job doing what ``recsft data prepare`` does.

Reads an event file (CSV with a header, a Parquet file, or a folder of Parquet or CSV files,
local or any URI Spark reads: ``hdfs://``, ``s3a://``), validates and normalises it the way
recsft's readers do, applies the cleaning steps a shop uses at scale, and writes::

    OUT/sequences/        Parquet dataset, one row per user: user_id string,
                          item_ids list<string>, event_types list<string>, timestamps list<int64>
                          (each user's events in time order, ties in file order; users in order
                          of first appearance, as recsft's prepared sequences)
    OUT/events/           Parquet dataset of the cleaned events (user_id, item_id, timestamp,
                          event_type), part files in the order recsft's events.parquet holds
                          them, written the way Spark writes (part-*.parquet, _SUCCESS)
    OUT/prepare_spark.json  what was read, the options, the counts and the rows dropped

The sequences are those ``recsft data prepare`` writes for the same file and options
(``tests/scripts/test_prepare_spark.py`` checks it user by user). ``OUT/events`` is an event
input for recsft (a folder of Parquet files), so ``recsft data prepare --input OUT/events``
or a run config's ``data.source`` can take it on one machine afterwards.

What matches recsft's readers (:mod:`recsft.data.readers.columns`): ids become strings (whole
float ids become integers, ``2.0`` -> ``'2'``); an empty or blank id, a timestamp that is not a
number or an ISO-8601 date-time, one outside [1970, 2100), or an event type missing from the
``--event-map`` is a bad row; timestamps become int64 unix seconds (floored; ``--timestamp-unit``
for ms/us/ns; date-times without a zone are UTC); a Parquet null event type is ``item``. Ties in
timestamp keep the file order: every row carries its file and a monotonically increasing row
number taken right after the read, and every ordering ends with them. Like recsft, the job stops
at the first bad row with one line naming the file, the data row (header not counted) and the
column (``--bad-rows error``); at scale a shop usually wants ``--bad-rows drop``, which drops
them and counts them by reason in ``prepare_spark.json``.

Cleaning (``--preprocess KEY=VALUE``, the keys of ``recsft data prepare``, same semantics and
order): ``start``/``end`` (time window), ``keep_event_types`` (one type, as the recsft CLI takes
it), ``drop_duplicates``, ``collapse_repeats``, ``user_k``/``item_k`` (iterative k-core to a
fixed point). The other recsft options (sessions, abnormal users, length bounds, weights) are
refused: run ``recsft data prepare`` on ``OUT/events`` for them.

Known differences from recsft's readers: date-time strings are parsed by Spark's cast (ISO-8601
forms: ``2024-01-01``, ``2024-01-01 10:00:00``, ``...T10:00:00.5Z``, ``+02:00``); spellings only
pandas understands (``Jan 1 2024``) are bad rows here. Numbers padded with spaces are bad rows.
In a column mixing integers with other forms, recsft reads nanosecond integers through float64,
which can put an event one second off at a second boundary; this job divides them exactly.

Why Spark and not Ray Data: the logs of a shop large enough to need this live where Spark reads
them natively (Hive/Spark tables, Delta/Iceberg lakehouses, HDFS/S3 Parquet written by Spark
ETL), and the data teams who run it already operate Spark clusters; the work is relational
(validate, filter, dedupe, window per user, iterative joins for the k-core, group into lists),
which is what Spark SQL plans and spills well; RePlay, the closest peer toolkit, prepares its
data with Spark for the same reasons. Ray Data is the better fit for feeding tensors to
training workers (streaming batches to GPUs), which recsft's Accelerate loop does from the
prepared folder anyway. Nothing here was benchmarked against Ray Data.

Examples (local mode on two cores; a cluster through spark-submit)::

    python scripts/prepare_spark.py --input events.csv --out prepared-spark \\
        --master 'local[2]' --driver-memory 4g --preprocess collapse_repeats=true \\
        --preprocess user_k=5 --preprocess item_k=5 --bad-rows drop
    spark-submit --master yarn --driver-memory 8g --executor-memory 16g \\
        scripts/prepare_spark.py --input hdfs:///logs/events --format parquet \\
        --out hdfs:///prepared/events-spark --bad-rows drop --preprocess user_k=5

Only the driver imports recsft (for the column and option checks); the executors run Spark SQL
alone (no Python UDF), so they need no recsft and no Python packages beyond PySpark's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsft.data.events import CANONICAL_COLUMNS, DEFAULT_EVENT_TYPE, EventLogError
from recsft.errors import RecsftError, shorten

SUMMARY_FILE = "prepare_spark.json"
WRITTEN_BY = "scripts/prepare_spark.py"
SUPPORTED_PREPROCESS = ("start", "end", "keep_event_types", "drop_duplicates",
                        "collapse_repeats", "user_k", "item_k")
MAX_TIMESTAMP = 4_102_444_800  # recsft.data.readers.columns.MAX_TIMESTAMP
TIMESTAMP_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
MAX_FLOAT_ID = 2**53
# Hidden columns every row carries: its file and its position in that file (the tie-break).
FILE, ROW, PROBLEM, CORRUPT = "_rs_file", "_rs_row", "_rs_problem", "_rs_corrupt"
ORDER = (FILE, ROW)
_INTEGER = r"^-?[0-9]+$"
_NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"


@dataclass
class Options:
    """One preparation job.

    Attributes:
        input: The event file or folder (a local path or a URI Spark reads).
        out: The output folder (see the module docstring).
        format: ``auto``, ``csv`` or ``parquet``.
        columns: Canonical name -> the file's column.
        event_map: Source event type -> canonical type (every type must be a key), or ``None``.
        timestamp_unit: ``s``, ``ms``, ``us`` or ``ns`` for numeric timestamps.
        preprocess: ``recsft data prepare --preprocess`` options (the supported subset).
        bad_rows: ``error`` (stop at the first, as recsft) or ``drop`` (drop and count).
        force: Replace an ``out`` folder this job wrote before.
    """

    input: str
    out: str
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    event_map: dict[str, str] | None = None
    timestamp_unit: str = "s"
    preprocess: dict[str, Any] = field(default_factory=dict)
    bad_rows: str = "error"
    force: bool = False


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, dict[str, str]]:
    """The job's options and the Spark settings from a command line."""
    from recsft.cli.common import pairs
    from recsft.cli.data import _scalar

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="event file or folder (path or URI)")
    parser.add_argument("--out", required=True, help="output folder (new, or one this job wrote)")
    parser.add_argument("--format", default="auto", choices=("auto", "csv", "parquet"))
    parser.add_argument("--column", action="append", default=[], metavar="CANONICAL=NAME",
                        help="column mapping, e.g. user_id=visitorid (repeatable)")
    parser.add_argument("--event-map", action="append", default=[], metavar="SOURCE=CANONICAL",
                        help="event type mapping, e.g. addtocart=cart (repeatable; every type "
                             "in the file must be listed)")
    parser.add_argument("--timestamp-unit", default="s", choices=tuple(TIMESTAMP_UNITS))
    parser.add_argument("--preprocess", action="append", default=[], metavar="KEY=VALUE",
                        help=f"cleaning option as for recsft data prepare: "
                             f"{', '.join(SUPPORTED_PREPROCESS)} (repeatable)")
    parser.add_argument("--bad-rows", default="error", choices=("error", "drop"),
                        help="stop at the first bad row (default, as recsft) or drop and count")
    parser.add_argument("--force", action="store_true", help="replace an OUT this job wrote")
    parser.add_argument("--master", default=None, help="Spark master (default local[2]; under "
                        "spark-submit, spark-submit's)")
    parser.add_argument("--driver-memory", default=None, help="spark.driver.memory (default 2g; "
                        "in local mode the memory of the whole job; under spark-submit, pass "
                        "it to spark-submit)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="another Spark setting, e.g. spark.sql.shuffle.partitions=400")
    args = parser.parse_args(argv)
    event_map = pairs(args.event_map, "--event-map") if args.event_map else None
    options = Options(
        input=args.input, out=args.out, format=args.format,
        columns=pairs(args.column, "--column"), event_map=event_map,
        timestamp_unit=args.timestamp_unit,
        preprocess={k: _scalar(v) for k, v in pairs(args.preprocess, "--preprocess").items()},
        bad_rows=args.bad_rows, force=args.force,
    )
    # Under spark-submit the JVM is already running with its master and driver memory.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    conf = {}
    if args.master is not None or not submitted:
        conf["spark.master"] = args.master or "local[2]"
    if args.driver_memory is not None or not submitted:
        conf["spark.driver.memory"] = args.driver_memory or "2g"
    conf.update(pairs(args.conf, "--conf"))
    return options, conf


def spark_session(conf: Mapping[str, str]):
    """A SparkSession with ``conf`` and UTC as the session time zone (date-times without a zone
    are UTC, as in recsft)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("recsft-prepare")
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false",
                **conf}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _is_uri(path: str) -> bool:
    return "://" in path


def _detect_format(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.rstrip("/").lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    if not _is_uri(path) and Path(path).is_dir():
        files = [p.name.lower() for p in Path(path).rglob("*") if p.is_file()
                 and not p.name.startswith(("_", "."))]
        if files and all(n.endswith((".csv", ".csv.gz")) for n in files):
            return "csv"
        return "parquet"
    raise EventLogError(path, "cannot tell the format from the name; expected a .csv or "
                              ".parquet file, a folder of Parquet files, or --format")


def _check_options(options: Options) -> None:
    unknown = sorted(set(options.columns) - set(CANONICAL_COLUMNS))
    if unknown:
        raise RecsftError(f"--column: unknown canonical column(s) {shorten(unknown)}; expected "
                          f"some of {list(CANONICAL_COLUMNS)}")
    unsupported = sorted(set(options.preprocess) - set(SUPPORTED_PREPROCESS))
    if unsupported:
        raise RecsftError(f"--preprocess: '{unsupported[0]}' is not done by the Spark job; it "
                          f"does {', '.join(SUPPORTED_PREPROCESS)} (run recsft data prepare on "
                          "OUT/events for the rest)")
    _check_preprocess(options.preprocess)
    if not _is_uri(options.input) and not Path(options.input).exists():
        raise EventLogError(options.input, "no such file or folder; expected an event file "
                                           "(CSV with a header, Parquet) or a folder of them")
    target = Path(options.out)
    if not _is_uri(options.out) and (target.is_symlink() or (target.exists() and (
            not target.is_dir() or (any(target.iterdir())
                                    and not (options.force and _owned(target)))))):
        raise RecsftError(f"--out {target}: exists; expected a new folder (or --force for a "
                          "folder this job wrote)")


def _check_preprocess(preprocess: Mapping[str, Any]) -> None:
    """The option values, checked as recsft checks them, before Spark starts."""
    from recsft.data.preprocess.cleaning import _kept_types, _window_bounds
    from recsft.data.preprocess.kcore import _check_k

    p = dict(preprocess)
    for key in ("drop_duplicates", "collapse_repeats"):
        if key in p and not isinstance(p[key], bool):
            raise RecsftError(f"--preprocess {key}={p[key]}: expected true or false")
    for key in ("user_k", "item_k"):
        if key in p and (isinstance(p[key], bool) or not isinstance(p[key], int)):
            raise RecsftError(f"--preprocess {key}={p[key]}: expected a whole number")
    try:
        _window_bounds(p.get("start"), p.get("end"))
        if p.get("keep_event_types") is not None:
            _kept_types(p["keep_event_types"])
        _check_k(int(p.get("user_k") or 0), int(p.get("item_k") or 0))
    except (ValueError, TypeError) as err:
        raise RecsftError(f"--preprocess: {err}") from None


def read_events(spark, options: Options):
    """The input as a DataFrame with raw canonical columns, the hidden order columns and, for
    CSV, the raw line of a row with the wrong number of fields.

    Returns:
        ``(frame, fmt, names)``: ``names`` is canonical -> the file's column.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from recsft.data.readers.common import resolve_columns

    path = options.input
    fmt = _detect_format(path, options.format)
    try:
        if fmt == "csv":
            reader = spark.read.option("header", True).option("escape", '"')
            header = [c.strip().lstrip("\ufeff") for c in reader.csv(path).columns]
            names = resolve_columns(Path(path), "csv", header, options.columns, line=1)
            fields = [T.StructField(f"_c{i}", T.StringType()) for i in range(len(header))]
            schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
            frame = (reader.option("mode", "PERMISSIVE")
                     .option("columnNameOfCorruptRecord", CORRUPT).schema(schema).csv(path))
            position = {name: i for i, name in enumerate(header)}
            source = {c: f"_c{position[n]}" for c, n in names.items()}
        else:
            frame = spark.read.parquet(path)
            names = resolve_columns(Path(path), "parquet", frame.columns, options.columns,
                                    what="schema")
            source = dict(names)
    except RecsftError:
        raise
    except Exception as err:  # Spark's AnalysisException: no such path, not Parquet, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EventLogError(path, f"Spark cannot read it ({first[:300]}); expected "
                                  f"{fmt.upper()} event data") from None
    names.pop("query", None)
    source.pop("query", None)
    selected = [F.col(f"`{column}`").alias(canonical) for canonical, column in source.items()]
    if fmt == "csv":
        selected.append(F.col(CORRUPT))
    frame = frame.select(*selected, F.col("_metadata.file_path").alias(FILE),
                         F.monotonically_increasing_id().alias(ROW))
    return frame, fmt, names


def _blank(column):
    return column.isNull() | column.rlike(r"(?U)^\s*$")


def _floor_div(sql: str, divisor: int):
    """Exact floor division of a bigint SQL expression (``div`` alone truncates towards zero,
    and a division through float64 is not exact for nanoseconds)."""
    from pyspark.sql import functions as F

    if divisor == 1:
        return F.expr(f"CAST(({sql}) AS BIGINT)")
    return F.expr(f"(({sql}) - pmod(({sql}), {divisor}L)) div {divisor}L")


def _ids(frame, canonical: str, fmt: str, path: str):
    """``(id as string, problem or null)`` for one id column, by its Spark type."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    column = F.col(canonical)
    kind = frame.schema[canonical].dataType
    rule = "expected a string or an integer"
    if isinstance(kind, T.StringType):
        text = F.coalesce(column, F.lit("")) if fmt == "csv" else column
    elif (isinstance(kind, (T.ByteType, T.ShortType, T.IntegerType, T.LongType))
          or (isinstance(kind, T.DecimalType) and kind.scale == 0)):
        text = column.cast("string")
    elif isinstance(kind, (T.FloatType, T.DoubleType)):
        value = column.cast("double")
        whole = (F.floor(value) == value) & (F.abs(value) < F.lit(float(MAX_FLOAT_ID)))
        whole = whole & ~F.isnan(value)
        text = F.when(whole, value.cast("bigint").cast("string"))
        problem = F.when(column.isNull(), F.lit("empty id; expected a non-empty value")).when(
            ~whole, F.lit("float id that is not a whole number below 2**53; " + rule))
        return text, problem
    elif isinstance(kind, T.BinaryType):
        text = column.cast("string")
    elif isinstance(kind, T.BooleanType):
        return F.lit(None).cast("string"), F.lit(f"boolean id; {rule}")
    else:
        raise EventLogError(path, f"ids of type {kind.simpleString()} are not "
                                  f"supported; {rule}", column=canonical)
    problem = F.when(_blank(text), F.lit("empty id; expected a non-empty value"))
    return text, problem


def _timestamps(frame, unit: str, fmt: str, path: str):
    """``(unix seconds as bigint, problem or null)`` by the column's Spark type."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    divisor = TIMESTAMP_UNITS[unit]
    column = F.col("timestamp")
    kind = frame.schema["timestamp"].dataType
    units = "unix seconds" if unit == "s" else f"unix time in {unit}"
    unparsable = F.lit(f"cannot parse the timestamp; expected {units} or an ISO-8601 date-time")
    if isinstance(kind, (T.TimestampType, T.TimestampNTZType)):
        seconds = _floor_div("unix_micros(CAST(`timestamp` AS TIMESTAMP))", 1_000_000)
    elif isinstance(kind, T.DateType):
        seconds = F.expr("unix_date(`timestamp`)").cast("bigint") * F.lit(86_400)
    elif isinstance(kind, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        seconds = _floor_div("CAST(`timestamp` AS BIGINT)", divisor)
    elif isinstance(kind, (T.FloatType, T.DoubleType, T.DecimalType)):
        value = column.cast("double")
        finite = ~F.isnan(value) & (F.abs(value) < F.lit(float("inf")))
        seconds = F.when(finite, F.floor(value / F.lit(float(divisor))).cast("bigint"))
    elif isinstance(kind, T.StringType):
        text = F.coalesce(column, F.lit("")) if fmt == "csv" else column
        number = F.trim(text)  # recsft reads a number padded with spaces (" 7") as the number
        as_integer = "try_cast(trim(`timestamp`) AS BIGINT)"
        as_double = F.expr("try_cast(trim(`timestamp`) AS DOUBLE)")
        as_time = "unix_micros(try_cast(`timestamp` AS TIMESTAMP))"
        seconds = (
            F.when(number.rlike(_INTEGER) & F.expr(as_integer).isNotNull(),
                   _floor_div(as_integer, divisor))
            .when(number.rlike(_NUMBER),
                  F.floor(as_double / F.lit(float(divisor))).cast("bigint"))
            .when(~text.rlike(r"(?U)^\s|\s$"), _floor_div(as_time, 1_000_000))
        )
    else:
        raise EventLogError(path, f"timestamps of type {kind.simpleString()} are not "
                                         "supported; expected numbers or ISO-8601 date-times",
                            column="timestamp")
    problem = F.when(seconds.isNull(), unparsable).when(
        (seconds < 0) | (seconds >= MAX_TIMESTAMP),
        F.lit(f"timestamp out of range; expected {units} between 1970-01-01 and 2100-01-01"))
    return seconds, problem


def _event_types(frame, event_map: Mapping[str, str] | None, fmt: str):
    """``(event type, problem or null)``."""
    from pyspark.sql import functions as F

    if "event_type" not in frame.columns:
        if event_map is not None:
            raise RecsftError("--event-map was given but the input has no event-type column; "
                              "expected --column event_type=NAME")
        return F.lit(DEFAULT_EVENT_TYPE), None
    column = F.col("event_type").cast("string")
    if fmt == "csv":
        column = F.coalesce(column, F.lit(""))
    if event_map is None:
        return F.coalesce(column, F.lit(DEFAULT_EVENT_TYPE)), None
    mapped = None
    for source, target in event_map.items():
        mapped = (F.when(column == F.lit(str(source)), F.lit(str(target))) if mapped is None
                  else mapped.when(column == F.lit(str(source)), F.lit(str(target))))
    problem = F.when(mapped.isNull(), F.lit(f"unknown or empty event type; expected one of "
                                            f"{sorted(event_map)} (the event map)"))
    return mapped, problem


def validate(frame, fmt: str, options: Options):
    """Canonical, typed columns and a ``problem`` column naming the first check a row fails
    (null for a good row)."""
    from pyspark.sql import functions as F

    users, user_problem = _ids(frame, "user_id", fmt, options.input)
    items, item_problem = _ids(frame, "item_id", fmt, options.input)
    times, time_problem = _timestamps(frame, options.timestamp_unit, fmt, options.input)
    types, type_problem = _event_types(frame, options.event_map, fmt)
    checks = [("user_id", user_problem), ("item_id", item_problem),
              ("timestamp", time_problem), ("event_type", type_problem)]
    problem = (F.when(F.col(CORRUPT).isNotNull(),
                      F.lit("row\twrong number of fields; expected one per header column"))
               if fmt == "csv" else None)
    for name, check in checks:
        if check is None:
            continue
        tagged = F.concat(F.lit(f"{name}\t"), check)
        problem = tagged if problem is None else F.coalesce(problem, tagged)
    raw = [F.col(c).cast("string").alias(f"_raw_{c}") for c in CANONICAL_COLUMNS
           if c in frame.columns]
    if fmt == "csv":
        raw.append(F.col(CORRUPT).alias("_raw_row"))
    return frame.select(users.alias("user_id"), items.alias("item_id"),
                        times.alias("timestamp"), types.alias("event_type"),
                        F.col(FILE), F.col(ROW), problem.alias(PROBLEM), *raw)


def handle_bad_rows(frame, names: Mapping[str, str], options: Options) -> tuple[Any, dict]:
    """Stop at the first bad row (``error``) or drop the bad rows and count them (``drop``)."""
    from pyspark.sql import functions as F

    bad = frame.filter(F.col(PROBLEM).isNotNull())
    if options.bad_rows == "drop":
        counts = {row[PROBLEM].replace("\t", ": ", 1): row["count"]
                  for row in bad.groupBy(PROBLEM).count().collect()}
        return frame.filter(F.col(PROBLEM).isNull()), counts
    first = bad.orderBy(*ORDER).limit(1).collect()
    if first:
        row = first[0].asDict()
        number = frame.filter((F.col(FILE) == row[FILE]) & (F.col(ROW) < row[ROW])).count() + 1
        canonical, message = row[PROBLEM].split("\t", 1)
        raw = row.get(f"_raw_{canonical}")
        if raw is not None:
            message = f"{message} (found {shorten(raw)})"
        raise EventLogError(_local_name(row[FILE]), message + "; or pass --bad-rows drop",
                            column=names.get(canonical), row=number)
    return frame, {}


def _local_name(uri: str) -> str:
    return uri[len("file:"):] if uri.startswith("file:") else uri


def clean(frame, preprocess: Mapping[str, Any]) -> tuple[Any, list[dict], bool]:
    """The recsft cleaning steps that are switched on, in recsft's order.

    Returns:
        ``(events, step records, collapsed)``; ``collapsed`` is whether the rows are now in
        recsft's collapse order (user id, time, file position).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from recsft.data.preprocess.cleaning import _kept_types, _window_bounds
    from recsft.data.preprocess.kcore import _check_k

    steps: list[dict] = []
    p = dict(preprocess)
    if p.get("start") is not None or p.get("end") is not None:
        lo, hi = _window_bounds(p.get("start"), p.get("end"))
        if lo is not None:
            frame = frame.filter(F.col("timestamp") >= lo)
        if hi is not None:
            frame = frame.filter(F.col("timestamp") < hi)
        steps.append({"name": "time_window", "params": {"start": lo, "end": hi}})
    if p.get("keep_event_types") is not None:
        kept = _kept_types(p["keep_event_types"])
        frame = frame.filter(F.col("event_type").isin(kept))
        steps.append({"name": "filter_event_types", "params": {"keep": kept}})
    if p.get("drop_duplicates"):
        first = Window.partitionBy("user_id", "item_id", "event_type", "timestamp").orderBy(*ORDER)
        frame = (frame.withColumn("_rs_n", F.row_number().over(first))
                 .filter(F.col("_rs_n") == 1).drop("_rs_n"))
        steps.append({"name": "drop_duplicates", "params": {}})
    collapsed = bool(p.get("collapse_repeats"))
    if collapsed:
        frame = collapse_repeats(frame)
        steps.append({"name": "collapse_repeats", "params": {}})
    user_k, item_k = _check_k(int(p.get("user_k") or 0), int(p.get("item_k") or 0))
    if user_k > 1 or item_k > 1:
        frame, iterations = k_core(frame, user_k, item_k)
        steps.append({"name": "k_core", "params": {"user_k": user_k, "item_k": item_k},
                      "iterations": iterations})
    return frame, steps, collapsed


def collapse_repeats(frame):
    """Consecutive events of a user on one item become one: the first event's timestamp and
    position, the last event's type (recsft's :func:`~recsft.data.preprocess.collapse_repeats`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    in_time = Window.partitionBy("user_id").orderBy("timestamp", *ORDER)
    running = in_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    previous = F.lag("item_id").over(in_time)
    starts = F.when(previous.isNull() | (previous != F.col("item_id")), 1).otherwise(0)
    grouped = frame.withColumn("_rs_start", starts).withColumn(
        "_rs_group", F.sum("_rs_start").over(running))
    return (grouped.groupBy("user_id", "_rs_group")
            .agg(F.min(F.struct("timestamp", *ORDER, "item_id")).alias("_rs_first"),
                 F.max(F.struct("timestamp", *ORDER, "event_type")).alias("_rs_last"))
            .select("user_id", F.col("_rs_first.item_id").alias("item_id"),
                    F.col("_rs_first.timestamp").alias("timestamp"),
                    F.col("_rs_last.event_type").alias("event_type"),
                    F.col(f"_rs_first.{FILE}").alias(FILE), F.col(f"_rs_first.{ROW}").alias(ROW)))


def k_core(frame, user_k: int, item_k: int) -> tuple[Any, int]:
    """Iterative user / item k-core (counts are events): each pass drops the events of users
    and items below their threshold, counted before the pass, until a pass drops nothing."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    current = frame.persist(StorageLevel.MEMORY_AND_DISK)
    iterations = 0
    while True:
        iterations += 1
        bad_users = current.groupBy("user_id").count().filter(F.col("count") < user_k)
        bad_items = current.groupBy("item_id").count().filter(F.col("count") < item_k)
        bad_users = bad_users.select("user_id").persist(StorageLevel.MEMORY_AND_DISK)
        bad_items = bad_items.select("item_id").persist(StorageLevel.MEMORY_AND_DISK)
        if bad_users.count() == 0 and bad_items.count() == 0:
            bad_users.unpersist()
            bad_items.unpersist()
            return current, iterations
        survivors = (current.join(bad_users, "user_id", "left_anti")
                     .join(bad_items, "item_id", "left_anti")
                     .persist(StorageLevel.MEMORY_AND_DISK))
        survivors.count()
        current.unpersist()
        bad_users.unpersist()
        bad_items.unpersist()
        current = survivors


def sequences(frame, collapsed: bool):
    """One row per user: the lists in time order (ties by file position); users in order of
    first appearance in the events recsft would hold (by user id after collapsing)."""
    from pyspark.sql import functions as F

    events = F.array_sort(F.collect_list(F.struct("timestamp", *ORDER, "item_id",
                                                  "event_type")))
    first = F.min(F.struct(*ORDER))
    table = frame.groupBy("user_id").agg(events.alias("_rs_events"), first.alias("_rs_first"))
    table = table.orderBy("user_id" if collapsed else "_rs_first")
    return table.select(
        F.col("user_id"),
        F.transform("_rs_events", lambda e: e["item_id"]).alias("item_ids"),
        F.transform("_rs_events", lambda e: e["event_type"]).alias("event_types"),
        F.transform("_rs_events", lambda e: e["timestamp"]).alias("timestamps"),
    )


def _owned(folder: Path) -> bool:
    try:
        return json.loads((folder / SUMMARY_FILE).read_text()).get("written_by") == WRITTEN_BY
    except (OSError, ValueError, AttributeError):
        return False


def run(spark, options: Options) -> dict[str, Any]:
    """Run the whole job on ``spark`` and write ``options.out``.

    Returns:
        The summary written to ``OUT/prepare_spark.json``.

    Raises:
        EventLogError: a missing file or column, or (``--bad-rows error``) a bad row.
        RecsftError: bad options, or an ``out`` this job did not write.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from recsft.fileio import atomic_write_text, swap_in, temporary_folder

    _check_options(options)
    local = not _is_uri(options.out)
    target = Path(options.out)
    raw, fmt, names = read_events(spark, options)
    checked = validate(raw, fmt, options).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        read_count = checked.count()
        if read_count == 0:
            raise EventLogError(options.input, "no events; expected at least one event")
        good, dropped = handle_bad_rows(checked, names, options)
        good = good.select("user_id", "item_id", "timestamp", "event_type", *ORDER)
        events, steps, collapsed = clean(good, options.preprocess)
        events = events.persist(StorageLevel.MEMORY_AND_DISK)
        counts = events.agg(F.count(F.lit(1)).alias("events"),
                            F.countDistinct("user_id").alias("users"),
                            F.countDistinct("item_id").alias("items")).collect()[0]
        if counts["events"] == 0:
            raise RecsftError("no events are left after cleaning; loosen --preprocess or check "
                              "--bad-rows")
        work = temporary_folder(target.resolve().parent, target.name) if local else None
        base = str(work) if local else options.out.rstrip("/")
        order = ("user_id", "timestamp", *ORDER) if collapsed else ORDER
        (events.orderBy(*order).select("user_id", "item_id", "timestamp", "event_type")
         .write.mode("errorifexists").parquet(f"{base}/events"))
        sequences(events, collapsed).write.mode("errorifexists").parquet(f"{base}/sequences")
        summary = {
            "written_by": WRITTEN_BY,
            "source": options.input,
            "format": fmt,
            "columns": names,
            "event_map": options.event_map,
            "timestamp_unit": options.timestamp_unit,
            "preprocess": options.preprocess,
            "bad_rows": {"policy": options.bad_rows, "dropped": dropped,
                         "total_dropped": int(sum(dropped.values()))},
            "events_read": int(read_count),
            "steps": steps,
            "stats": {"users": int(counts["users"]), "items": int(counts["items"]),
                      "interactions": int(counts["events"])},
            "spark": spark.version,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if local:
            atomic_write_text(work / SUMMARY_FILE, json.dumps(summary, indent=2))
            swap_in(work, target)
        else:
            spark.sparkContext.parallelize([json.dumps(summary, indent=2)], 1).saveAsTextFile(
                f"{base}/{SUMMARY_FILE}")
        events.unpersist()
        return summary
    except BaseException:
        if local and "work" in locals() and work is not None and work.exists():
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        checked.unpersist()


def main(argv: Sequence[str] | None = None, spark=None) -> int:
    """Command line entry; ``spark``: an existing session (tests), else one is started.

    Returns:
        0 on success, 2 after a one-line error about the input or the options.
    """
    try:
        options, conf = parse_args(argv)
        _check_options(options)
        own = spark is None
        if own:
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            spark = spark_session(conf)
            spark.sparkContext.setLogLevel("ERROR")
        try:
            summary = run(spark, options)
        finally:
            if own:
                spark.stop()
    except RecsftError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stats = summary["stats"]
    dropped = summary["bad_rows"]["total_dropped"]
    print(f"{options.out}: {stats['users']:,} users, {stats['items']:,} items, "
          f"{stats['interactions']:,} interactions ({dropped:,} bad rows dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
