"""Ablation of the model inputs beyond item ids: event types, time gaps, item categories.

Trains the same config once per input set (same seed, same split) plus a seed-noise reference,
then compares every variant with "items only" on the same test users: per-user paired
differences of NDCG@10 and Recall@10 with 95% intervals. Writes
``benchmarks/results/inputs_<config name>.json`` with the protocol, dataset, config and machine.

Usage:
    python scripts/benchmark_inputs.py --config configs/demo.yaml --set model.model_type=sasrec
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Variant name -> model overrides. "items_only" is the reference.
VARIANTS = {
    "items_only": {"use_event_types": False, "use_time_gaps": False, "use_categories": False},
    "event_types": {"use_event_types": True, "use_time_gaps": False, "use_categories": False},
    "time_gaps": {"use_event_types": False, "use_time_gaps": True, "use_categories": False},
    "categories": {"use_event_types": False, "use_time_gaps": False, "use_categories": True},
    "all_inputs": {"use_event_types": True, "use_time_gaps": True, "use_categories": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--output-dir", default="runs/inputs")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()

    from recsft.config import RunConfig
    from recsft.environment import environment
    from recsft.evaluation.statistics import normal_interval
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer

    base = RunConfig.from_yaml(args.config, args.overrides)
    common = [*(f"--set={o}" for o in args.overrides), f"--set=output_dir={args.output_dir}"]
    runs = {name: [f"--set=model.{k}={str(v).lower()}" for k, v in VARIANTS[name].items()]
            for name in ["items_only", *[v for v in args.variants if v != "items_only"]]}
    # Training noise: the reference again with another seed.
    runs["items_only_other_seed"] = [*runs["items_only"],
                                     f"--set=training.seed={base.training.seed + 1}"]
    result: dict = {"config": base.to_dict(), "overrides": args.overrides,
                    "environment": environment(), "runs": {}}
    per_user = {}
    for name, sets in runs.items():
        started = time.perf_counter()
        command = [sys.executable, "-m", "recsft.cli", "train", "--overwrite",
                   "--config", args.config,
                   *common, *sets, f"--set=name={name}"]
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"})
        run_dir = os.path.join(args.output_dir, name)
        run = Run.open(run_dir)
        model, evaluator = run.model(), run.evaluator()
        per_user[name] = evaluator.per_user(model_scorer(model))
        with open(os.path.join(run_dir, "metrics.json")) as handle:
            metrics = json.load(handle)
        result["runs"][name] = {
            "overrides": sets,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "epochs_run": metrics["training"]["epochs_run"],
            "best_epoch": metrics["training"]["best_epoch"],
            **{key: normal_interval(per_user[name][key]) for key in ("ndcg@10", "recall@10")},
        }
        result["protocol"], result["dataset"] = metrics["protocol"], metrics["dataset"]
        print(f"{name}: ndcg@10 {result['runs'][name]['ndcg@10']['mean']:.4f}", flush=True)
    reference = per_user["items_only"]
    result["paired_difference_vs_items_only"] = {
        name: {key: normal_interval(values[key] - reference[key])
               for key in ("ndcg@10", "recall@10")}
        for name, values in per_user.items() if name != "items_only"
    }
    from recsft.report.text import write_benchmark_result

    print("wrote", write_benchmark_result(ROOT, f"inputs_{base.name}", result))
    print(json.dumps(result["paired_difference_vs_items_only"], indent=2))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
