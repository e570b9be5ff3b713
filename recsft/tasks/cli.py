"""``recsft finetune-task`` and ``recsft cluster``: argument parsing and printing only (the work
is in :mod:`recsft.tasks.finetune` and :mod:`recsft.tasks.clustering`, imported lazily)."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_commands", "COMMANDS"]

_TASKS = {"purchase": "purchase", "next-event": "next_event", "churn": "churn"}
_METHODS = ("pretrained", "scratch", "logistic_regression", "history_length", "most_frequent")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the task commands to the ``recsft`` parser."""
    task = commands.add_parser(
        "finetune-task", help="fine-tune a pretrained run to predict purchase, the next "
        "behaviour or churn, next to from-scratch and logistic-regression baselines")
    task.add_argument("--task", required=True, choices=list(_TASKS))
    task.add_argument("--from", dest="pretrained", required=True,
                      help="pretrained run folder (its data must end at the cutoff)")
    task.add_argument("--output", help="result folder (default: <pretrained>-<task>)")
    task.add_argument("--cutoff", help="label window start, unix seconds or ISO date "
                      "(default: the pretrained run's data.preprocess.end)")
    task.add_argument("--horizon-days", type=float, default=7.0, help="label window length")
    task.add_argument("--purchase-event", default="buy")
    task.add_argument("--min-history", type=int, default=2)
    task.add_argument("--pooling", default="mean", choices=["mean", "query", "attention"])
    task.add_argument("--train-fraction", type=float, default=1.0,
                      help="share of training users whose labels are used")
    task.add_argument("--freeze-encoder", action="store_true")
    task.add_argument("--encoder-lr", type=float, default=3e-4)
    task.add_argument("--head-lr", type=float, default=3e-3)
    task.add_argument("--epochs", type=int, default=30)
    task.add_argument("--batch-size", type=int, default=128)
    task.add_argument("--seed", type=int, default=42)
    task.add_argument("--n-resamples", type=int, default=1000)
    task.add_argument("--methods", default=",".join(_METHODS),
                      help=f"comma-separated subset of {', '.join(_METHODS)}")
    task.add_argument("--json", action="store_true", help="print JSON instead of a table")

    cluster = commands.add_parser(
        "cluster", help="k-means on a run's user vectors: quality, agreement with known "
        "segments, profiles and a 2-D plot")
    cluster.add_argument("--run", required=True, help="run folder")
    cluster.add_argument("--k", default="auto", help="number of clusters, or 'auto' (best "
                         "silhouette over --k-range)")
    cluster.add_argument("--k-range", default="2-12", help="candidates for --k auto, e.g. 2-12")
    cluster.add_argument("--output", help="result folder (default: <run>/clusters)")
    cluster.add_argument("--representation", default="items",
                         choices=["items", "mean", "query", "contrastive"],
                         help="user vector: mean item vector, mean encoder state, query, or "
                         "the encoder after user-level contrastive fine-tuning")
    cluster.add_argument("--contrastive-epochs", type=int, default=30,
                         help="epochs of contrastive fine-tuning (--representation contrastive)")
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument("--json", action="store_true", help="print JSON instead of text")


def _finetune_task(args: argparse.Namespace) -> int:
    from recsft.tasks.finetune import FinetuneConfig, finetune
    from recsft.tasks.labels import TaskConfig

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = sorted(set(methods) - set(_METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(_METHODS)}")
    cutoff = args.cutoff
    if cutoff is not None and cutoff.lstrip("-").isdigit():
        cutoff = int(cutoff)
    config = FinetuneConfig(
        pretrained=args.pretrained,
        task=TaskConfig(task=_TASKS[args.task], cutoff=cutoff, horizon_days=args.horizon_days,
                        purchase_event=args.purchase_event, min_history=args.min_history),
        pooling=args.pooling, freeze_encoder=args.freeze_encoder,
        encoder_learning_rate=args.encoder_lr, head_learning_rate=args.head_lr,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        train_fraction=args.train_fraction,
        n_resamples=args.n_resamples)
    output = args.output or f"{os.path.normpath(args.pretrained)}-{args.task}"
    record = finetune(config, output_dir=output, methods=methods)
    if args.json:
        print(json.dumps(record["methods"], default=float))
        return 0
    print(format_task_table(record))
    print(f"wrote {os.path.join(output, 'metrics.json')}")
    return 0


def format_task_table(record: dict) -> str:
    """Methods × metrics, with 95 % bootstrap intervals of ROC-AUC and F1 (at most 100
    columns: :mod:`recsft.report.text`)."""
    from recsft.report.text import render, table, wrap

    data = record["data"]
    grid = table("method", "ROC-AUC [95% CI]", "PR-AUC", "F1 [95% CI]", "accuracy")
    for name, result in record["methods"].items():
        test, ci = result["test"], result["intervals"]
        grid.add_row(name, _interval(test, ci, "roc_auc"), f"{test['pr_auc']:.4f}",
                     _interval(test, ci, "f1"), f"{test['accuracy']:.4f}")
    return wrap(f"task {data['task']}: cutoff {data['cutoff']}, horizon {data['horizon_days']} "
                f"days, {data['examples']} users {data['classes']}; test users "
                f"{record['splits']['test']['users']}") + "\n" + render(grid)


def _interval(test: dict, intervals: dict, key: str) -> str:
    return f"{test[key]:.4f} [{intervals[key]['low']:.3f}, {intervals[key]['high']:.3f}]"


def _cluster(args: argparse.Namespace) -> int:
    from recsft.tasks.clustering import ClusterConfig, cluster_run

    if args.k == "auto":
        k = None
    else:
        try:
            k = int(args.k)
        except ValueError:
            raise ValueError(f"--k must be an integer or 'auto', got {args.k!r}") from None
    low, _, high = args.k_range.partition("-")
    try:
        k_range = (int(low), int(high))
    except ValueError:
        raise ValueError(f"--k-range must look like 2-12, got {args.k_range!r}") from None
    output = args.output or os.path.join(args.run, "clusters")
    record = cluster_run(args.run, ClusterConfig(
        k=k, k_range=k_range, seed=args.seed, representation=args.representation,
        contrastive={"epochs": args.contrastive_epochs}), output_dir=output)
    if args.json:
        print(json.dumps(record, default=float))
        return 0
    from recsft.tasks.clustering import format_clusters

    print(format_clusters(record))
    print(f"wrote {output}/clusters.json, {output}/clusters.png", file=sys.stderr)
    return 0


COMMANDS = {"finetune-task": _finetune_task, "cluster": _cluster}
