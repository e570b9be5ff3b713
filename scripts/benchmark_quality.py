"""Train a config with several seeds and record its quality next to most-popular and the papers.

Writes ``benchmarks/results/quality_<run name>.json``: per seed the test metrics and training
summary; over seeds the mean of every metric (NDCG, Recall, MRR, hit rate at 5/10/20) with two
95% intervals — over seeds (t) and over users (bootstrap of the seed-averaged values); the
most-popular baseline on the same split; the published figures on the same dataset version
(identified by its statistics) with where our interval lies; the protocol, dataset version,
config, machine and library versions. Then rewrites the generated tables of docs/benchmarks.md
(``recsft.report.tables``) from every such record.

Usage:
    python scripts/benchmark_quality.py --config configs/sasrec-beauty.yaml --seeds 42 43 44
    python scripts/benchmark_quality.py --config configs/sasrec-beauty.yaml --seeds 42 43 --reuse
    python scripts/benchmark_quality.py --from-run runs/a-seed42 --from-run runs/a-seed43

Named datasets are found in ``$RECSFT_DATA_DIR/<name>`` (``RECSFT_DATA_DIR=../shared/data`` in
the development layout) or the download cache. ``--reuse`` records a seed's finished run instead
of training it again. With one seed and no
``--seeds``, the run keeps the config's name and seed.

``--transitions`` records each seed's model interpolated with item transitions
(``recsft transitions``: fitted on the training split, mixture weight, smoothing and temperature
chosen on validation; fitted first where a run has none, or one of an older format, or with
``--refit-transitions``) as ``quality_<name>-transitions.json``.

    python scripts/benchmark_quality.py --config configs/sasrec-beauty.yaml --seeds 42 43 \
        --reuse --transitions
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(config: str, overrides: list[str], reuse: bool) -> str:
    from recsft.config import RunConfig

    run_dir = os.path.join(ROOT, RunConfig.from_yaml(os.path.join(ROOT, config), overrides).run_dir)
    if reuse and os.path.exists(os.path.join(run_dir, "metrics.json")):
        print(f"reusing {run_dir}", flush=True)
        return run_dir
    command = [sys.executable, "-m", "recsft.cli", "train", "--overwrite", "--config", config,
               *[f"--set={o}" for o in overrides]]
    subprocess.run(command, check=True, cwd=ROOT)
    return run_dir


def _comparable(protocol: dict[str, Any], version: Any) -> list[str]:
    """Why our protocol differs from the published one (empty when it does not)."""
    reasons = []
    if protocol.get("split") != "leave-one-out":
        reasons.append(f"split {protocol.get('split')} (published: leave-one-out)")
    if protocol.get("ranking") != "full":
        reasons.append(f"ranking {protocol.get('ranking')} (published: full)")
    if not protocol.get("filter_seen"):
        reasons.append("history items not filtered (published: filtered)")
    if protocol.get("max_length") != version.max_length:
        reasons.append(f"max length {protocol.get('max_length')} (published: {version.max_length})")
    return reasons


def record_seeds(run_dirs: list[str], command: str, n_resamples: int,
                 name: str | None = None, transitions: bool = False,
                 refit_transitions: bool = False) -> dict[str, Any]:
    """The benchmark record of one config's seeds (see the module docstring)."""
    from recsft.evaluation.published import PROTOCOL, dataset_version, published_for
    from recsft.evaluation.seeds import aggregate_seeds, published_comparison
    from recsft.modeling.transitions import ItemTransitions
    from recsft.runs.evaluate import evaluate_run, fit_transitions

    records, per_user = [], []
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "metrics.json")) as handle:
            records.append(json.load(handle))
        if transitions:
            try:
                ItemTransitions.load(run_dir)
                why = "--refit-transitions" if refit_transitions else None
            except (FileNotFoundError, ValueError) as error:  # none yet, or an older format
                why = str(error)
            if why:
                print(f"fitting item transitions of {run_dir} ({why})", flush=True)
                fit_transitions(run_dir)
        evaluation = evaluate_run(run_dir, "test", n_resamples=0, per_user=True,
                                  transitions=transitions)
        per_user.append(evaluation["per_user"])
        if transitions:  # the seed's own figures are the mixture's
            records[-1] = {**records[-1], "test": evaluation["metrics"],
                           "transitions": evaluation["transitions"]}
    first = records[0]
    for run_dir, record in zip(run_dirs[1:], records[1:]):
        if record["protocol"] != first["protocol"]:
            raise SystemExit(f"{run_dir}: protocol {record['protocol']} differs from "
                             f"{run_dirs[0]}: {first['protocol']}")
    summary = aggregate_seeds(per_user, n_resamples=n_resamples)
    stats = {key: first["dataset"].get(key) for key in ("users", "items", "interactions")}
    version = dataset_version(stats)
    published = published_for(stats)
    reasons = _comparable(first["protocol"], version) if version else []
    name = name or first["config"]["name"].removesuffix(
        f"-seed{first['config']['training']['seed']}")
    if transitions:
        name += "-transitions"
    return {
        "name": name,
        "command": command,
        "dataset": first["dataset"],
        "dataset_version": version.name if version else None,
        "protocol": first["protocol"],
        "seeds": [{"seed": record["config"]["training"]["seed"], "run_dir": run_dir,
                   "test": record["test"], "valid": record.get("valid"),
                   "training": record["training"],
                   **({"transitions": record["transitions"]} if transitions else {})}
                  for run_dir, record in zip(run_dirs, records)],
        "summary": summary,
        "test": {key: value["mean"] for key, value in summary.items()},
        "baselines": first["baselines"],
        "published": {
            "protocol": PROTOCOL,
            "comparable": bool(published) and not reasons,
            "differences": reasons,
            "results": [row.to_dict() for row in published],
            "comparison": published_comparison(summary, published) if not reasons else [],
        },
        "environment": first["environment"],
        "config": first["config"],
    }


