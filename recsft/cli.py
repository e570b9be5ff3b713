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
    train.add_argument("--resume", action="store_true",
                       help="continue from the newest checkpoint in runs/<name>/checkpoints")

    evaluate = commands.add_parser("evaluate", help="re-evaluate a run folder (full ranking)")
    evaluate.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    evaluate.add_argument("--split", choices=["test", "valid"], default="test")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.add_argument("--output", help="also write the JSON result to this file")
    evaluate.add_argument("--data-config",
                          help="evaluate on the data section of this YAML config instead of the "
                               "run's own (transfer to another dataset or period; item ids must "
                               "be shared)")
    evaluate.add_argument("--segments", action="store_true",
                          help="also break NDCG@10 / Recall@10 down by history length, target "
                               "popularity and target event type")
    evaluate.add_argument("--n-resamples", type=int, default=1000,
                          help="bootstrap resamples of the users for the 95%% intervals (0: none)")
    evaluate.add_argument("--transitions", action="store_true",
                          help="score with the model interpolated with the run's item "
                               "transitions (fitted by 'recsft transitions')")

    transitions = commands.add_parser(
        "transitions", help="fit item-to-item transitions on a run's training split, choose "
                            "their mixture weight, smoothing and temperature with the model on "
                            "validation, save them")
    transitions.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    transitions.add_argument("--weights", type=float, nargs="+",
                             help="mixture weights to try (default 0 0.2 0.4 0.6 0.8 0.9 1)")
    transitions.add_argument("--smoothings", type=float, nargs="+",
                             help="model pseudo-counts in each successor row to try "
                                  "(default 0 10 30 50 100; 0: fixed interpolation)")
    transitions.add_argument("--temperatures", type=float, nargs="+",
                             help="temperatures of the model's softmax to try (default 1 1.5)")
    transitions.add_argument("--order-weights", type=float, nargs="+", default=[1.0, 0.3],
                             help="weight of the successor at distance 1, 2, ...")
    transitions.add_argument("--decay", type=float, default=0.3,
                             help="weight ratio between consecutive history items")
    transitions.add_argument("--window", type=int, default=10, help="newest history items read")
    transitions.add_argument("--json", action="store_true", help="print JSON")

    windows = commands.add_parser(
        "windows", help="train and test once per time window (rolling temporal protocol): "
                        "metric over time, stability, interest drift")
    windows.add_argument("--config", required=True)
    windows.add_argument("--set", dest="overrides", action="append", default=[])
    windows.add_argument("--windows", type=int, default=4, help="number of test windows")
    windows.add_argument("--window-days", type=float, default=7.0)
    windows.add_argument("--output", help="also write the JSON result to this file")
    windows.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cv = commands.add_parser("cv", help="user-level K-fold cross-validation: mean ± std")
    cv.add_argument("--config", required=True)
    cv.add_argument("--set", dest="overrides", action="append", default=[])
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--output", help="also write the JSON result to this file")
    cv.add_argument("--json", action="store_true", help="print JSON instead of a table")

    compare = commands.add_parser(
        "compare", help="paired comparison of two runs on the same users (differences, CIs, "
                        "t-test / Wilcoxon / permutation p-values, Holm)")
    compare.add_argument("run_a", help="reference run folder")
    compare.add_argument("run_b", help="run folder compared with it")
    compare.add_argument("--split", choices=["test", "valid"], default="test")
    compare.add_argument("--metric", dest="metrics", action="append",
                         help="metric to compare (repeatable; default ndcg@10, recall@10, mrr@10)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare.add_argument("--output", help="also write the JSON result to this file")

    recommend = commands.add_parser(
        "recommend", help="top-k items for one history, or a JSONL file of histories")
    recommend.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    source = recommend.add_mutually_exclusive_group(required=True)
    source.add_argument("--history", help="comma-separated item ids, oldest first ('' = empty)")
    source.add_argument("--input", help="JSONL file, one {\"history\": [...], ...} per line "
                        "(fields: user_id, history, event_types, timestamps, exclude, k)")
    recommend.add_argument("--output", help="JSONL answers for --input (default: stdout)")
    recommend.add_argument("--k", type=int, default=10)
    recommend.add_argument("--index", help="index folder if not the run folder")
    recommend.add_argument("--exclude", default="", help="comma-separated items never to return")
    recommend.add_argument("--batch-size", type=int, default=256,
                           help="histories encoded per model call")
    recommend.add_argument("--json", action="store_true", help="print JSON instead of a table")
    recommend.add_argument("--transitions", action="store_true",
                           help="rank with the model mixed with the run's item transitions "
                                "(fitted by 'recsft transitions'; scores are log-probabilities)")

    index = commands.add_parser("index", help="build a run's FAISS item index of another kind")
    index_verbs = index.add_subparsers(dest="index_command", required=True, metavar="VERB")
    build = index_verbs.add_parser("build", help="build and save an index from a run's model")
    build.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    build.add_argument("--kind", default="flat", help="flat, hnsw, ivf_flat or ivf_pq")
    build.add_argument("--metric", default="ip", choices=["ip", "cosine"])
    build.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="an index parameter, e.g. m=48 or nprobe=16 (repeatable)")
    build.add_argument("--output", help="index folder (default: the run folder, replacing "
                       "its index)")
    build.add_argument("--check-queries", type=int, default=500,
                       help="item vectors used to measure recall@10 against exact search")
    build.add_argument("--json", action="store_true", help="print JSON instead of text")

    report = commands.add_parser(
        "report", help="report.html with plots for one run, or several side by side")
    report.add_argument("--run", dest="runs", action="append", required=True,
                        help="run folder (repeat to compare runs on the same users; the first "
                        "is the reference)")
    report.add_argument("--output", help="report folder (default: <first run>/report)")
    report.add_argument("--split", choices=["test", "valid"], default="test")
    report.add_argument("--n-resamples", type=int, default=1000,
                        help="bootstrap resamples of the intervals and comparisons")

    push = commands.add_parser("push", help="upload a run folder to the Hugging Face Hub")
    push.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    push.add_argument("--repo-id", required=True, help="Hub repository, e.g. user/name")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    _add_data_commands(commands)
    from recsft.tasks.cli import add_commands

    add_commands(commands)
    return parser


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="named dataset (see `recsft data list`)")
    parser.add_argument("--path", help="local copy of the named dataset (folder or file)")
    parser.add_argument("--input", help="an event file (csv, tsv, parquet, jsonl, ...)")
    parser.add_argument("--format", default="auto", help="reader for --input (default: auto)")
    parser.add_argument("--column", action="append", default=[], metavar="CANONICAL=NAME",
                        help="column mapping for --input, e.g. user_id=visitorid (repeatable)")
    parser.add_argument("--event-map", action="append", default=[], metavar="SOURCE=CANONICAL",
                        help="event type mapping for --input, e.g. addtocart=cart (repeatable)")


