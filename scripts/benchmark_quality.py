"""Train a config (or take a finished run) and record its quality next to most-popular.

Writes ``benchmarks/results/quality_<run name>.json``: the test metrics, the most-popular
baseline on the same split, the protocol and dataset version, the config, wall time, epochs,
machine and library versions — everything a number needs beside it.

Usage:
    python scripts/benchmark_quality.py --config configs/bert4rec-beauty.yaml
    python scripts/benchmark_quality.py --from-run runs/bert4rec-beauty   # record a finished run
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="YAML run config to train")
    source.add_argument("--from-run", help="finished run folder to record")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    if args.config:
        from recsft.training.arguments import RunConfig

        command = [sys.executable, "-m", "recsft.cli", "train", "--config", args.config,
                   *[f"--set={o}" for o in args.overrides]]
        subprocess.run(command, check=True, cwd=ROOT)
        run_dir = RunConfig.from_yaml(os.path.join(ROOT, args.config), args.overrides).run_dir
        run_dir = os.path.join(ROOT, run_dir)
        shown = "recsft train --config " + args.config + "".join(
            f" --set {shlex.quote(o)}" for o in args.overrides)
    else:
        run_dir = args.from_run
        shown = f"(recorded from {run_dir})"
    with open(os.path.join(run_dir, "metrics.json")) as handle:
        record = json.load(handle)
    record["command"] = shown
    name = record["config"]["name"]
    from recsft.reporting import write_benchmark_result

    out = write_benchmark_result(ROOT, f"quality_{name}", record)
    test, popular = record["test"], record["baselines"]["most_popular"]["test"]
    training = record["training"]
    print(f"{name}: test ndcg@10 {test['ndcg@10']:.4f} recall@10 {test['recall@10']:.4f} | "
          f"most-popular ndcg@10 {popular['ndcg@10']:.4f} | epochs {training['epochs_run']} "
          f"(best {training['best_epoch']}), {training['wall_seconds']:.0f} s -> {out}")


if __name__ == "__main__":
    main()
