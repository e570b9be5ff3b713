"""How fast and how lean is `recsft data prepare` on a large log?

Generates a synthetic CSV log of about ``--events`` events (streamed to disk by the generator),
then runs ``recsft data prepare`` on it in a child process, plain and with de-duplication plus
5-core filtering, measuring wall time and the child's peak resident memory. Writes
``benchmarks/results/data_scale.json`` with the machine, versions and sizes.

Usage:
    python scripts/benchmark_data_scale.py --events 10000000 --workdir /tmp/recsft-scale
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measured(command: list[str]) -> dict[str, float]:
    """Wall time and peak RSS of ``command``, measured by a wrapper process of its own."""
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
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--workdir", default="/tmp/recsft-scale")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from recsft.data.synthetic import SyntheticConfig, expected_events_per_user, write_events_csv

    os.makedirs(args.workdir, exist_ok=True)
    events_csv = os.path.join(args.workdir, "events.csv")
    shape = {"num_items": 100_000, "num_categories": 200, "seed": args.seed}
    per_user = expected_events_per_user(SyntheticConfig(**shape))
    # 1% more users than the expectation, so the log has at least --events events.
    config = SyntheticConfig(num_users=int(1.01 * args.events / per_user) + 1, **shape)
    start = time.perf_counter()
    write_events_csv(events_csv, config)
    generate_seconds = time.perf_counter() - start
    with open(events_csv, "rb") as handle:
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1

    prepare = [sys.executable, "-m", "recsft.cli", "data", "prepare", "--input", events_csv,
               "--force"]
    runs = {
        "plain": measured([*prepare, "--out", os.path.join(args.workdir, "plain")]),
        "dedup_5core": measured([*prepare, "--out", os.path.join(args.workdir, "dedup_5core"),
                                 "--preprocess", "drop_duplicates=true",
                                 "--preprocess", "user_k=5", "--preprocess", "item_k=5"]),
    }
    import pandas
    import pyarrow

    result = {
        "benchmark": "recsft data prepare on a synthetic CSV log",
        "events": rows,
        "csv_bytes": os.path.getsize(events_csv),
        "generate_seconds": round(generate_seconds, 2),
        "prepare": runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "versions": {"pandas": pandas.__version__, "pyarrow": pyarrow.__version__},
        "config": {"num_users": config.num_users, "num_items": config.num_items,
                   "num_categories": config.num_categories, "seed": config.seed},
        "command": " ".join(["python", "scripts/benchmark_data_scale.py", *sys.argv[1:]]),
    }
    from recsft.report.text import write_benchmark_result

    print("wrote", write_benchmark_result(ROOT, "data_scale", result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
