"""Time to quality: training seconds each library needs to reach a validation NDCG@10.

recsft, RecBole 1.2.1 and RecTools (its SASRecModel / BERT4RecModel on Lightning) train the same
model size (hidden 64, 2 layers, 2 heads) on the same leave-one-out split of MovieLens-100K
(max length 200) or Amazon Beauty, S3-Rec version (max length 50), each in its own process
(RecBole and RecTools in their own virtual environments, ``.bench/recbole-venv`` and
``.bench/rectools-venv``, installed on first use).

Protocol:

* **One split.** recsft reads the log and splits it leave-one-out (last event test,
  second-to-last validation, the rest training); the work folder
  ``.bench/time_to_quality/<dataset>`` holds every event in recsft's order, the training events,
  the validation and test users and targets, and the item list, with the same id strings for
  every library. recsft trains on that event list (its own split of it is checked against the
  files); RecTools on the training events; RecBole on its own ``LS valid_and_test`` split of the
  same events with each event's position as its timestamp, checked target by target.
* **One evaluator.** At every ``--eval-every-seconds`` of *training* time (the clock paused
  while scoring) each library's process writes, for every validation user, its top
  ``--top-k`` items over the full catalogue after removing the user's training items; this
  script computes NDCG@10 from those files with recsft's metric code
  (:func:`recsft.evaluation.metrics.ranking.compute_ranking_metrics`). The test top-K is
  written at each new best validation point; its NDCG@10 is computed once, for the best point.
* **Settings.** ``recommended``: recsft's config (``configs/<model>-<dataset>.yaml``), RecBole's
  defaults for the model (batch 2,048, dropout 0.5 for SASRec, CE loss, which its docs
  recommend for sequential models), RecTools' defaults (batch 128, softmax loss, dropout 0.2) at
  the given size and length; ``matched``: the same loss (full softmax cross-entropy), length,
  batch 256, learning rate 0.001, dropout 0.2, no weight decay, constant learning rate, BERT4Rec
  mask probability 0.2, for all three. Every training stops at ``--budget-minutes`` of training
  time, when validation has not improved for ``--patience`` points, or at its epoch cap.
* **Alternation.** The libraries take turns within each case (dataset x model x settings), the
  order rotated from one case to the next.

Writes ``benchmarks/results/time_to_quality_<dataset>[_<tag>].json`` and a PNG of the curves
beside it.

Usage:
    python scripts/benchmark_time_to_quality.py --datasets ml-100k --models sasrec \
        --settings matched --budget-minutes 2 --eval-every-seconds 15 --tag smoke
    # the full grid, one case (three trainings, about an hour at a 20-minute budget) per
    # invocation, all filling time_to_quality_<dataset>.json:
    python scripts/benchmark_time_to_quality.py --datasets ml-100k --models sasrec \
        --settings recommended --budget-minutes 20 --eval-every-seconds 30 --merge
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

import benchmark_speed  # noqa: E402  (its RecBole installer and child environment)

CHILD = os.path.join(SCRIPTS, "time_to_quality_child.py")
WORK = os.path.join(ROOT, ".bench", "time_to_quality")
RECTOOLS_VENV = os.path.join(ROOT, ".bench", "rectools-venv")
LIBRARIES = ("recsft", "recbole", "rectools")
#: Per dataset: recsft's named source and the max length of the issue.
DATASETS = {"ml-100k": {"source": "ml-100k", "max_length": 200},
            "amazon-beauty": {"source": "amazon-beauty", "max_length": 50}}
MODELS = ("sasrec", "bert4rec")
SETTINGS = ("recommended", "matched")
SIZE = {"hidden": 64, "layers": 2, "heads": 2, "inner": 256}
#: The matched settings, the same for every library.
MATCHED = {"batch_size": 256, "learning_rate": 0.001, "dropout": 0.2, "epochs": 200,
           "mask_prob": 0.2}
#: The epoch cap of the recommended settings where a library's default is not a training
#: recommendation (RecTools' ``epochs=3``); recsft's and RecBole's own caps otherwise.
EPOCH_CAP = 200


# ----------------------------------------------------------------------------- the work folder

def prepare_work(source: Any, folder: str, users: int | None = None) -> dict[str, Any]:
    """Read and split a log as recsft does and write the work folder every library reads.

    Args:
        source: recsft's ``data`` section (a dict, e.g. ``{"source": "ml-100k"}``).
        folder: Where to write.
        users: Keep only the first this many users (in recsft's order), for ``--tiny``.

    Returns:
        Counts: ``users``, ``items``, ``events``, ``train_events``, ``valid_users``.
    """
    from recsft.config import RunConfig
    from recsft.data.split import leave_one_out
    from recsft.fileio import atomic_write_text, make_folder
    from recsft.runs.data import load_log

    config = RunConfig.from_dict({"name": "ttq", "data": dict(source), "model": {}})
    sequences = load_log(config).sequences()
    if users is not None:
        from recsft.data.split import pick_sequences

        sequences = pick_sequences(sequences, list(range(min(users, len(sequences.user_ids)))))
    splits = leave_one_out(sequences)
    items = sorted({item for row in sequences.items for item in row})
    make_folder(folder)
    make_folder(os.path.join(folder, "recbole", "ttq"))
    events = ["user_id\titem_id\tposition"]
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user, row in zip(sequences.user_ids, sequences.items):
        events += [f"{user}\t{item}\t{n}" for n, item in enumerate(row)]
        inter += [f"{user}\t{item}\t{n}" for n, item in enumerate(row)]
    train = ["user_id\titem_id\tposition"]
    for user, row in zip(splits.train.user_ids, splits.train.items):
        train += [f"{user}\t{item}\t{n}" for n, item in enumerate(row)]
    atomic_write_text(os.path.join(folder, "events.tsv"), "\n".join(events) + "\n")
    atomic_write_text(os.path.join(folder, "recbole", "ttq", "ttq.inter"), "\n".join(inter) + "\n")
    atomic_write_text(os.path.join(folder, "train.tsv"), "\n".join(train) + "\n")
    atomic_write_text(os.path.join(folder, "items.json"), json.dumps(items))
    for name, part in (("valid", splits.valid), ("test", splits.test)):
        atomic_write_text(os.path.join(folder, f"{name}.json"),
                          json.dumps({"users": part.user_ids, "targets": part.targets}))
    return {"users": len(sequences.user_ids), "items": len(items),
            "events": len(events) - 1, "train_events": len(train) - 1,
            "valid_users": len(splits.valid)}


# ------------------------------------------------------------------------------- settings

def library_params(library: str, model: str, settings: str, dataset: str,
                   max_length: int | None = None) -> dict[str, Any]:
    """The settings one library trains with (RecBole config keys, RecTools constructor
    arguments, recsft config overrides)."""
    length = max_length or DATASETS.get(dataset, {}).get("max_length")
    matched = settings == "matched"
    m = MATCHED
    if library == "recbole":
        params = {"hidden_size": SIZE["hidden"], "inner_size": SIZE["inner"],
                  "n_layers": SIZE["layers"], "n_heads": SIZE["heads"],
                  "MAX_ITEM_LIST_LENGTH": length, "loss_type": "CE"}
        if matched:
            params.update(train_batch_size=m["batch_size"], learning_rate=m["learning_rate"],
                          hidden_dropout_prob=m["dropout"], attn_dropout_prob=m["dropout"],
                          weight_decay=0.0, epochs=m["epochs"])
            if model == "bert4rec":
                params["mask_ratio"] = m["mask_prob"]
        return params
    if library == "rectools":
        params = {"n_factors": SIZE["hidden"], "n_blocks": SIZE["layers"],
                  "n_heads": SIZE["heads"], "session_max_len": length, "epochs": EPOCH_CAP,
                  "loss": "softmax"}
        if matched:
            params.update(batch_size=m["batch_size"], lr=m["learning_rate"],
                          dropout_rate=m["dropout"], epochs=m["epochs"])
            if model == "bert4rec":
                params["mask_prob"] = m["mask_prob"]
        return params
    if not matched:
        return {}
    return {"data": {"max_length": length},
            "model": {"hidden_dropout_prob": m["dropout"],
                      "attention_probs_dropout_prob": m["dropout"], "loss": "ce"},
            "training": {"batch_size": m["batch_size"], "learning_rate": m["learning_rate"],
                         "weight_decay": 0.0, "scheduler": "constant", "warmup_ratio": 0.0,
                         "epochs": m["epochs"],
                         **({"mask_prob": m["mask_prob"]} if model == "bert4rec" else {})}}


def recsft_config(model: str, dataset: str, settings: str, out: str, top_k: int,
                  config_path: str | None = None, max_length: int | None = None) -> dict:
    """recsft's config dict: ``configs/<model>-<short dataset>.yaml`` (or ``config_path``) with
    the matched overrides, no validation of its own (the points score), ``ks`` up to
    ``top_k``."""
    import yaml

    short = {"ml-100k": "ml100k", "amazon-beauty": "beauty"}.get(dataset, dataset)
    path = config_path or os.path.join(ROOT, "configs", f"{model}-{short}.yaml")
    with open(path) as handle:
        config = yaml.safe_load(handle)
    for section, values in library_params("recsft", model, settings, dataset,
                                          max_length).items():
        config.setdefault(section, {}).update(values)
    if max_length:
        config["data"]["max_length"] = max_length
    training = config.setdefault("training", {})
    training.update(eval_every=int(training.get("epochs", 1)) + 1, patience=0,
                    report_to="none", save_every_steps=0)
    config["evaluation"] = {**config.get("evaluation", {}), "ks": sorted({10, top_k})}
    config.update(name="ttq", output_dir=out)
    return config


# ------------------------------------------------------------------------- recsft's process

def run_recsft_job(job: dict) -> None:
    """recsft's side of a case, in its own process: its own ``run_training`` on the work
    folder's events, the points taken between batches by wrapping the batch transform that
    ``recsft.training.loop.fit`` applies (recsft has no per-step callback)."""
    import numpy as np
    import pandas as pd
    import torch
    from time_to_quality_child import Points, StopTraining, _targets, read_work

    import recsft
    import recsft.training.loop as loop
    import recsft.training.pipeline as pipeline
    from recsft.config import RunConfig
    from recsft.data.events import EventLog
    from recsft.scoring.model import model_scorer

    torch.set_num_threads(job["threads"])
    work = read_work(job["work"])
    frame = pd.read_csv(os.path.join(job["work"], "events.tsv"), sep="\t", dtype=str)
    log = EventLog(pd.DataFrame({"user_id": frame["user_id"], "item_id": frame["item_id"],
                                 "timestamp": frame["position"].astype("int64")}),
                   source=os.path.join(job["work"], "events.tsv"))
    config = RunConfig.from_dict(job["params"])
    captured: dict[str, Any] = {}
    original_prepare, original_fit = pipeline.prepare_data, loop.fit

    def prepare(*args: Any, **kwargs: Any):
        captured["prepared"] = prepared = original_prepare(*args, **kwargs)
        for name in ("valid", "test"):
            evaluator = getattr(prepared, name)
            if (evaluator.user_ids != work[name]["users"]
                    or evaluator.target_items != work[name]["targets"]):
                raise SystemExit(f"recsft's {name} split differs from the work folder's")
        return prepared

    def score(split: str) -> np.ndarray:
        prepared, model = captured["prepared"], captured["model"]
        items = prepared.tokenizer.item_ids
        to_global = np.array([work["index"].get(i, -1) for i in items] + [-1])
        top, _ = getattr(prepared, split).top_k(model_scorer(model))
        model.train()
        top = np.where(top >= 0, top, len(items))
        return to_global[top[:, :job["k"]]]

    points = Points(job, _targets(work), score)

    def fit(model, loader, evaluator, args, accelerator, **kwargs: Any):
        captured["model"] = model
        transform = kwargs.get("batch_transform")
        steps = {"n": 0}
        per_epoch = len(loader)

        def timed(batch: dict) -> dict:
            points.check(steps["n"] // per_epoch, steps["n"])  # 0-based, as the others
            steps["n"] += 1
            return transform(batch) if transform is not None else batch

        kwargs["batch_transform"] = timed
        points.start()
        return original_fit(model, loader, evaluator, args, accelerator, **kwargs)

    pipeline.prepare_data, loop.fit = prepare, fit
    try:
        pipeline.run_training(config, log=log)
    except StopTraining:
        pass
    finally:
        pipeline.prepare_data, loop.fit = original_prepare, original_fit
    own = captured["prepared"].valid.evaluate(model_scorer(captured["model"]))["ndcg@10"]
    points.finish({"versions": {"recsft": recsft.__version__, "torch": torch.__version__,
                                "numpy": np.__version__},
                   "own_evaluator_last_point_ndcg@10": own, "config": config.to_dict()})


# ----------------------------------------------------------------------------- the parent

def ensure_rectools(python: str | None) -> str:
    """The RecTools environment's Python, creating ``.bench/rectools-venv`` when needed (torch
    2.13.0 first, so that RecTools' ``[torch]`` extra finds it and pulls no other build)."""
    return benchmark_speed.ensure_venv(RECTOOLS_VENV, ["rectools[torch]"], python)


def run_child(library: str, python: str, job: dict, log_path: str) -> dict:
    """One library's training of one case in its own process; its ``done.json`` record."""
    from recsft.fileio import atomic_write_text

    job_path = os.path.join(job["out"], "job.json")
    os.makedirs(job["out"], exist_ok=True)
    atomic_write_text(job_path, json.dumps(job))
    command = ([sys.executable, os.path.abspath(__file__), "--only", job_path]
               if library == "recsft" else [python, CHILD, job_path])
    env = benchmark_speed.environment_with(
        "default", TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", TQDM_DISABLE="1",
        OMP_NUM_THREADS=str(job["threads"]), MKL_NUM_THREADS=str(job["threads"]),
        PYTHONPATH=SCRIPTS if library == "recsft" else "")
    started = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                              cwd=tempfile.mkdtemp(prefix=f"ttq-{library}-"))
    if done.returncode:
        with open(log_path) as handle:
            tail = handle.read()[-3000:]
        raise RuntimeError(f"{library} failed (exit {done.returncode}); {log_path}:\n{tail}")
    with open(os.path.join(job["out"], "done.json")) as handle:
        record = json.load(handle)
    record["process_seconds"] = time.perf_counter() - started
    record["command"] = " ".join(command)
    return record


