"""One process vs two (Accelerate, CPU, gloo) on the same config: same quality within noise?

Trains the config twice, with ``recsft train`` and with ``accelerate launch --multi_gpu
--num_processes 2 scripts/finetune.py`` (two CPU processes over gloo on a machine without GPU),
then re-evaluates both checkpoints on the same test users and reports each run's NDCG@10 /
Recall@10 with a 95% confidence interval (normal approximation over users) and the paired
difference with its interval; a second single-process run with another seed gives the
training noise the difference is measured against.
Writes ``benchmarks/results/processes_<name>.json``.

Usage:
    python scripts/benchmark_processes.py --config configs/demo.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--output-dir", default="runs/processes")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    from recsft.config import RunConfig
    from recsft.environment import environment
    from recsft.evaluation.statistics import normal_interval as interval
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer

    base = RunConfig.from_yaml(args.config, args.overrides)
    sets = [f"--set={o}" for o in args.overrides] + [f"--set=output_dir={args.output_dir}"]
    runs = {
        "one_process": [sys.executable, "-m", "recsft.cli", "train", "--overwrite",
                        "--config", args.config, *sets, "--set=name=one-process"],
        # Training noise reference: the same single-process run with another seed.
        "one_process_other_seed": [sys.executable, "-m", "recsft.cli", "train", "--overwrite",
                                   "--config", args.config, *sets,
                                   "--set=name=one-process-other-seed",
                                   f"--set=training.seed={base.training.seed + 1}"],
        # On a machine without GPU, --multi_gpu starts two CPU processes (torch.distributed
        # over gloo); `--cpu --num_processes 2` would start one (huggingface/accelerate#2741).
        "two_processes": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                          "--num_processes", "2", "scripts/finetune.py", "--overwrite",
                          "--config", args.config, *sets, "--set=name=two-processes"],
    }
    result: dict = {"config": base.to_dict(), "environment": environment(), "runs": {}}
    per_user = {}
    for name, command in runs.items():
        seconds = train(command)
        run_dir = os.path.join(args.output_dir, name.replace("_", "-"))
        run = Run.open(run_dir)
        model, evaluator = run.model(), run.evaluator()
        per_user[name] = evaluator.per_user(model_scorer(model))
        with open(os.path.join(run_dir, "metrics.json")) as handle:
            metrics = json.load(handle)
        result["runs"][name] = {
            "wall_seconds": round(seconds, 1),
            "training": metrics["training"],
            "ndcg@10": interval(per_user[name]["ndcg@10"]),
            "recall@10": interval(per_user[name]["recall@10"]),
            "most_popular_ndcg@10": metrics["baselines"]["most_popular"]["test"]["ndcg@10"],
        }
        result["protocol"] = metrics["protocol"]
    for key in ("ndcg@10", "recall@10"):
        one = per_user["one_process"][key]
        result[f"paired_difference_{key}"] = {
            "two_processes_minus_one_process": interval(per_user["two_processes"][key] - one),
            "other_seed_minus_one_process (noise reference)": interval(
                per_user["one_process_other_seed"][key] - one
            ),
        }
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    out = os.path.join(ROOT, "benchmarks", "results", f"processes_{base.name}.json")
    with open(out + ".tmp", "w") as handle:
        json.dump(result, handle, indent=2)
    os.replace(out + ".tmp", out)
    print(json.dumps({k: v for k, v in result.items() if k not in ("config", "environment")},
                     indent=2))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
