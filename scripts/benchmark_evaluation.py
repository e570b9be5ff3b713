"""Speed and memory of full-ranking evaluation: a real run, and 100,000 users × 1,000,000 items.

Three measurements (``--parts``), each in a child process whose peak resident memory it
reports itself:

* ``real``: a trained run folder's test split through the trainer's evaluator (encode every
  user with the model, find each user's best unseen items, metrics), both ways it can rank:
  through the exact FAISS search (the default on the CPU) and densely (score matrix, history
  masked, top-K); one warm-up pass each, then the median of ``--repeats`` interleaved timed
  passes. Default: SASRec on Amazon Beauty, BERT4Rec version (40,226 users × 54,542 items).
* ``synthetic``: ``--users`` random user vectors against ``--items`` random item vectors
  (``--dim``), 5 history items filtered per user, through the same evaluator code (the scorer is
  a matrix product); one timed pass.
* ``synthetic_exact``: the same, ranked through the exact FAISS search.

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
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


#: ``real``: a trained run, both ranking paths; ``synthetic``: random vectors, dense ranking;
#: ``synthetic_exact``: the same vectors through the exact FAISS search.
PARTS = ("real", "synthetic", "synthetic_exact")


def peak_rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def measure_real(run_dir: str, repeats: int) -> dict:
    import torch

    from recsft.runs import Run
    from recsft.scoring.model import model_scorer

    run = Run.open(run_dir)
    model, evaluator, log = run.model(), run.evaluator(), run.events()
    def dense() -> Callable:
        scorer = model_scorer(model)
        # A plain function offers no index: the evaluator ranks densely.
        return lambda batch: scorer(batch)

    paths = {"exact": lambda: model_scorer(model), "dense": dense}
    timed: dict[str, list[float]] = {name: [] for name in paths}
    metrics: dict[str, dict] = {}
    for make in paths.values():
        evaluator.evaluate(make())  # warm-up
    for _ in range(repeats):  # interleaved, so that both paths see the same machine
        for name, make in paths.items():
            start = time.perf_counter()
            metrics[name] = evaluator.evaluate(make())
            timed[name].append(time.perf_counter() - start)
    return {
        "run": run_dir,
        "dataset": {"source": log.source, **log.stats()},
        "protocol": evaluator.protocol.to_dict(),
        "users": len(evaluator),
        "items": evaluator.num_items,
        "users_per_chunk": evaluator.batch_size,
        "torch_threads": torch.get_num_threads(),
        "seconds_median": round(statistics.median(timed["exact"]), 3),
        "seconds": [round(s, 3) for s in timed["exact"]],
        "dense_seconds_median": round(statistics.median(timed["dense"]), 3),
        "dense_seconds": [round(s, 3) for s in timed["dense"]],
        "dense_over_exact": round(statistics.median(timed["dense"])
                                  / statistics.median(timed["exact"]), 2),
        "ndcg@10": metrics["exact"]["ndcg@10"],
        "dense_ndcg@10": metrics["dense"]["ndcg@10"],
        "peak_rss_gib": peak_rss_gib(),
    }


def measure_synthetic(users: int, items: int, dim: int, seed: int, exact: bool) -> dict:
    import numpy as np
    import torch

    from recsft.data.split import EvalSet
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.scoring.vectors import VectorScorer
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

    class Lookup(VectorScorer):
        def query_vectors(self, batch: dict) -> torch.Tensor:
            return user_vectors[batch["index"]]

    def score(batch: dict) -> torch.Tensor:
        return user_vectors[batch["index"]] @ item_vectors.T

    start = time.perf_counter()
    metrics = evaluator.evaluate(Lookup(item_vectors) if exact else score)
    return {
        "path": "exact" if exact else "dense",
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
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS),
                        help="measurements to make (default: all)")
    parser.add_argument("--only", choices=list(PARTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "real":
        print(json.dumps(measure_real(args.run, args.repeats)))
        return
    if args.only in ("synthetic", "synthetic_exact"):
        print(json.dumps(measure_synthetic(args.users, args.items, args.dim, args.seed,
                                           exact=args.only == "synthetic_exact")))
        return

    from recsft.environment import environment

    result = {"environment": {**environment(), "machine": platform.machine()},
              "settings": vars(args)}
    out = os.path.join(ROOT, "benchmarks", "results", "evaluation_speed.json")
    if os.path.exists(out):
        # Parts not measured now stay, with the machine and settings they were measured with.
        with open(out) as handle:
            earlier = json.load(handle)
        for part in PARTS:
            if part in earlier and part not in args.parts:
                result[part] = {**earlier[part], "earlier_run": {
                    key: earlier[part].get("earlier_run", {}).get(key, earlier[key])
                    for key in ("environment", "settings")}}
    for part in args.parts:
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", part],
                              check=True, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "TQDM_DISABLE": "1"})
        result[part] = json.loads(done.stdout.strip().splitlines()[-1])
        print(part, json.dumps(result[part]), flush=True)
    from recsft.report.text import write_benchmark_result

    print("wrote", write_benchmark_result(ROOT, "evaluation_speed", result))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
