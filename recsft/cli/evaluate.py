"""``recsft evaluate``, ``transitions``, ``compare``, ``report``: commands that read saved runs."""

from __future__ import annotations

import argparse
import json

from recsft.cli.common import write_json


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the commands that evaluate saved runs."""
    evaluate = commands.add_parser("evaluate", help="re-evaluate a run folder (full ranking)")
    evaluate.add_argument("--run", required=True,
                          help="run folder, e.g. runs/demo, or a Hub repository id, e.g. "
                               "alice/recsft-demo (downloaded once into the Hugging Face cache)")
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
    evaluate.set_defaults(handler=_evaluate)

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
    transitions.add_argument("--content-weights", type=float, nargs="*",
                             help="weights of the text-similarity term to try once the rest is "
                                  "chosen, when the run's items have text (default 0 0.5 1 2 3 "
                                  "5; none given: no such term)")
    transitions.add_argument("--new-item-priors", type=float, nargs="*",
                             help="log-score offsets of the items without training interactions "
                                  "to try last, when the catalogue has such items (default 0 "
                                  "0.25 0.5 0.75 1; none given: no prior)")
    transitions.add_argument("--order-weights", type=float, nargs="+", default=[1.0, 0.3],
                             help="weight of the successor at distance 1, 2, ...")
    transitions.add_argument("--decay", type=float, default=0.3,
                             help="weight ratio between consecutive history items")
    transitions.add_argument("--window", type=int, default=10, help="newest history items read")
    transitions.add_argument("--json", action="store_true", help="print JSON")
    transitions.set_defaults(handler=_transitions)

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
    compare.set_defaults(handler=_compare)

    report = commands.add_parser(
        "report", help="report.html with plots for one run, or several side by side")
    report.add_argument("--run", dest="runs", action="append", required=True,
                        help="run folder (repeat to compare runs on the same users; the first "
                        "is the reference)")
    report.add_argument("--output", help="report folder (default: <first run>/report)")
    report.add_argument("--split", choices=["test", "valid"], default="test")
    report.add_argument("--n-resamples", type=int, default=1000,
                        help="bootstrap resamples of the intervals and comparisons")
    report.set_defaults(handler=_report)


def _evaluate(args: argparse.Namespace) -> int:
    from recsft.hub.download import resolve_run
    from recsft.report.text import (
        format_beyond_accuracy,
        format_cold_start,
        format_intervals,
        format_segments,
        format_table,
    )
    from recsft.runs.evaluate import evaluate_run

    data = None
    if args.data_config:
        from recsft.config import RunConfig

        data = RunConfig.from_yaml(args.data_config).data
    run = str(resolve_run(args.run))
    result = evaluate_run(run, split=args.split, n_resamples=args.n_resamples,
                          segments=args.segments, data=data, transitions=args.transitions)
    write_json(result, args.output)
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
              f"{chosen['temperature']:g}, text-similarity weight "
              f"{chosen['content_weight']:g}, new-item prior {chosen['new_item_prior']:g} "
              "(chosen on validation)")
    if "transfer" in result:
        t = result["transfer"]
        print(f"\ntransfer: {t['unknown_target_share']:.1%} of targets and "
              f"{t['unknown_history_item_share']:.1%} of history items unknown to the model")
    print("\n" + format_beyond_accuracy(result["beyond_accuracy"]))
    if "cold_start" in result:
        print("\n" + format_cold_start(result["cold_start"]))
    for name, table in result.get("segments", {}).items():
        print("\n" + format_segments(name, table))
    return 0


def _transitions(args: argparse.Namespace) -> int:
    from recsft.modeling.transitions import TransitionSettings
    from recsft.runs.evaluate import fit_transitions

    settings = TransitionSettings(order_weights=tuple(args.order_weights), decay=args.decay,
                                  window=args.window)
    content = None if args.content_weights is None else tuple(args.content_weights)
    priors = None if args.new_item_priors is None else tuple(args.new_item_priors)
    result = fit_transitions(args.run, settings, args.weights, args.smoothings,
                             args.temperatures, content_weights=content,
                             new_item_priors=priors)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    metric = result["metric"]
    for row in result["validation"]:
        if "content_weight" in row:
            print(f"text-similarity weight {row['content_weight']:<4g} validation {metric} "
                  f"{row[metric]:.4f}")
            continue
        if "new_item_prior" in row:
            print(f"new-item prior {row['new_item_prior']:<4g} validation {metric} "
                  f"{row[metric]:.4f}")
            continue
        print(f"weight {row['weight']:<4g} smoothing {row['smoothing']:<5g} temperature "
              f"{row['temperature']:<4g} validation {metric} {row[metric]:.4f}")
    print(f"chosen weight {result['weight']:g}, smoothing {result['smoothing']:g}, "
          f"temperature {result['temperature']:g}, text-similarity weight "
          f"{result['content_weight']:g}, new-item prior {result['new_item_prior']:g} "
          f"({result['new_items']:,} items without training interactions) -> "
          f"{result['saved_to']}")
    print(f"test: recsft evaluate --run {args.run} --transitions")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from recsft.report.text import format_comparison
    from recsft.runs.compare import DEFAULT_METRICS, compare_runs

    result = compare_runs(args.run_a, args.run_b, split=args.split,
                          metrics=args.metrics or DEFAULT_METRICS)
    write_json(result, args.output)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


def _report(args: argparse.Namespace) -> int:
    from recsft.report.html import build_report

    path = build_report(args.runs, args.output, n_resamples=args.n_resamples, split=args.split)
    print(f"wrote {path}")
    return 0
