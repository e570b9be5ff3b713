"""Rolling incremental evaluation of a config: warm-started vs retrained vs frozen, per window.

Runs ``recsft windows --mode compare`` (docs/continual.md) once per seed and writes
``benchmarks/results/continual_<name>.json``: the machine and library versions, the resolved
config, the command of each seed, per window and mode the test NDCG@10 / Recall@10 with their
95 % bootstrap intervals, training seconds and sequences, the paired incremental-vs-retrain
differences, and the summary: the training-time ratio incremental / retrain, the quality ratio,
whether incremental's NDCG@10 lies inside retrain's interval in each window, and the frozen
model's decay; over seeds, the mean of the ratios.

Usage (named datasets are read from ``$RECSFT_DATA_DIR/<name>``)::

    python scripts/benchmark_continual.py --config configs/demo.yaml --windows 5 \\
        --window-days 1 --seeds 42 43 44
    python scripts/benchmark_continual.py --config configs/taobao-pretrain.yaml \\
        --set data.preprocess.end=2017-12-04 --windows 3 --window-days 1 --name taobao-sample

The runs go to ``<runs-dir>/<name>-seed<S>/<mode>-window-<w>`` (default
``benchmarks/.continual-runs``), each seed's ``recsft windows`` JSON and plot beside them
(``<runs-dir>/<name>-seed<S>.json`` / ``.png``); an existing run is refused unless
``--overwrite``, or reused with ``--reuse`` (the seed's earlier ``recsft windows`` JSON is read
instead of training again).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADLINE = ("ndcg@10", "recall@10")


def seed_command(args: argparse.Namespace, seed: int, run_name: str, output: str) -> list[str]:
    """The ``recsft windows`` command line of one seed (its JSON at ``output``, its plot beside
    it with ``.png``)."""
    command = [sys.executable, "-m", "recsft.cli", "windows", "--mode", "compare",
               "--config", args.config, "--windows", str(args.windows),
               "--window-days", f"{args.window_days:g}", "--resamples", str(args.resamples),
               *[f"--set={o}" for o in args.overrides],
               f"--set=training.seed={seed}", f"--set=output_dir={args.runs_dir}",
               f"--set=name={run_name}", "--output", output,
               "--plot", os.path.splitext(output)[0] + ".png"]
    if args.overwrite:
        command.append("--overwrite")
    return command


def _figures(run: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "run": run["run"], "shared_window_0": run["shared"], "users": run["users"],
        "items": run["items"], "train_seconds": run["train_seconds"],
        "wall_seconds": run["wall_seconds"], "train_sequences": run["train_sequences"],
        "epochs_run": run["epochs_run"]}
    for key in HEADLINE:
        figures[key] = run["intervals"].get(key, {"mean": run["test"][key]})
    return figures


def per_window(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-window figures of a ``recsft windows --mode compare`` result."""
    out = []
    for row, bounds in zip(result["rows"], result["time_windows"]):
        entry: dict[str, Any] = {
            "window": row["window"],
            **{k: bounds[k] for k in ("valid_cutoff", "cutoff", "test_end")},
            "modes": {mode: _figures(run) for mode, run in row["runs"].items()},
        }
        paired = row.get("paired", {})
        entry["incremental_vs_retrain"] = paired if "error" in paired else {
            key: {"difference": value["difference"], "permutation_p": value["permutation_p"],
                  "permutation_p_holm": value["permutation_p_holm"],
                  "t_test_p": value["t_test_p"]}
            for key, value in paired.items()}
        out.append(entry)
    return out


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def over_seeds(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds of the summary ratios, and the count of windows (after window 0)
    where incremental's NDCG@10 lies inside retrain's interval."""
    summaries = [s["summary"] for s in seeds]
    within = [w for s in summaries for w in s["incremental_ndcg@10_within_retrain_interval"][1:]]
    return {
        "seeds": len(seeds),
        "train_seconds_ratio": _mean([s["train_seconds_ratio"] for s in summaries]),
        "train_seconds_ratio_total": _mean([s["train_seconds_ratio_total"] for s in summaries]),
        "quality_ratio": {key: _mean([s["quality_ratio"][key]["mean"] for s in summaries])
                          for key in HEADLINE},
        "frozen_decay_last_window": {
            key: _mean([s["frozen_decay"][key][-1] for s in summaries]) for key in HEADLINE},
        "incremental_within_retrain_interval": {"windows": len(within),
                                                "inside": sum(bool(w) for w in within)},
    }


def _ours(path: Any) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("benchmark") == "continual"
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window-days", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: the "
                        "config's)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--name", help="result name (default: the config's name)")
    parser.add_argument("--runs-dir", default=os.path.join("benchmarks", ".continual-runs"))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace earlier runs")
    group.add_argument("--reuse", action="store_true",
                       help="read a seed's earlier result instead of training it again")
    parser.add_argument("--output", help="write here instead of "
                        "benchmarks/results/continual_<name>.json")
    args = parser.parse_args(argv)

    from recsft.config import RunConfig
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text, make_folder
    from recsft.report.text import write_benchmark_result
    from recsft.runs.guard import check_file_output

    if args.output:   # never replace a file this script did not write
        check_file_output(args.output, "--output", _ours)
    config = RunConfig.from_yaml(args.config, args.overrides)
    name = args.name or config.name
    seeds = args.seeds or [config.training.seed]
    make_folder(args.runs_dir)
    results = []
    for seed in seeds:
        run_name = f"{name}-seed{seed}"
        output = os.path.join(args.runs_dir, f"{run_name}.json")
        command = seed_command(args, seed, run_name, output)
        if not (args.reuse and os.path.isfile(output)):
            print("$", shlex.join(command), flush=True)
            subprocess.run(command, check=True)
        with open(output, encoding="utf-8") as handle:
            result = json.load(handle)
        results.append({"seed": seed, "command": shlex.join(command), "result_file": output,
                        "plot_file": os.path.splitext(output)[0] + ".png",
                        "windows": per_window(result), "summary": result["summary"]})
    record = {
        "benchmark": "continual",
        "name": name,
        "environment": environment(),
        "config": config.to_dict(),
        "windows": args.windows,
        "window_days": args.window_days,
        "seeds": results,
        "summary": over_seeds(results),
    }
    if args.output:
        atomic_write_text(args.output, json.dumps(record, indent=2, default=str))
        path = args.output
    else:
        path = write_benchmark_result(ROOT, f"continual_{name}", record)
    summary = record["summary"]
    print(f"wrote {path}: training time incremental / retrain {summary['train_seconds_ratio']}, "
          f"NDCG@10 ratio {summary['quality_ratio']['ndcg@10']}, inside retrain's interval in "
          f"{summary['incremental_within_retrain_interval']['inside']} of "
          f"{summary['incremental_within_retrain_interval']['windows']} windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