def curve_of(out: str, targets: list[int]) -> list[dict[str, float]]:
    """A library's validation curve, NDCG@10 by recsft's metric code from its top-K files."""
    import numpy as np

    from recsft.evaluation.metrics.ranking import compute_ranking_metrics

    curve = []
    with open(os.path.join(out, "points.jsonl")) as handle:
        for line in handle:
            point = json.loads(line)
            top = np.load(os.path.join(out, f"valid_{point['point']}.npy"))
            value = compute_ranking_metrics(top, np.asarray(targets), [10])["ndcg@10"]
            curve.append({"train_seconds": point["train_seconds"],
                          "wall_seconds": point["wall_seconds"],
                          "score_seconds": point["score_seconds"], "epoch": point["epoch"],
                          "steps": point["steps"], "ndcg@10": value})
    return curve


def time_to_target(curves: dict[str, list[dict[str, float]]],
                   reference: str = "recsft") -> dict[str, Any]:
    """The target (the lowest of the libraries' best validation NDCG@10: the best the
    slowest of them reaches), the training seconds each first reaches it, the ratios to
    ``reference``.

    Args:
        curves: Per library, points with ``train_seconds`` and ``ndcg@10`` in time order.
        reference: The library the ratios divide by.

    Returns:
        ``best`` (per library), ``target``, ``seconds_to_target`` (per library, ``None`` if
        never), ``ratios`` (``"<library>/<reference>"``, ``None`` where either is missing),
        and ``pairwise``: per other library, the same against ``reference`` alone, at the lower
        of the two bests (``target``, ``seconds`` of both, ``ratio``). Where one library ends
        far below the others (a default that trains slowly), the common target is low enough
        for every other library to reach in its first points, and the pairwise figure says
        how the two others compare at a quality both reach.
    """
    best = {lib: max((p["ndcg@10"] for p in curve), default=None)
            for lib, curve in curves.items()}

    def first_reach(curve: list[dict[str, float]], target: float | None) -> float | None:
        return next((p["train_seconds"] for p in curve
                     if target is not None and p["ndcg@10"] >= target), None)

    def ratio(theirs: float | None, mine: float | None) -> float | None:
        return round(theirs / mine, 2) if mine and theirs is not None else None

    reached = [v for v in best.values() if v is not None]
    target = min(reached) if reached else None
    seconds = {lib: first_reach(curve, target) for lib, curve in curves.items()}
    ratios, pairwise = {}, {}
    for lib in curves:
        if lib == reference or reference not in curves:
            continue
        ratios[f"{lib}/{reference}"] = ratio(seconds[lib], seconds.get(reference))
        pair = [v for v in (best[lib], best[reference]) if v is not None]
        pair_target = min(pair) if len(pair) == 2 else None
        theirs = first_reach(curves[lib], pair_target)
        mine = first_reach(curves[reference], pair_target)
        pairwise[lib] = {"target": pair_target, "seconds": {lib: theirs, reference: mine},
                         "ratio": ratio(theirs, mine)}
    return {"best": best, "target": target, "seconds_to_target": seconds, "ratios": ratios,
            "pairwise": pairwise}


