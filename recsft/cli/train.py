"""``recsft train``, ``recsft windows``, ``recsft cv``: commands that train."""

from __future__ import annotations

import argparse
import json

from recsft.cli.common import write_json


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the training commands."""
    train = commands.add_parser("train", help="train a model from a YAML run config")
    train.add_argument("--config", required=True, help="YAML run config, e.g. configs/demo.yaml")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")
    train.add_argument("--resume", action="store_true",
                       help="continue this run's interrupted training from its newest checkpoint")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing run of this name once the new one is complete "
                            "(it stays whole until then), or discard an interrupted training")
    start = train.add_mutually_exclusive_group()
    start.add_argument("--init-from-run", metavar="RUN",
                       help="start from a run (training.init_from): of the same data source, "
                            "a warm start keeping its items; of another catalogue, everything "
                            "not tied to item ids (see --init-items)")
    start.add_argument("--init-from", metavar="CHECKPOINT",
                       help="start the transformer encoder from a local pretrained language "
                            "model (training.init_from)")
    train.add_argument("--init-items", choices=("auto", "keep", "drop"),
                       help="with --init-from-run: keep the run's items and their weights "
                            "(warm start), drop them (another catalogue), or auto: keep for "
                            "the same data source (training.init_items)")
    train.set_defaults(handler=_train)

    windows = commands.add_parser(
        "windows", help="train and test once per time window (rolling temporal protocol): "
                        "metric over time, stability, interest drift")
    windows.add_argument("--config", required=True)
    windows.add_argument("--set", dest="overrides", action="append", default=[])
    windows.add_argument("--windows", type=int, default=4, help="number of test windows")
    windows.add_argument("--window-days", type=float, default=7.0)
    windows.add_argument(
        "--mode", choices=("retrain", "incremental", "frozen", "compare"), default="retrain",
        help="retrain: each window from scratch (runs <run_dir>/window-<w>); incremental: "
             "window 0 from scratch, each later one warm-started from the one before on the "
             "new events only; frozen: window 0's model tested on every later window "
             "untrained; compare: the three, window by window, with paired tests "
             "(docs/continual.md). Runs: <run_dir>/<mode>-window-<w>")
    windows.add_argument("--overwrite", action="store_true",
                         help="incremental/frozen/compare: replace the runs of an earlier call "
                              "(refused otherwise, before anything trains); --mode retrain "
                              "replaces its window-<w> runs, as it always has")
    windows.add_argument("--resamples", type=int, default=1000,
                         help="bootstrap resamples of the intervals (default 1000)")
    windows.add_argument("--plot", metavar="PNG",
                         help="incremental/frozen/compare: draw the metrics per window here")
    windows.add_argument("--output", help="also write the JSON result to this file")
    windows.add_argument("--json", action="store_true", help="print JSON instead of a table")
    windows.set_defaults(handler=_windows)

    cv = commands.add_parser("cv", help="user-level K-fold cross-validation: mean ± std")
    cv.add_argument("--config", required=True)
    cv.add_argument("--set", dest="overrides", action="append", default=[])
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--output", help="also write the JSON result to this file")
    cv.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cv.set_defaults(handler=_cv)


def _train(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from recsft.config import RunConfig
    from recsft.report.text import format_metrics_table
    from recsft.training.pipeline import run_training

    source = args.init_from_run or args.init_from
    overrides = [*args.overrides, *([f"training.init_from={source}"] if source else []),
                 *([f"training.init_items={args.init_items}"] if args.init_items else [])]
    config = RunConfig.from_yaml(args.config, overrides)
    record = run_training(config, resume=args.resume, overwrite=args.overwrite)
    if PartialState().is_main_process:
        print(format_metrics_table(record))
        print(f"\nrun folder: {config.run_dir}")
    return 0


def _windows(args: argparse.Namespace) -> int:
    from recsft.config import RunConfig
    from recsft.errors import RecsftError
    from recsft.report.text import format_variants
    from recsft.training.repeats import run_variants, time_window_variants

    config = RunConfig.from_yaml(args.config, args.overrides)
    seconds = int(args.window_days * 86400)
    if args.resamples < 1:
        raise RecsftError(f"--resamples {args.resamples}: expected at least 1")
    if args.mode == "retrain":
        if args.plot:
            raise RecsftError("--plot: drawn for --mode incremental, frozen or compare")
        result = run_variants(config, time_window_variants(config, args.windows, seconds),
                              "time_windows", n_resamples=args.resamples, window_seconds=seconds)
        write_json(result, args.output)
        print(json.dumps(result, indent=2, default=str) if args.json
              else format_variants(result))
        return 0
    from recsft.report.windows import check_plot_output, format_rolling, plot_rolling
    from recsft.runs.guard import check_json_output
    from recsft.training.windows import rolling_windows

    if args.output:   # checked before hours of training, not after
        check_json_output(args.output, "--output")
    if args.plot:
        check_plot_output(args.plot)
    result = rolling_windows(config, args.windows, seconds, args.mode,
                             n_resamples=args.resamples, overwrite=args.overwrite)
    write_json(result, args.output)
    if args.plot:
        plot_rolling(result, args.plot)
    print(json.dumps(result, indent=2, default=str) if args.json else format_rolling(result))
    return 0


def _cv(args: argparse.Namespace) -> int:
    from recsft.config import RunConfig
    from recsft.report.text import format_variants
    from recsft.training.repeats import fold_variants, run_variants

    config = RunConfig.from_yaml(args.config, args.overrides)
    result = run_variants(config, fold_variants(args.folds, config.data.split_seed), "folds")
    write_json(result, args.output)
    print(json.dumps(result, indent=2, default=str) if args.json else format_variants(result))
    return 0
