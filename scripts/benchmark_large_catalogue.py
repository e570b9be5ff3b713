"""Peak memory and speed of training over a 1,000,000-item catalogue on the CPU.

Trains a model with a sampled-softmax loss (logQ-corrected, uniform negatives) on a synthetic
shop whose catalogue has ``--items`` items (every item of the catalogue is in the vocabulary
and ranked: ``data.catalogue: items``), in a child process whose peak resident memory is read
from the kernel. Evaluation is full ranking over the whole catalogue. Writes
``benchmarks/results/large_catalogue.json``.

Usage:
    python scripts/benchmark_large_catalogue.py --items 1000000 --users 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], check=True)\n"
    "s = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
    "print(json.dumps({'seconds': round(s, 1), 'peak_rss_gib': round(rss, 3)}))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--output-dir", default="runs/large-catalogue")
    args = parser.parse_args()
    sets = {
        "name": f"{args.model}-{args.items}", "output_dir": args.output_dir,
        "data.synthetic": json.dumps({"num_users": args.users, "num_items": args.items,
                                      "num_categories": 1000, "seed": 0}),
        "data.catalogue": "items", "data.preprocess": json.dumps({"collapse_repeats": True}),
        "model.model_type": args.model, "model.loss": "sampled_softmax",
        "model.num_negatives": args.negatives, "model.negative_sampling": "uniform",
        "training.epochs": args.epochs, "training.eval_every": args.epochs,
        "training.batch_size": 128, "evaluation.batch_size": 64,
    }
    command = [sys.executable, "-m", "recsft.cli", "train", "--overwrite",
                   "--config", "configs/demo.yaml",
               *[f"--set={k}={v}" for k, v in sets.items()]]
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], cwd=ROOT, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "TQDM_DISABLE": "1"})
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    with open(os.path.join(ROOT, args.output_dir, sets["name"], "metrics.json")) as handle:
        metrics = json.load(handle)
    result = {
        "benchmark": "training with sampled softmax over a large catalogue, CPU",
        "catalogue_items": metrics["protocol"]["num_items"],
        "users": metrics["dataset"]["users"], "interactions": metrics["dataset"]["interactions"],
        **measured,
        "train_seconds": metrics["training"]["train_seconds"],
        "test": {k: metrics["test"][k] for k in ("ndcg@10", "recall@10")},
        "most_popular": {k: metrics["baselines"]["most_popular"]["test"][k]
                         for k in ("ndcg@10", "recall@10")},
        "protocol": metrics["protocol"], "settings": sets,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "environment": metrics["environment"],
    }
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "benchmarks", "results", "large_catalogue.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(result, handle, indent=2)
    os.replace(path + ".tmp", path)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
