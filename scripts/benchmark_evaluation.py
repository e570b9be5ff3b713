"""Speed and memory of full-ranking evaluation: a real run, and 100,000 users × 1,000,000 items.

Two measurements, each in a child process whose peak resident memory it reports itself:

* ``real``: a trained run folder's test split through the trainer's evaluator (encode every
  user with the model, score the whole catalogue, mask the history, top-K, metrics); one
  warm-up pass, then the median of ``--repeats`` timed passes. Default: SASRec on Amazon Beauty,
  BERT4Rec version (40,226 users × 54,542 items).
* ``synthetic``: ``--users`` random user vectors against ``--items`` random item vectors
  (``--dim``), 5 history items filtered per user, through the same evaluator code (the scorer is
  a matrix product); one timed pass.

Writes ``benchmarks/results/evaluation_speed.json`` with the machine, versions and settings.

Usage:
    python scripts/benchmark_evaluation.py --run runs/sasrec-beauty-bert4rec
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def measure_real(run_dir: str, repeats: int) -> dict:
    import torch

    from recsft.evaluation.ranking import model_scorer
    from recsft.training.pipeline import load_run

    model, evaluator, log = load_run(run_dir)
    evaluator.evaluate_model(model)  # warm-up
    seconds, metrics = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        metrics = evaluator.evaluate(model_scorer(model))
        seconds.append(time.perf_counter() - start)
    return {
        "run": run_dir,
        "dataset": {"source": log.source, **log.stats()},
        "protocol": evaluator.protocol.to_dict(),
        "users": len(evaluator),
        "items": evaluator.num_items,
        "users_per_chunk": evaluator.batch_size,
        "torch_threads": torch.get_num_threads(),
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds": [round(s, 3) for s in seconds],
        "ndcg@10": metrics["ndcg@10"],
        "peak_rss_gib": peak_rss_gib(),
    }


def measure_synthetic(users: int, items: int, dim: int, seed: int) -> dict:
    import numpy as np
    import torch

    from recsft.data.split import EvalSet
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.tokenization import BehaviorTokenizer

    rng = np.random.default_rng(seed)
    names = [f"i{i}" for i in range(items)]
    tokenizer = BehaviorTokenizer.from_sequences([names])
    histories = rng.integers(0, items, size=(users, 5))
    targets = rng.integers(0, items, size=users)
    eval_set = EvalSet(
        user_ids=[f"u{u}" for u in range(users)],
        histories=[[names[i] for i in row] for row in histories],
        history_event_types=[["view"] * 5 for _ in range(users)],
        targets=[names[i] for i in targets],
    )
    evaluator = RankingEvaluator(eval_set, tokenizer, max_length=6, ks=(10, 20),
                                 append_mask=False)
    generator = torch.Generator().manual_seed(seed)
    user_vectors = torch.randn(users, dim, generator=generator)
    item_vectors = torch.randn(items, dim, generator=generator)

    def score(batch: dict) -> torch.Tensor:
        return user_vectors[batch["index"]] @ item_vectors.T

    start = time.perf_counter()
    metrics = evaluator.evaluate(score)
    return {
        "users": users,
        "items": items,
        "dim": dim,
        "users_per_chunk": evaluator.batch_size,
        "torch_threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - start, 1),
        "ndcg@10": metrics["ndcg@10"],
        "peak_rss_gib": peak_rss_gib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/sasrec-beauty-bert4rec")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["real", "synthetic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "real":
        print(json.dumps(measure_real(args.run, args.repeats)))
        return
    if args.only == "synthetic":
        print(json.dumps(measure_synthetic(args.users, args.items, args.dim, args.seed)))
        return

    from recsft.training.pipeline import environment

    result = {"environment": {**environment(), "machine": platform.machine()},
              "settings": vars(args)}
    for part in ("real", "synthetic"):
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", part],
                              check=True, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "TQDM_DISABLE": "1"})
        result[part] = json.loads(done.stdout.strip().splitlines()[-1])
        print(part, json.dumps(result[part]), flush=True)
    from recsft.reporting import write_benchmark_result

    print("wrote", write_benchmark_result(ROOT, "evaluation_speed", result))


if __name__ == "__main__":
    main()
