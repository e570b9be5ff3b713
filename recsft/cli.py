"""The ``recsft`` command line. Heavy libraries are imported inside each command, so
``recsft --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsft",
        description="Pretrained-transformer representations of behaviour sequences: train, "
        "evaluate with full ranking, recommend with FAISS.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model from a YAML run config")
    train.add_argument("--config", required=True, help="YAML run config, e.g. configs/demo.yaml")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")

    evaluate = commands.add_parser("evaluate", help="re-evaluate a run folder (full ranking)")
    evaluate.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    evaluate.add_argument("--split", choices=["test", "valid"], default="test")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")

    recommend = commands.add_parser("recommend", help="top-k items for a history")
    recommend.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    recommend.add_argument("--history", required=True,
                           help="comma-separated item ids, oldest first")
    recommend.add_argument("--k", type=int, default=10)
    recommend.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsft`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"recsft {args.command}: error: {err}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace) -> int:
    from recsft.reporting import format_metrics_table
    from recsft.training.arguments import RunConfig
    from recsft.training.pipeline import run_training

    config = RunConfig.from_yaml(args.config, args.overrides)
    record = run_training(config)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(format_metrics_table(record))
        print(f"\nrun folder: {config.run_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from recsft.reporting import format_table
    from recsft.training.pipeline import evaluate_run

    result = evaluate_run(args.run, split=args.split)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table({"model": result["metrics"]}, protocol=result["protocol"]))
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from recsft.retrieval.recommender import Recommender

    history = [item.strip() for item in args.history.split(",") if item.strip()]
    recommender = Recommender.from_pretrained(args.run)
    results = recommender.recommend(history, k=args.k)
    if args.json:
        print(json.dumps([{"item_id": i, "score": s} for i, s in results]))
        return 0
    unknown = recommender.unknown_items(history)
    if unknown:
        print(f"skipped items unknown to the model: {', '.join(unknown)}", file=sys.stderr)
    print(f"{'rank':>4}  {'item':<16} score")
    for rank, (item, score) in enumerate(results, start=1):
        print(f"{rank:>4}  {item:<16} {score:.4f}")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "recommend": _recommend}

if __name__ == "__main__":
    sys.exit(main())
