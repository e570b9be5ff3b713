"""How fast and how lean is `recsft data prepare` on a large log, in memory and streaming?

One run generates a synthetic CSV log of about ``--events`` events (streamed to disk by the
generator, one chunk of users at a time) and runs ``recsft data prepare`` on it in a child
process, in memory and streaming (``--engine memory`` / ``--engine stream``), plain and with
de-duplication plus 5-core filtering, measuring wall time, events/s and the child's peak
resident memory (``getrusage(RUSAGE_CHILDREN)`` in a wrapper process). With
``--large-events N`` it then generates N events the same way (CSV, or Parquet with
``--large-format parquet``) and runs the streaming path on them with ``--memory-gib``. Writes
``benchmarks/results/data_scale.json``.

``--engines-events N`` instead compares, on N events, the engines a streaming preparation
could be built on: recsft's pure-pyarrow buckets, DuckDB (``memory_limit``,
``temp_directory``) and polars' streaming engine, each turning the CSV into per-user
sequences (time order, ties in file order) and the item table; writes
``benchmarks/results/data_engines.json``.

Usage:
    python scripts/benchmark_data_scale.py --events 10000000 --workdir /tmp/recsft-scale
    python scripts/benchmark_data_scale.py --events 10000000 --large-events 200000000 \\
        --workdir /tmp/recsft-scale
    python scripts/benchmark_data_scale.py --engines-events 5000000,20000000 \\
        --workdir /tmp/recsft-eng
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = {"num_items": 100_000, "num_categories": 200}
CSV_COLUMNS = {"user_id": "VARCHAR", "item_id": "VARCHAR", "timestamp": "BIGINT",
               "event_type": "VARCHAR"}


def measured(command: list[str], events: int | None = None) -> dict[str, float]:
    """Wall time, events/s and peak RSS of ``command``, measured by a wrapper process."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "s = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
        "print(json.dumps({'seconds': round(s, 2), 'peak_rss_gib': round(rss, 3)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *command], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if events:
        result["events_per_second"] = round(events / result["seconds"])
    return result


def generate(path: str, events: int, seed: int, fmt: str = "csv") -> dict:
    """A synthetic log of about ``events`` events at ``path`` (CSV, or Parquet converted from
    it in batches); returns its size and the generator config."""
    from recsft.data.synthetic import SyntheticConfig, expected_events_per_user, write_events_csv

    per_user = expected_events_per_user(SyntheticConfig(**SHAPE, seed=seed))
    # 1% more users than the expectation, so the log has at least --events events.
    config = SyntheticConfig(num_users=int(1.01 * events / per_user) + 1, seed=seed, **SHAPE)
    start = time.perf_counter()
    csv = path if fmt == "csv" else path + ".csv"
    write_events_csv(csv, config, tables=False)
    rows = 0
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        types = {"user_id": pa.string(), "item_id": pa.string(), "timestamp": pa.int64(),
                 "event_type": pa.string()}
        reader = pacsv.open_csv(csv, pacsv.ReadOptions(block_size=64 << 20),
                                convert_options=pacsv.ConvertOptions(column_types=types))
        with pq.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.remove(csv)
    else:
        with open(path, "rb") as handle:
            rows = sum(b.count(b"\n") for b in iter(lambda: handle.read(1 << 24), b"")) - 1
    return {"events": rows, "bytes": os.path.getsize(path), "format": fmt,
            "generate_seconds": round(time.perf_counter() - start, 2),
            "config": {"num_users": config.num_users, **SHAPE, "seed": seed}}


def prepare_command(path: str, out: str, engine: str, memory_gib: float,
                    extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "recsft.cli", "data", "prepare", "--input", path, "--out",
            out, "--force", "--engine", engine, "--memory-gib", str(memory_gib), *extra]


DEDUP_5CORE = ("--preprocess", "drop_duplicates=true", "--preprocess", "user_k=5",
               "--preprocess", "item_k=5")


def run_engine(engine: str, csv: str, out: str, memory_gib: float) -> None:
    """Child-process body of ``--run-engine``: CSV -> per-user sequences + item table."""
    os.makedirs(out, exist_ok=True)
    if engine == "duckdb":
        import duckdb

        spill = os.path.join(out, "spill")
        con = duckdb.connect()
        con.execute(f"SET memory_limit='{memory_gib}GB'")
        con.execute(f"SET temp_directory='{spill}'")
        columns = ", ".join(f"'{k}': '{v}'" for k, v in CSV_COLUMNS.items())
        con.execute(f"CREATE VIEW events AS SELECT *, row_number() OVER () AS pos FROM "
                    f"read_csv('{csv}', header=true, columns={{{columns}}})")
        order = "ORDER BY timestamp, pos"
        con.execute(f"COPY (SELECT user_id, list(item_id {order}) AS item_ids, "
                    f"list(event_type {order}) AS event_types, list(timestamp {order}) AS "
                    f"timestamps, min(pos) AS first FROM events GROUP BY user_id) TO "
                    f"'{out}/sequences.parquet' (FORMAT parquet)")
        con.execute(f"COPY (SELECT item_id, min(pos) AS first, count(*) AS count FROM events "
                    f"GROUP BY item_id ORDER BY first) TO '{out}/items.parquet' "
                    "(FORMAT parquet)")
    elif engine == "polars":
        import polars as pl

        types = {"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64,
                 "event_type": pl.String}
        events = pl.scan_csv(csv, schema_overrides=types).with_row_index("pos")
        (events.sort(["user_id", "timestamp", "pos"])
         .group_by("user_id", maintain_order=True)
         .agg(pl.col("item_id"), pl.col("event_type"), pl.col("timestamp"))
         .sink_parquet(f"{out}/sequences.parquet"))
        (events.group_by("item_id").agg(pl.col("pos").min().alias("first"),
                                         pl.len().alias("count"))
         .sort("first").sink_parquet(f"{out}/items.parquet"))
    else:
        raise SystemExit(f"unknown engine {engine}")


