"""How long does reopening a saved run take before it can evaluate: from the cleaned events
saved with the run, against reading and cleaning the raw source again (what every reopened run
did before runs kept their events)?

For one run folder (written by ``recsft train``, so it holds ``data/``), each round times, in
this process and alternating the two ways:

- ``saved``: ``Run.open`` (manifest and digests checked), then the evaluator on the test split,
  with the events read from ``data/events.parquet``;
- ``source``: the same, with the events read from ``data.source`` and cleaned again.

Both build identical evaluators (the script checks users and targets). It also times whole
``recsft evaluate --n-resamples 0`` commands both ways (a copy of the run without ``data/``
for the second). Writes ``benchmarks/results/reopen_<run name>.json``.

Usage:
    python scripts/benchmark_reopen.py --run runs/sasrec-beauty --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def time_open(run_dir: str, saved: bool) -> tuple[float, tuple]:
    """Seconds from ``Run.open`` to a ready test evaluator, and what it evaluates."""
    from recsft.runs import Run

    started = time.perf_counter()
    run = Run.open(run_dir)
    # Naming the run's own data section reads its source again (what runs did before data/).
    evaluator = run.evaluator("test", None if saved else run.config.data)
    seconds = time.perf_counter() - started
    return seconds, (tuple(evaluator.user_ids), tuple(evaluator.target_items))


def time_command(run_dir: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsft.cli", "evaluate", "--run", run_dir,
                    "--n-resamples", "0", "--json"], check=True, cwd=ROOT,
                   capture_output=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run folder written by recsft train")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    from recsft.environment import environment
    from recsft.report.text import write_benchmark_result
    from recsft.runs import Run
    from recsft.runs.files import DATA_DIR

    run = Run.open(args.run)
    if not (run.path / DATA_DIR).is_dir():
        parser.error(f"{args.run} holds no saved events (data/): train it with this recsft")
    timings: dict[str, list[float]] = {"saved": [], "source": []}
    reference = None
    for _ in range(args.rounds):
        for way in ("saved", "source"):
            seconds, evaluated = time_open(args.run, saved=way == "saved")
            reference = reference or evaluated
            if evaluated != reference:
                raise SystemExit("the two ways built different evaluators")
            timings[way].append(seconds)
    # Whole commands; the copy without data/ is resealed (its other files are unchanged).
    scratch = tempfile.mkdtemp()
    try:
        bare = os.path.join(scratch, "run")
        shutil.copytree(args.run, bare)
        shutil.rmtree(os.path.join(bare, DATA_DIR))
        Run.seal(bare)
        commands: dict[str, list[float]] = {"saved": [], "source": []}
        for _ in range(args.rounds):
            commands["saved"].append(time_command(args.run))
            commands["source"].append(time_command(bare))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def summary(values: list[float]) -> dict:
        return {"median_s": round(statistics.median(values), 3),
                "all_s": [round(v, 3) for v in values]}

    medians = {w: statistics.median(v) for w, v in timings.items()}
    command_medians = {w: statistics.median(v) for w, v in commands.items()}
    result = {
        "run": args.run,
        "dataset": run.metrics.get("dataset", {}),
        "rounds": args.rounds,
        "open_to_evaluator": {w: summary(v) for w, v in timings.items()},
        "open_to_evaluator_speedup": round(medians["source"] / medians["saved"], 2),
        "evaluate_command": {w: summary(v) for w, v in commands.items()},
        "evaluate_command_speedup": round(command_medians["source"] / command_medians["saved"],
                                          2),
        "environment": {**environment(), "machine": platform.machine()},
    }
    path = write_benchmark_result(ROOT, f"reopen_{os.path.basename(os.path.normpath(args.run))}",
                                  result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
