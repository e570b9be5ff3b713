"""Downstream tasks and clustering: pretrained encoder vs from scratch vs baselines.

For one pretraining config (its ``data.preprocess.end`` is the tasks' cutoff):

1. train the pretrained run (unless its folder already holds a model; ``--retrain`` forces it);
2. for every task and seed: fine-tune the pretrained encoder, the same architecture from
   scratch, logistic regression on bag-of-items and behaviour counts, and most-frequent, on the
   same users and splits (the seed changes the split, the initialisation and the batches), with
   all training labels and with a fraction of them (``--train-fractions``);
   test ROC-AUC / PR-AUC / F1 with 95 % bootstrap CIs per seed, mean ± std over seeds;
3. with ``--cluster`` (synthetic data): k-means on the run's user vectors (items, mean, query
   and contrastive representations) and on bag-of-items LSA, ``k`` = the number of true
   segments, one seed (k-means, and the contrastive fine-tuning) per ``--seeds`` entry:
   V-measure and ARI against the generator's segments, and each representation's difference
   from LSA with a bootstrap interval over users; and once with ``k`` chosen by silhouette for
   the items and contrastive representations, writing their plots.

Writes ``benchmarks/results/tasks_<name>.json``.

Usage:
    python scripts/benchmark_tasks.py --config configs/demo-pretrain.yaml --horizon-days 7 \\
        --cluster
    python scripts/benchmark_tasks.py --config configs/taobao-pretrain.yaml --horizon-days 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mean_std(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if v == v]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": round(statistics.fmean(finite), 4),
            "std": round(statistics.stdev(finite), 4) if len(finite) > 1 else 0.0,
            "n": len(finite)}


def run_tasks(args, run_dir: str) -> dict:
    from recsft.tasks.finetune import FinetuneConfig, finetune
    from recsft.tasks.labels import TaskConfig

    out = {}
    for task in args.tasks:
        for fraction in args.train_fractions:
            per_seed = []
            for seed in args.seeds:
                config = FinetuneConfig(
                    pretrained=run_dir, seed=seed, epochs=args.epochs,
                    task=TaskConfig(task=task, horizon_days=args.horizon_days),
                    pooling=args.pooling, n_resamples=args.n_resamples,
                    train_fraction=fraction)
                started = time.perf_counter()
                record = finetune(config, output_dir=os.path.join(
                    args.output_root,
                    f"{os.path.basename(run_dir)}-{task}-labels{fraction:g}-seed{seed}"))
                per_seed.append(record)
                print(task, fraction, seed, round(time.perf_counter() - started, 1), "s", {
                    m: round(r["test"]["roc_auc"], 4) for m, r in record["methods"].items()},
                    flush=True)
            methods = list(per_seed[0]["methods"])
            summary = {m: {key: mean_std([r["methods"][m]["test"][key] for r in per_seed])
                           for key in ("roc_auc", "pr_auc", "f1", "accuracy", "log_loss")}
                       for m in methods}
            out[f"{task}@labels{fraction:g}"] = {
                "task": task, "train_fraction": fraction,
                "data": per_seed[0]["data"], "splits": per_seed[0]["splits"],
                "summary": summary,
                "per_seed": [{"seed": s, **{m: {"test": r["methods"][m]["test"],
                                                "intervals": r["methods"][m]["intervals"],
                                                "best_epoch": r["methods"][m].get("best_epoch")}
                                            for m in methods}}
                             for s, r in zip(args.seeds, per_seed)],
            }
    return out


def run_clustering(args, run_dir: str) -> dict:
    from recsft.tasks.clustering import ClusterConfig, cluster_run

    representations = ("items", "mean", "query", "contrastive")
    rows: dict[str, list[dict]] = {name: [] for name in (*representations, "lsa")}
    versus_lsa: dict[str, list[dict]] = {name: [] for name in representations}
    segments = None
    for seed in args.seeds:
        for representation in representations:
            record = cluster_run(run_dir, ClusterConfig(k=args.segments, seed=seed,
                                                        representation=representation))
            segments = record["segments"]
            rows[representation].append(record["agreement"])
            versus_lsa[representation].append({"seed": seed, **record["versus_lsa"]})
            if representation == "items":
                rows["lsa"].append(record["baseline_lsa"]["agreement"])
    summary = {name: {key: mean_std([r[key] for r in values])
                      for key in ("v_measure", "adjusted_rand", "homogeneity", "completeness")}
               for name, values in rows.items()}
    auto = {}
    for representation, folder in (("items", "clusters"), ("contrastive", "clusters-contrastive")):
        record = cluster_run(run_dir, ClusterConfig(k=None, seed=args.seeds[0],
                                                    representation=representation),
                             output_dir=os.path.join(run_dir, folder))
        auto[representation] = {key: record[key] for key in (
            "k", "silhouette_by_k", "quality", "agreement", "baseline_lsa", "profiles")}
        auto[representation]["plot"] = os.path.join(run_dir, folder, "clusters.png")
    return {"k": args.segments, "true_segments": segments, "summary": summary,
            "per_seed": rows, "versus_lsa": versus_lsa, "auto_k": auto}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo-pretrain.yaml")
    parser.add_argument("--tasks", nargs="+", default=["churn", "purchase", "next_event"])
    parser.add_argument("--horizon-days", type=float, default=7.0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--train-fractions", nargs="+", type=float, default=[1.0, 0.1],
                        help="label budgets: shares of the training users with labels")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--segments", type=int, default=6, help="k for the clustering check")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--cluster-only", action="store_true", help="skip the tasks")
    parser.add_argument("--output-root", default="runs/tasks")
    args = parser.parse_args()

    from recsft.config import RunConfig
    from recsft.environment import environment
    from recsft.report.text import write_benchmark_result
    from recsft.training.pipeline import run_training

    config = RunConfig.from_yaml(args.config)
    run_dir = config.run_dir
    started = time.perf_counter()
    if args.retrain or not os.path.exists(os.path.join(run_dir, "model.safetensors")):
        run_training(config, overwrite=True)
    pretrain_seconds = round(time.perf_counter() - started, 1)
    result = {"config": args.config, "run": run_dir, "settings": vars(args),
              "pretrain_seconds": pretrain_seconds, "environment": environment()}
    name = f"tasks_{config.name}"
    path = os.path.join(ROOT, "benchmarks", "results", f"{name}.json")
    if args.cluster_only and os.path.exists(path):
        import json

        with open(path) as handle:
            result["tasks"] = json.load(handle).get("tasks")
    else:
        result["tasks"] = run_tasks(args, run_dir)
    if args.cluster:
        result["clustering"] = run_clustering(args, run_dir)
    print("wrote", write_benchmark_result(ROOT, name, result))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