def versions() -> dict[str, str]:
    import pandas
    import pyarrow

    found = {"pandas": pandas.__version__, "pyarrow": pyarrow.__version__}
    for name in ("duckdb", "polars", "datasets"):
        with contextlib.suppress(ImportError):
            found[name] = __import__(name).__version__
    return found


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def compare_engines(args: argparse.Namespace) -> dict:
    sizes = [int(n) for n in str(args.engines_events).split(",")]
    inputs, runs = {}, {}
    for size in sizes:
        csv = os.path.join(args.workdir, "engines.csv")
        data = inputs[str(size)] = generate(csv, size, args.seed)
        for engine in ("pyarrow-buckets", "duckdb", "polars"):
            out = os.path.join(args.workdir, f"engine-{engine}")
            if engine == "pyarrow-buckets":
                command = prepare_command(csv, out, "stream", args.memory_gib)
            else:
                command = [sys.executable, os.path.abspath(__file__), "--run-engine", engine,
                           "--input", csv, "--workdir", out, "--memory-gib",
                           str(args.memory_gib)]
            try:
                runs.setdefault(engine, {})[str(size)] = measured(command, data["events"])
            except subprocess.CalledProcessError as err:
                runs.setdefault(engine, {})[str(size)] = {"failed": (err.stderr or "")[-400:]}
            shutil.rmtree(out, ignore_errors=True)
        os.remove(csv)
    return {
        "benchmark": "engines for the streaming preparation: CSV -> per-user sequences "
                     "(time order, ties in file order) and the item table, by input size",
        "inputs": inputs, "memory_gib": args.memory_gib, "runs": runs,
        "notes": "pyarrow-buckets is the full `recsft data prepare --engine stream` (validation,"
                 " events.parquet, users, stats included); duckdb and polars only build the "
                 "sequences and the item table. Peak RSS that grows with the input is not "
                 "bounded by the setting.",
        "machine": machine(), "versions": versions(),
        "command": " ".join(["python", "scripts/benchmark_data_scale.py", *sys.argv[1:]]),
    }


def scale(args: argparse.Namespace) -> dict:
    csv = os.path.join(args.workdir, "events.csv")
    data = generate(csv, args.events, args.seed)
    runs: dict[str, dict] = {}
    for name, extra in (("plain", ()), ("dedup_5core", DEDUP_5CORE)):
        for engine in ("memory", "stream"):
            out = os.path.join(args.workdir, f"{name}-{engine}")
            runs[f"{name}_{engine}"] = measured(
                prepare_command(csv, out, engine, args.memory_gib, extra), data["events"])
            shutil.rmtree(out, ignore_errors=True)
    result = {"benchmark": "recsft data prepare on a synthetic log, in memory and streaming",
              "input": data, "memory_gib": args.memory_gib, "prepare": runs}
    if args.large_events:
        os.remove(csv)
        suffix = "csv" if args.large_format == "csv" else "parquet"
        large = os.path.join(args.workdir, f"large.{suffix}")
        big = generate(large, args.large_events, args.seed, args.large_format)
        out = os.path.join(args.workdir, "large-stream")
        result["large"] = {"input": big, "plain_stream": measured(
            prepare_command(large, out, "stream", args.memory_gib), big["events"])}
        shutil.rmtree(out, ignore_errors=True)
    result.update(machine=machine(), versions=versions(), command=" ".join(
        ["python", "scripts/benchmark_data_scale.py", *sys.argv[1:]]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--large-events", type=int, default=0,
                        help="also stream a log of this many events (0: skip)")
    parser.add_argument("--large-format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--engines-events", default="",
                        help="compare the engines on this many events instead (a comma-"
                        "separated list: one comparison per size)")
    parser.add_argument("--memory-gib", type=float, default=4.0)
    parser.add_argument("--workdir", default="/tmp/recsft-scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-engine", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_engine:
        run_engine(args.run_engine, args.input, args.workdir, args.memory_gib)
        return
    os.makedirs(args.workdir, exist_ok=True)
    from recsft.report.text import write_benchmark_result

    if args.engines_events:
        name, result = "data_engines", compare_engines(args)
    else:
        name, result = "data_scale", scale(args)
    print("wrote", write_benchmark_result(ROOT, name, result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