def test_ndcg(out: str, targets: list[int]) -> float:
    """NDCG@10 of the test top-K a library wrote at its best validation point."""
    import numpy as np

    from recsft.evaluation.metrics.ranking import compute_ranking_metrics

    top = np.load(os.path.join(out, "test_best.npy"))
    return compute_ranking_metrics(top, np.asarray(targets), [10])["ndcg@10"]


def run_case(args: argparse.Namespace, dataset: str, model: str, settings: str,
             order: list[str], pythons: dict[str, str], work: str, out_root: str) -> dict:
    """Every library of ``order`` on one case, one after the other; the case's record."""
    import numpy as np

    with open(os.path.join(work, "items.json")) as handle:
        index = {item: i for i, item in enumerate(json.load(handle))}
    targets = {}
    for split in ("valid", "test"):
        with open(os.path.join(work, f"{split}.json")) as handle:
            targets[split] = [index.get(t, -2) for t in json.load(handle)["targets"]]
    case: dict[str, Any] = {"dataset": dataset, "model": model, "settings": settings,
                            "order": order, "libraries": {}}
    curves = {}
    for library in order:
        out = os.path.join(out_root, f"{dataset}-{model}-{settings}-{library}")
        if os.path.isdir(out):
            import shutil

            shutil.rmtree(out)  # the script's own folder under .bench (a previous run's)
        if library == "recsft":
            params = recsft_config(model, dataset, settings, os.path.join(out, "runs"),
                                   args.top_k, args.recsft_config, args.max_length)
        else:
            params = library_params(library, model, settings, dataset, args.max_length)
        job = {"library": library, "model": model, "work": work, "out": out,
               "params": params, "budget_seconds": args.budget_minutes * 60,
               "eval_every_seconds": args.eval_every_seconds, "patience": args.patience,
               "k": args.top_k, "threads": args.threads, "seed": 42,
               "recbole_model": benchmark_speed.RECBOLE_NAMES[model],
               "anomaly": args.recbole_anomaly}
        print(f"{dataset} {model} {settings}: {library} ...", flush=True)
        record = run_child(library, pythons.get(library, sys.executable), job,
                           os.path.join(out_root, f"{dataset}-{model}-{settings}-{library}.log"))
        curve = curve_of(out, targets["valid"])
        curves[library] = curve
        best = int(np.argmax([p["ndcg@10"] for p in curve])) if curve else None
        if best is not None and record.get("best_point") != best:
            raise RuntimeError(f"{library}: its best point {record.get('best_point')} is not "
                               f"the evaluator's {best}")
        record.update(curve=curve, settings=params,
                      best_valid_ndcg10=curve[best]["ndcg@10"] if curve else None,
                      test_ndcg10_at_best_valid=(test_ndcg(out, targets["test"])
                                                 if curve else None))
        if library == "recsft" and curve:
            record["evaluator_check"] = {
                "recsft_evaluator_last_point": record.get("own_evaluator_last_point_ndcg@10"),
                "files_last_point": curve[-1]["ndcg@10"]}
        case["libraries"][library] = record
        print(f"  best valid NDCG@10 {record['best_valid_ndcg10']}, "
              f"{len(curve)} points, stopped: {record['stopped']}", flush=True)
    case.update(time_to_target(curves))
    return case