def _add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="prepare event data and describe it")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="VERB")
    prepare = verbs.add_parser("prepare", help="write a prepared dataset folder (Arrow)")
    _add_source_arguments(prepare)
    prepare.add_argument("--out", required=True, help="prepared dataset folder")
    prepare.add_argument("--preprocess", action="append", default=[], metavar="KEY=VALUE",
                         help="a preprocessing option, e.g. user_k=5 (repeatable)")
    prepare.add_argument("--force", action="store_true", help="ignore a cached preparation")
    stats = verbs.add_parser("stats", help="users, items, lengths, event mix, time span")
    _add_source_arguments(stats)
    stats.add_argument("--prepared", help="a prepared dataset folder instead of a source")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verbs.add_parser("list", help="the named datasets, their sources and terms")


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        if "=" not in value:
            raise ValueError(f"{flag} '{value}' must look like KEY=VALUE")
        key, _, val = value.partition("=")
        pairs[key.strip()] = val.strip()
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsft`` console script."""
    from recsft.tasks.cli import COMMANDS as TASK_COMMANDS

    args = build_parser().parse_args(argv)
    try:
        return {**COMMANDS, **TASK_COMMANDS}[args.command](args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"recsft {args.command}: error: {err}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace) -> int:
    from recsft.reporting import format_metrics_table
    from recsft.training.arguments import RunConfig
    from recsft.training.pipeline import run_training

    config = RunConfig.from_yaml(args.config, args.overrides)
    record = run_training(config, resume=args.resume)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(format_metrics_table(record))
        print(f"\nrun folder: {config.run_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from recsft.reporting import format_intervals, format_segments, format_table
    from recsft.training.pipeline import evaluate_run

    data = None
    if args.data_config:
        from recsft.training.arguments import RunConfig

        data = RunConfig.from_yaml(args.data_config).data
    result = evaluate_run(args.run, split=args.split, n_resamples=args.n_resamples,
                          segments=args.segments, data=data, transitions=args.transitions)
    _write_json(result, args.output)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if result["intervals"]:
        print(format_intervals(result))
    else:
        print(format_table({"model": result["metrics"]}, protocol=result["protocol"]))
    if "transitions" in result:
        chosen = result["transitions"]
        print(f"\nscores: the model interpolated with item transitions, weight "
              f"{chosen['weight']:g}, smoothing {chosen['smoothing']:g}, temperature "
              f"{chosen['temperature']:g} (chosen on validation)")
    if "transfer" in result:
        t = result["transfer"]
        print(f"\ntransfer: {t['unknown_target_share']:.1%} of targets and "
              f"{t['unknown_history_item_share']:.1%} of history items unknown to the model")
    print("\nbeyond accuracy: " + ", ".join(
        f"{k} {v:.4g}" for k, v in result["beyond_accuracy"].items()))
    for name, table in result.get("segments", {}).items():
        print("\n" + format_segments(name, table))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from recsft.training.compare import DEFAULT_METRICS, compare_runs, format_comparison

    result = compare_runs(args.run_a, args.run_b, split=args.split,
                          metrics=args.metrics or DEFAULT_METRICS)
    _write_json(result, args.output)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


def _windows(args: argparse.Namespace) -> int:
    from recsft.reporting import format_variants
    from recsft.training.arguments import RunConfig
    from recsft.training.repeats import run_variants, time_window_variants

    config = RunConfig.from_yaml(args.config, args.overrides)
    seconds = int(args.window_days * 86400)
    result = run_variants(config, time_window_variants(config, args.windows, seconds),
                          "time_windows", window_seconds=seconds)
    _write_json(result, args.output)
    print(json.dumps(result, indent=2, default=str) if args.json else format_variants(result))
    return 0


def _cv(args: argparse.Namespace) -> int:
    from recsft.reporting import format_variants
    from recsft.training.arguments import RunConfig
    from recsft.training.repeats import fold_variants, run_variants

    config = RunConfig.from_yaml(args.config, args.overrides)
    result = run_variants(config, fold_variants(args.folds, config.data.split_seed), "folds")
    _write_json(result, args.output)
    print(json.dumps(result, indent=2, default=str) if args.json else format_variants(result))
    return 0


def _write_json(result: dict, path: str | None) -> None:
    """Write a command's JSON result through a temporary file (nothing half-written)."""
    if path:
        from recsft.training.pipeline import write_text_atomic

        write_text_atomic(path, json.dumps(result, indent=2, default=str))


