"""The same checkpoints under full ranking and under sampled-negative protocols.

For each run folder (all on the same data and split) and the most-popular baseline, computes
NDCG@10 and Recall@10 with full ranking (the default protocol) and with 100 sampled negatives,
uniform and popularity-weighted (the same negatives for every model), and the order of the
models under each protocol. Writes ``benchmarks/results/sampled_vs_full_<name>.json``.

Usage:
    python scripts/benchmark_sampled_vs_full.py --name beauty-bert4rec \\
        --runs runs/sasrec-beauty-bert4rec runs/gru4rec-beauty-bert4rec
"""

from __future__ import annotations

import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("ndcg@10", "recall@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from recsft.environment import environment
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer
    from recsft.scoring.popularity import popularity_scorer

    protocols = {"full": None, f"sampled{args.negatives}": "uniform",
                 f"sampled{args.negatives}pop": "popularity"}
    results: dict = {}
    reference_users = None
    for run in args.runs:
        opened = Run.open(run)
        model, evaluator, log = opened.model(), opened.evaluator(), opened.events()
        if reference_users is None:
            reference_users = (evaluator.user_ids, evaluator.target_items)
            scorers = {"most-popular": popularity_scorer(evaluator.item_counts)}
            dataset = {"source": log.source, **log.stats()}
            protocol = evaluator.protocol.to_dict()
        elif reference_users != (evaluator.user_ids, evaluator.target_items):
            raise ValueError(f"{run} was evaluated on other users than {args.runs[0]}")
        scorers = {os.path.basename(run.rstrip("/")): model_scorer(model), **scorers}
        for name, scorer in list(scorers.items()):
            if name in results:
                continue
            row = {}
            for label, sampling in protocols.items():
                metrics = (evaluator.evaluate(scorer) if sampling is None else
                           evaluator.evaluate_sampled(scorer, args.negatives, sampling, args.seed))
                suffix = "" if sampling is None else f"_{label}"
                row[label] = {key: metrics[f"{key}{suffix}"] for key in KEYS}
            results[name] = row
            print(name, json.dumps(row), flush=True)
    order = {label: sorted(results, key=lambda n: -results[n][label]["ndcg@10"])
             for label in protocols}
    record = {"dataset": dataset, "protocol": protocol, "negatives": args.negatives,
              "seed": args.seed, "results": results, "order_by_ndcg@10": order,
              "environment": environment()}
    from recsft.report.text import write_benchmark_result

    print("wrote", write_benchmark_result(ROOT, f"sampled_vs_full_{args.name}", record))
    for label, names in order.items():
        print(f"{label:>14}: " + " > ".join(
            f"{n} ({results[n][label]['ndcg@10']:.4f})" for n in names))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