def kept_cases(path: str, models: list[str], settings: list[str]) -> list[dict]:
    """``--merge``: the cases of an earlier result file that this run does not redo (another
    model or settings), so that one case per session fills one file per dataset."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        earlier = json.load(handle)
    return [c for c in earlier.get("cases", [])
            if not (c["model"] in models and c["settings"] in settings)]


def plot(result: dict, path: str) -> None:
    """The validation curves of every case, one panel a case, each library in the same colour
    and place in the legend in every panel, the common target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recsft.fileio import atomic_save

    cases = result["cases"]
    fig, axes = plt.subplots(1, max(1, len(cases)), figsize=(5 * max(1, len(cases)), 4),
                             squeeze=False)
    colours = {"recsft": "tab:blue", "recbole": "tab:orange", "rectools": "tab:green"}
    for ax, case in zip(axes[0], cases):
        records = case["libraries"]
        order = {lib: n for n, lib in enumerate(LIBRARIES)}
        for library in sorted(records, key=lambda lib: (order.get(lib, len(order)), lib)):
            curve = records[library]["curve"]
            ax.plot([p["train_seconds"] for p in curve], [p["ndcg@10"] for p in curve],
                    marker=".", label=library, color=colours.get(library))
        if case.get("target") is not None:
            ax.axhline(case["target"], linestyle="--", color="grey", linewidth=0.8,
                       label="target")
        ax.set_title(f"{case['dataset']} {case['model']} ({case['settings']})")
        ax.set_xlabel("training seconds")
        ax.set_ylabel("validation NDCG@10")
        ax.legend()
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--budget-minutes", type=float, default=20.0,
                        help="training time (scoring pauses excluded) each library gets a case")
    parser.add_argument("--eval-every-seconds", type=float, default=30.0,
                        help="training seconds between validation points")
    parser.add_argument("--patience", type=int, default=10,
                        help="stop after this many points without a better validation NDCG@10 "
                             "(0: never)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every library")
    parser.add_argument("--top-k", type=int, default=20, help="items written per user (>= 10)")
    parser.add_argument("--tiny", action="store_true",
                        help="the first 300 users of each dataset (a quick check)")
    parser.add_argument("--max-length", type=int, help="override the datasets' max length")
    parser.add_argument("--recbole-anomaly", choices=["on", "off"], default="off",
                        help="RecBole's torch anomaly detection: 'on' as shipped, 'off' (default)"
                             " turned off after the model is built")
    parser.add_argument("--recbole-python", help="a Python with recbole 1.2.1 installed")
    parser.add_argument("--rectools-python", help="a Python with rectools[torch] installed")
    parser.add_argument("--recsft-config", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help="suffix of the result file's name")
    parser.add_argument("--merge", action="store_true",
                        help="keep the cases of the existing result file that this run does not "
                             "redo (each case records its own command, machine and time)")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        with open(args.only) as handle:
            run_recsft_job(json.load(handle))
        return
    if args.top_k < 10:
        parser.error(f"--top-k must be at least 10, got {args.top_k}")
    if args.tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.tag):
        parser.error(f"--tag must be letters, digits, '.', '_' or '-', got {args.tag!r}")
    os.environ.setdefault("RECSFT_DATA_DIR", benchmark_speed.SHARED)

    from recsft.environment import environment
    from recsft.report.text import write_benchmark_result

    pythons = {}
    if "recbole" in args.libraries:
        pythons["recbole"] = benchmark_speed.ensure_recbole(args.recbole_python)
    if "rectools" in args.libraries:
        pythons["rectools"] = ensure_rectools(args.rectools_python)
    command = " ".join([os.path.basename(sys.executable), *sys.argv])
    for dataset in args.datasets:
        name = f"{dataset}-tiny" if args.tiny else dataset
        work = os.path.join(WORK, name)
        counts = prepare_work({"source": DATASETS[dataset]["source"]}, work,
                              300 if args.tiny else None)
        result = {"environment": {**environment(), "machine": platform.machine(),
                                  "processor": platform.processor(), "cpus": os.cpu_count()},
                  "command": command, "settings": vars(args), "data": counts,
                  "work_folder": os.path.relpath(work, ROOT), "pythons": pythons, "cases": []}
        result_name = f"time_to_quality_{dataset}" + (f"_{args.tag}" if args.tag else "")
        kept = kept_cases(os.path.join(ROOT, "benchmarks", "results", f"{result_name}.json"),
                          args.models, args.settings) if args.merge else []
        done: list[dict] = []
        for model in args.models:
            for settings in args.settings:
                # The case's place in the full grid turns the order, the same whichever
                # cases one invocation runs.
                turn = ((list(DATASETS).index(dataset) * len(MODELS) + MODELS.index(model))
                        * len(SETTINGS) + SETTINGS.index(settings)) % len(args.libraries)
                order = args.libraries[turn:] + args.libraries[:turn]
                case = run_case(args, dataset, model, settings, order, pythons, work,
                                os.path.join(WORK, "runs"))
                case.update(command=command, environment=result["environment"],
                            finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                done.append(case)
                result["cases"] = kept + done
                print(json.dumps({k: case[k] for k in ("target", "seconds_to_target",
                                                       "ratios")}), flush=True)
                path = write_benchmark_result(ROOT, result_name, result)
                plot(result, path[:-len(".json")] + ".png")
        print("wrote", path)


if __name__ == "__main__":
    main()