def _print(record: dict[str, Any]) -> None:
    summary = record["summary"]
    version = record["dataset_version"]
    print(f"{record['name']}: {len(record['seeds'])} seed(s); "
          + (f"published version {version}" if version else "no published version"))
    for key in ("ndcg@5", "ndcg@10", "ndcg@20", "recall@5", "recall@10", "recall@20"):
        if key not in summary:
            continue
        value = summary[key]
        interval = value["seeds"] or value["users"]
        print(f"  {key:<10} {value['mean']:.4f}  [{interval['ci95_low']:.4f}, "
              f"{interval['ci95_high']:.4f}] ({'seeds' if value['seeds'] else 'users'})")
    popular = record["baselines"]["most_popular"]["test"]
    print(f"  most-popular ndcg@10 {popular['ndcg@10']:.4f}")
    for row in record["published"]["comparison"]:
        print(f"  vs {row['model']} ({row['source']}) {row['metric']} {row['published']:.4f}: "
              f"{row['verdict']} (x{row['ratio']:.2f})")
    for reason in record["published"]["differences"]:
        print(f"  not comparable with the published figures: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="YAML run config to train")
    source.add_argument("--from-run", action="append", help="finished run folder (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--reuse", action="store_true", help="record finished seeds")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--transitions", action="store_true",
                        help="record the models interpolated with item transitions")
    parser.add_argument("--refit-transitions", action="store_true",
                        help="with --transitions: fit them again even where a run has them")
    args = parser.parse_args()

    if args.config:
        from recsft.config import RunConfig

        base = RunConfig.from_yaml(os.path.join(ROOT, args.config), args.overrides)
        run_dirs = []
        for seed in args.seeds or [None]:
            overrides = list(args.overrides)
            if seed is not None:
                overrides += [f"training.seed={seed}", f"name={base.name}-seed{seed}"]
            run_dirs.append(_train(args.config, overrides, args.reuse))
        command = ("python scripts/benchmark_quality.py --config " + args.config
                   + "".join(f" --set {shlex.quote(o)}" for o in args.overrides)
                   + (" --seeds " + " ".join(map(str, args.seeds)) if args.seeds else "")
                   + (" --transitions" if args.transitions else "")
                   + (" --refit-transitions" if args.refit_transitions else ""))
    else:
        run_dirs = args.from_run
        command = "recorded from " + " ".join(run_dirs)
    record = record_seeds(run_dirs, command, args.n_resamples,
                          name=base.name if args.config else None, transitions=args.transitions,
                          refit_transitions=args.refit_transitions)
    from recsft.report.text import write_benchmark_result

    out = write_benchmark_result(ROOT, f"quality_{record['name']}", record)
    _print(record)
    print(f"-> {out}")
    from recsft.report.tables import refresh_quality_tables

    docs = os.path.join(ROOT, "docs", "benchmarks.md")
    tables = refresh_quality_tables(docs, os.path.join(ROOT, "benchmarks", "results"))
    if tables:
        print(f"-> {docs} (tables: {', '.join(tables)})")


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