def _split_ids(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _recommend(args: argparse.Namespace) -> int:
    from recsft.retrieval.recommender import Recommender

    if args.k < 1:
        raise ValueError(f"--k must be a positive integer, got {args.k}")
    if args.input:
        from recsft.retrieval.requests import read_requests

        requests = read_requests(args.input)
        recommender = Recommender.from_pretrained(args.run, index_dir=args.index,
                                              transitions=args.transitions)
        return _recommend_file(recommender, requests, args)
    history = _split_ids(args.history)
    recommender = Recommender.from_pretrained(args.run, index_dir=args.index,
                                              transitions=args.transitions)
    results = recommender.recommend(history, k=args.k, exclude=_split_ids(args.exclude))
    unknown = recommender.unknown_items(history)
    if args.json:
        print(json.dumps([{"item_id": i, "score": s} for i, s in results]))
        return 0
    if unknown:
        print(f"skipped items unknown to the model: {', '.join(unknown)}", file=sys.stderr)
    if len(unknown) == len(history):
        print("no item of the history is known to the model: most popular items",
              file=sys.stderr)
    print(f"{'rank':>4}  {'item':<16} score")
    for rank, (item, score) in enumerate(results, start=1):
        print(f"{rank:>4}  {item:<16} {score:.4f}")
    return 0


def _recommend_file(recommender, requests, args: argparse.Namespace) -> int:
    """Answer a request file: one JSON line per request, in order (written atomically)."""
    extra = _split_ids(args.exclude)
    by_k: dict[int, list[int]] = {}
    for n, request in enumerate(requests):
        by_k.setdefault(request.k or args.k, []).append(n)
    answers: list[list[tuple[str, float]]] = [[] for _ in requests]
    for k, rows in by_k.items():
        chosen = [requests[n] for n in rows]
        typed = all(r.event_types is not None for r in chosen)
        timed = all(r.timestamps is not None for r in chosen)
        results = recommender.recommend_batch(
            [r.history for r in chosen], k,
            event_types=[r.event_types for r in chosen] if typed else None,
            timestamps=[r.timestamps for r in chosen] if timed else None,
            exclude=[r.exclude + extra for r in chosen], batch_size=args.batch_size)
        for n, result in zip(rows, results):
            answers[n] = result
    lines = []
    for request, result in zip(requests, answers):
        unknown = recommender.unknown_items(request.history)
        lines.append(json.dumps({
            "user_id": request.user_id, "line": request.line,
            "items": [i for i, _ in result], "scores": [s for _, s in result],
            "source": "popularity" if len(unknown) == len(request.history) else "model",
            "unknown_items": unknown,
        }))
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.output:
        from recsft.training.pipeline import write_text_atomic

        write_text_atomic(args.output, text)
        print(f"wrote {len(lines)} recommendation lists to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _index(args: argparse.Namespace) -> int:
    from recsft.retrieval.build import build_run_index, parse_params

    report = build_run_index(args.run, kind=args.kind, metric=args.metric,
                             params=parse_params(_pairs(args.param, "--param")),
                             output=args.output, check_queries=args.check_queries)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    recall = "not checked" if report.recall_at_10 is None else (
        f"{report.recall_at_10:.4f} against exact search ({report.check_queries} item queries)")
    print(f"built a {report.kind} index {report.params} of {report.items} items (d = "
          f"{report.dim}) in {report.build_seconds:.2f} s, {report.size_mib} MiB, "
          f"into {report.directory}\nrecall@10: {recall}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from recsft.report.html import build_report

    path = build_report(args.runs, args.output, n_resamples=args.n_resamples, split=args.split)
    print(f"wrote {path}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from recsft.hub import HubError, push_to_hub

    try:
        url = push_to_hub(args.run, args.repo_id, token=args.token, private=args.private)
    except HubError as err:
        raise ValueError(str(err)) from err
    print(url)
    return 0


def _data(args: argparse.Namespace) -> int:
    return DATA_COMMANDS[args.data_command](args)


def _open(args: argparse.Namespace):
    from recsft.data.sources import open_source

    return open_source(
        dataset=args.dataset, path=args.path, input=args.input, format=args.format,
        columns=_pairs(args.column, "--column"), event_map=_pairs(args.event_map, "--event-map"),
    )


def _data_prepare(args: argparse.Namespace) -> int:
    import time

    import yaml

    from recsft.data.prepare import cache_key, input_digest, prepare_or_load
    from recsft.data.preprocess import PreprocessConfig, preprocess

    start = time.perf_counter()
    options = {k: yaml.safe_load(v) for k, v in _pairs(args.preprocess, "--preprocess").items()}
    config = PreprocessConfig(**options)
    _, source_file = _source_file(args)
    settings = {"dataset": args.dataset, "format": args.format, "columns": args.column,
                "event_map": args.event_map, "preprocess": options}
    digest = input_digest(source_file)
    key = cache_key(digest, settings)

    def build():
        log, _ = _open(args)
        return preprocess(log, config)

    metadata = {"source": str(source_file), "source_sha256": digest, "settings": settings}
    record, was_cached = prepare_or_load(args.out, key, build, metadata, force=args.force)
    stats = record["stats"]
    state = "cached" if was_cached else f"prepared in {time.perf_counter() - start:.1f} s"
    print(f"{args.out}: {stats['users']:,} users, {stats['items']:,} items, "
          f"{stats['interactions']:,} interactions ({state})")
    return 0


def _source_file(args: argparse.Namespace):
    from pathlib import Path

    if args.dataset is not None:
        from recsft.data.registry import locate

        return args.dataset, locate(args.dataset, args.path)
    if args.input is None:
        raise ValueError("give exactly one of a named dataset (--dataset) or a file (--input)")
    return None, Path(args.input)


def _data_stats(args: argparse.Namespace) -> int:
    from recsft.data.prepare import METADATA_FILE, dataset_stats

    if args.prepared:
        import os

        with open(os.path.join(args.prepared, METADATA_FILE), encoding="utf-8") as handle:
            stats = json.load(handle)["stats"]
        name = None
    else:
        log, _ = _open(args)
        stats = dataset_stats(log)
        name = args.dataset
    if name is not None:
        from recsft.data.registry import compare_with_published

        stats["published"] = compare_with_published(name, {
            k: stats[k] for k in ("users", "items", "interactions")
        })
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    from recsft.reporting import format_stats

    print(format_stats(stats))
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from recsft.data.registry import REGISTRY

    for spec in REGISTRY.values():
        how = "download" if spec.remote else "manual download"
        print(f"{spec.name:<24} {spec.description} [{spec.format}; {how}]")
        print(f"{'':<24} terms: {spec.license}")
    return 0


def _transitions(args: argparse.Namespace) -> int:
    from recsft.modeling.transitions import TransitionSettings
    from recsft.training.pipeline import fit_transitions

    settings = TransitionSettings(order_weights=tuple(args.order_weights), decay=args.decay,
                                  window=args.window)
    result = fit_transitions(args.run, settings, args.weights, args.smoothings,
                             args.temperatures)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    metric = result["metric"]
    for row in result["validation"]:
        print(f"weight {row['weight']:<4g} smoothing {row['smoothing']:<5g} temperature "
              f"{row['temperature']:<4g} validation {metric} {row[metric]:.4f}")
    print(f"chosen weight {result['weight']:g}, smoothing {result['smoothing']:g}, "
          f"temperature {result['temperature']:g} -> {result['saved_to']}")
    print(f"test: recsft evaluate --run {args.run} --transitions")
    return 0


DATA_COMMANDS = {"prepare": _data_prepare, "stats": _data_stats, "list": _data_list}
COMMANDS = {"train": _train, "evaluate": _evaluate, "transitions": _transitions,
            "recommend": _recommend, "push": _push, "data": _data, "compare": _compare,
            "index": _index, "report": _report, "windows": _windows, "cv": _cv}

if __name__ == "__main__":
    sys.exit(main())
