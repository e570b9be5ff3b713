"""``recsft tune``: a hyper-parameter search on validation, then one test of the chosen config.

Optuna, torch and the trainer are imported inside the command (``recsft --help`` stays fast).
"""

from __future__ import annotations

import argparse
import shlex
import sys


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``recsft tune``."""
    tune = commands.add_parser(
        "tune", help="search hyper-parameters on validation (Optuna, pruned trials), then "
                     "train and test the chosen config once (docs/tuning.md)")
    tune.add_argument("--config", required=True,
                      help="YAML run config; its tune: section declares the space (default: "
                           "the model type's default space)")
    tune.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")
    tune.add_argument("--trials", type=int,
                      help="trials the study should hold (tune.trials); a resumed study runs "
                           "the ones left")
    tune.add_argument("--budget-minutes", type=float,
                      help="the search's budget (tune.budget_minutes): no trial starts after "
                           "it, the one running stops at its next validation; the final "
                           "training comes after")
    tune.add_argument("--budget-trainings", type=float, metavar="N",
                      help="the search's budget in trainings of the config as given "
                           "(tune.budget_trainings): trial 0 trains the config's own values, "
                           "then all trials together may spend N times its seconds")
    tune.add_argument("--final-seeds", type=int, nargs="+", metavar="SEED",
                      help="seeds of the final training of the chosen config (default: "
                           "training.seed); several give a t-interval over seeds")
    tune.add_argument("--no-final", action="store_true",
                      help="search only: write best_config.yaml, train nothing on test")
    tune.add_argument("--json", action="store_true", help="print the result as JSON")
    tune.set_defaults(handler=_tune)


def _tune(args: argparse.Namespace) -> int:
    import json

    from recsft.config import RunConfig
    from recsft.errors import RecsftError
    from recsft.training.tune import BEST_CONFIG, RESULT, run_study
    from recsft.tuning.config import tune_folder
    from recsft.tuning.report import TRIALS_JSON, format_trials

    if args.trials is not None and args.trials < 1:
        raise RecsftError(f"--trials {args.trials}: expected at least 1")
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        raise RecsftError(f"--budget-minutes {args.budget_minutes}: expected a positive number")
    if args.budget_trainings is not None and not args.budget_trainings > 0:
        raise RecsftError(f"--budget-trainings {args.budget_trainings}: expected a positive "
                          "number")
    config = RunConfig.from_yaml(args.config, args.overrides)
    command = "recsft " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_study(config, trials=args.trials, budget_minutes=args.budget_minutes,
                       budget_trainings=args.budget_trainings,
                       final_seeds=args.final_seeds, final=not args.no_final, command=command)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    folder = tune_folder(config)
    with open(folder / TRIALS_JSON, encoding="utf-8") as handle:
        rows = json.load(handle)
    print(format_trials(rows, config.tune.metric))
    study, best = result["study"], result["best"]
    print(f"\n{study['trials']} trials: {study['complete']} complete, {study['pruned']} "
          f"pruned, {study['failed']} failed; {study['epochs_spent']} epochs, "
          f"{study['trial_seconds']:.0f} s of training")
    print(f"best: trial {best['trial']}, valid {result['metric']} {best['valid']:.4f}")
    for metric, summary in (result.get("final") or {}).get("test", {}).items():
        if metric in ("ndcg@10", "recall@10", result["metric"]):
            users, seeds = summary["users"], summary["seeds"]
            over_seeds = (f", over {seeds['n']} seeds {seeds['ci95_low']:.4f}-"
                          f"{seeds['ci95_high']:.4f}" if seeds else "")
            print(f"final test {metric}: {summary['mean']:.4f} (95% over users "
                  f"{users['ci95_low']:.4f}-{users['ci95_high']:.4f}{over_seeds})")
    print(f"\nchosen config: {folder / BEST_CONFIG}\nresult: {folder / RESULT}")
    return 0
