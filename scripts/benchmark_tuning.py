"""The pruner's saving: the same ``recsft tune`` study with a pruner and without.

Runs ``recsft tune`` twice on one config, with the same sampler seed, trials and budget: once
with ``tune.pruner`` (default ``hyperband``), once with ``tune.pruner=none``. Each study selects
on validation only and tests its chosen config once at the end (``--final-seeds``). Writes
``benchmarks/results/tuning_<name>.json``: the machine and library versions, the resolved config,
the commands, and per study the trials run (complete / pruned / failed), the epochs spent, the
training and wall seconds, the best validation NDCG@10 with the chosen values, and the final
test metrics of the chosen config with their intervals; then the saving (epochs and seconds per
trial, pruned against unpruned).

Usage (named datasets are read from ``$RECSFT_DATA_DIR/<name>``)::

    # the budget: 3x the wall time of one full training of the hand-tuned config, read from
    # its quality benchmark (mean over its seeds)
    python scripts/benchmark_tuning.py --config configs/sasrec-ml100k.yaml --trials 40 \\
        --budget-from benchmarks/results/quality_sasrec-ml100k.json --budget-factor 3 \\
        --final-seeds 42 43 44
    # the budget: 3 trainings of the config as given, timed in the study itself (trial 0 is
    # the config's own values; every trial runs in the same conditions)
    python scripts/benchmark_tuning.py --config configs/sasrec-scientific.yaml --trials 100 \
        --budget-trainings 3 --final-seeds 42 43 44
    # a quick check on the demo shop
    python scripts/benchmark_tuning.py --config configs/demo.yaml --trials 3 \\
        --set training.epochs=4 --set training.eval_every=1 --name demo-check

The studies go to ``<runs-dir>/<name>-<pruner>-tune`` and ``<runs-dir>/<name>-none-tune``
(default ``benchmarks/.tuning-runs``); an interrupted benchmark continues its studies when run
again (``recsft tune`` resumes), ``--fresh`` refuses to start on an existing study instead.
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


def budget_minutes(args: argparse.Namespace) -> float | None:
    """``--budget-minutes``, or ``--budget-factor`` x the mean wall time of the seeds of the
    quality benchmark ``--budget-from`` (one full training of the hand-tuned config)."""
    if args.budget_from is None:
        return args.budget_minutes
    with open(args.budget_from, encoding="utf-8") as handle:
        seeds = json.load(handle)["seeds"]
    walls = [seed["training"]["wall_seconds"] for seed in seeds]
    return args.budget_factor * sum(walls) / len(walls) / 60.0


def study_command(args: argparse.Namespace, pruner: str, budget: float | None) -> list[str]:
    """The ``recsft tune`` command line of one study."""
    command = [sys.executable, "-m", "recsft.cli", "-q", "tune", "--config", args.config,
               "--trials", str(args.trials), "--json",
               *[f"--set={o}" for o in args.overrides],
               f"--set=tune.pruner={pruner}", f"--set=tune.seed={args.seed}",
               f"--set=output_dir={args.runs_dir}", f"--set=name={args.name}-{pruner}"]
    if budget is not None:
        command += ["--budget-minutes", f"{budget:.4g}"]
    if args.budget_trainings is not None:
        command += ["--budget-trainings", f"{args.budget_trainings:g}"]
    if args.final_seeds:
        command += ["--final-seeds", *map(str, args.final_seeds)]
    return command


def study_figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the benchmark keeps of one ``tune_result.json``."""
    study, best, final = result["study"], result["best"], result.get("final") or {}
    trials = max(study["trials"], 1)
    return {
        "trials": study["trials"], "complete": study["complete"], "pruned": study["pruned"],
        "failed": study["failed"], "epochs_spent": study["epochs_spent"],
        "epochs_per_trial": study["epochs_spent"] / trials,
        "trial_seconds": study["trial_seconds"], "seconds_per_trial":
            study["trial_seconds"] / trials, "wall_seconds": result.get("wall_seconds"),
        "pruner": study["pruner"], "budget": result.get("budget"),
        "best_valid": best["valid"], "best_trial": best["trial"], "best_params": best["params"],
        "best_epochs": best["epochs"],
        "final_seeds": final.get("seeds"), "final_epochs_run": final.get("epochs_run"),
        "final_test": {key: final["test"][key] for key in HEADLINE if key in final.get("test",
                                                                                       {})},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--name", help="result name (default: the config file's stem)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--pruner", default="hyperband", choices=("hyperband",
                                                                  "successive_halving"))
    parser.add_argument("--seed", type=int, default=0, help="sampler seed of both studies")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-minutes", type=float)
    budget.add_argument("--budget-from", metavar="QUALITY_JSON",
                        help="a benchmarks/results/quality_*.json of the hand-tuned config: the "
                             "budget is --budget-factor x its mean wall seconds per training")
    budget.add_argument("--budget-trainings", type=float, metavar="N",
                        help="recsft tune --budget-trainings: N trainings of the config as "
                             "given, timed as the study's trial 0")
    parser.add_argument("--budget-factor", type=float, default=3.0)
    parser.add_argument("--final-seeds", type=int, nargs="+")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "benchmarks", ".tuning-runs"))
    parser.add_argument("--results-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--fresh", action="store_true",
                        help="refuse to continue an existing study of this name")
    args = parser.parse_args(argv)
    args.name = args.name or os.path.splitext(os.path.basename(args.config))[0]
    minutes = budget_minutes(args)
    studies: dict[str, Any] = {}
    commands = {}
    for pruner in (args.pruner, "none"):
        folder = os.path.join(args.runs_dir, f"{args.name}-{pruner}-tune")
        if args.fresh and os.path.exists(os.path.join(folder, "study.db")):
            print(f"error: {folder}/study.db exists (--fresh)", file=sys.stderr)
            return 2
        command = study_command(args, pruner, minutes)
        commands[pruner] = shlex.join(command)
        print(f"$ {commands[pruner]}", file=sys.stderr, flush=True)
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            print(f"error: recsft tune (pruner {pruner}) exited {done.returncode}",
                  file=sys.stderr)
            return done.returncode
        studies[pruner] = json.loads(done.stdout)
    pruned, full = (study_figures(studies[p]) for p in (args.pruner, "none"))
    first = studies[args.pruner]
    record = {
        "name": args.name,
        "command": "python scripts/benchmark_tuning.py " + shlex.join(sys.argv[1:]
                                                                      if argv is None else argv),
        "budget_minutes": minutes, "budget_trainings": args.budget_trainings,
        "trials": args.trials, "sampler_seed": args.seed,
        "studies": {args.pruner: pruned, "none": full},
        "saving": {
            "epochs_per_trial_ratio": (pruned["epochs_per_trial"] / full["epochs_per_trial"]
                                       if full["epochs_per_trial"] else None),
            "seconds_per_trial_ratio": (pruned["seconds_per_trial"] / full["seconds_per_trial"]
                                        if full["seconds_per_trial"] else None),
            "trials_ratio": pruned["trials"] / max(full["trials"], 1),
            "best_valid_difference": pruned["best_valid"] - full["best_valid"],
        },
        "study_commands": commands,
        "environment": first["environment"],
        "config": first["config"],
    }
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"tuning_{args.name}.json")
    sys.path.insert(0, ROOT)
    from recsft.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps({"studies": record["studies"], "saving": record["saving"]}, indent=2,
                     default=str))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
