"""Training and evaluation speed of recsft next to RecBole 1.2.1, same data, same model sizes.

RecBole is a point of comparison, not a dependency: the script installs it into its own virtual
environment (``.bench/recbole-venv``: torch 2.13.0, recbole 1.2.1, numpy<2, pandas<3,
setuptools<81, as ``../shared/ANCHORS.md`` explains) unless ``--recbole-python`` names one.

For each model (SASRec, BERT4Rec) and max length (50, 200) on MovieLens 100K (RecBole's atomic
files) or Amazon Beauty, S3-Rec version (``--dataset amazon-beauty``: written as an atomic file
from the events recsft reads), hidden 64, 2 layers, 2 heads, inner size 256, batch 256, full
cross-entropy:

* recsft: ``--warmup`` untimed epochs, then ``--epochs`` timed epochs (``training_log.jsonl``),
  then full-ranking evaluations of every test user (history filtered): one untimed, then
  ``--eval-repeats`` timed (median), in a child process that reports its peak memory.
  Training sequences are cut into windows of ``max_length`` (stride ``max_length``), so every
  training interaction is a target once per epoch, as in RecBole.
* RecBole: the same, through its own ``Trainer._train_epoch`` and ``Trainer.evaluate`` (full
  ranking, ``valid_and_test`` leave-one-out, 1,024 users a batch; the same untimed and timed
  evaluations), once "as shipped" (RecBole turns on torch anomaly detection at import) and
  once with anomaly detection turned off after the model is built.
  RecBole trains on every prefix (one target each) and does not filter history items.

``--epochs 0`` times the evaluation alone, of untrained models of both libraries (the same
work), into ``..._eval.json``.

``--malloc`` names the glibc allocator settings both libraries' processes run under:
``default`` (as a user's process gets them) and ``retain`` (``MALLOC_MMAP_THRESHOLD_`` 64 MiB,
``MALLOC_TRIM_THRESHOLD_`` 1 GiB: freed tensor memory stays mapped for the next one). With the
default settings glibc returns large freed blocks to the kernel whenever its adaptive
thresholds say so, and the next tensor of that size faults its pages in again: thousands of
page faults per evaluation, more or fewer from one process to the next (RecBole's ML-100K
evaluation took 0.42-0.50 s by default, 0.22-0.26 s with ``retain``). Each setting is
measured for both libraries alike, so each ratio compares the code, not the allocator.

Ratios are recsft / RecBole in the same run of the script on the same machine. With
``--rounds N`` the two libraries take turns N times per case and each one's timings are pooled
(medians over all rounds; the ratio of each round is kept too): the shared 2-core machines
have slow spells of minutes, which one turn each can put on one library only. Writes
``benchmarks/results/speed_recbole.json`` (ML-100K) or ``speed_recbole_<dataset>.json``.

Usage:
    python scripts/benchmark_speed.py                # installs RecBole on first use (minutes)
    python scripts/benchmark_speed.py --models sasrec --lengths 50 --epochs 1 --warmup 0
    python scripts/benchmark_speed.py --dataset amazon-beauty --lengths 50 --epochs 1 --warmup 0
    python scripts/benchmark_speed.py --epochs 0 --recbole-modes anomaly_off   # evaluation only
    python scripts/benchmark_speed.py --epochs 0 --recbole-modes anomaly_off --rounds 3
    python scripts/benchmark_speed.py --epochs 0 --recbole-modes anomaly_off --rounds 3 \
        --malloc default retain
    python scripts/benchmark_speed.py --models sasrec --lengths 50 --epochs 1 --warmup 0 \
        --recbole-modes anomaly_off --malloc default retain --tag malloc   # a partial run
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
#: Per dataset: recsft's data section and RecBole's atomic-file columns.
DATASETS = {
    "ml-100k": {"data": {"source": os.path.join(SHARED, "ml-100k", "ml-100k.inter"),
                         "format": "recbole"},
                "recbole_columns": "user_id,item_id,rating,timestamp"},
    "amazon-beauty": {"data": {"source": os.path.join(SHARED, "amazon-beauty", "Beauty.txt"),
                               "format": "s3rec"},
                      "recbole_columns": "user_id,item_id,timestamp"},
}
VENV = os.path.join(ROOT, ".bench", "recbole-venv")
#: glibc allocator settings (environment variables) of both libraries' processes.
MALLOC = {"default": {},
          "retain": {"MALLOC_MMAP_THRESHOLD_": str(64 << 20),
                     "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}}
RECBOLE_NAMES = {"sasrec": "SASRec", "bert4rec": "BERT4Rec"}

RECBOLE_RUNNER = r'''
import json, resource, sys, time, tempfile
import torch

(model_name, max_length, data_path, epochs, anomaly, warmup, dataset_name, columns,
 repeats, scripts) = sys.argv[1:11]
max_length, epochs, warmup, repeats = int(max_length), int(epochs), int(warmup), int(repeats)
sys.path.insert(0, scripts)
from recbole_driver import build

built = build(model_name, dataset_name, {
    "data_path": data_path, "checkpoint_dir": tempfile.mkdtemp(),
    "hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 2,
    "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2, "MAX_ITEM_LIST_LENGTH": max_length,
    "train_batch_size": 256, "eval_batch_size": 1024, "epochs": epochs,
    "learning_rate": 0.001,
    "metrics": ["NDCG", "Recall"], "topk": [10], "valid_metric": "NDCG@10",
    "load_col": {"inter": columns.split(",")},
}, anomaly)
train_data, test_data, trainer = built.train, built.test, built.trainer
for epoch in range(warmup):
    trainer._train_epoch(train_data, epoch, show_progress=False)
seconds = []
for epoch in range(epochs):
    start = time.perf_counter()
    trainer._train_epoch(train_data, warmup + epoch, show_progress=False)
    seconds.append(time.perf_counter() - start)
result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)  # warm-up
eval_all = []
for _ in range(repeats):
    start = time.perf_counter()
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_all.append(time.perf_counter() - start)
print(json.dumps({
    "epoch_seconds": sorted(seconds)[len(seconds) // 2] if seconds else None,
    "epoch_seconds_all": seconds, "targets_per_epoch": len(train_data.dataset),
    "eval_seconds": sorted(eval_all)[len(eval_all) // 2], "eval_seconds_all": eval_all,
    "eval_users": len(test_data.dataset.inter_feat) if hasattr(test_data, "dataset") else None,
    "ndcg@10_after_training": float(result.get("ndcg@10", float("nan"))),
    "anomaly_detection": torch.is_anomaly_enabled(), "torch_threads": torch.get_num_threads(),
    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    "recbole": __import__("recbole").__version__, "torch": torch.__version__}))
'''


def ensure_venv(folder: str, packages: list[str], python: str | None = None) -> str:
    """The Python of the virtual environment ``folder``, created when needed: torch 2.13.0
    first (this machine's CPU build, so that nothing pulls another), then ``packages``.
    ``python`` (an interpreter the user named) wins."""
    if python:
        return python
    interpreter = os.path.join(folder, "bin", "python")
    if not os.path.exists(interpreter):
        subprocess.run([sys.executable, "-m", "venv", folder], check=True)
        pip = [interpreter, "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        subprocess.run([*pip, *packages], check=True)
    return interpreter


def ensure_recbole(python: str | None) -> str:
    """The RecBole environment's Python, creating ``.bench/recbole-venv`` when needed."""
    return ensure_venv(VENV, ["recbole==1.2.1", "numpy<2", "pandas<3", "setuptools<81"], python)


def recbole_data(dataset: str) -> str:
    """The folder holding ``<dataset>/<dataset>.inter`` for RecBole: ML-100K as shipped in
    ../shared/data; Amazon Beauty written as an atomic file from the same events recsft reads
    (each user's position as the timestamp, so RecBole's time order is the file's order)."""
    if dataset == "ml-100k":
        return SHARED + "/"
    from recsft.data.readers import read_events

    folder = os.path.join(tempfile.mkdtemp(), dataset)
    os.makedirs(folder)
    spec = DATASETS[dataset]["data"]
    sequences = read_events(spec["source"], format=spec["format"]).sequences()
    with open(os.path.join(folder, f"{dataset}.inter"), "w") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, items in zip(sequences.user_ids, sequences.items):
            handle.writelines(f"{user}\t{item}\t{n}\n" for n, item in enumerate(items))
    return os.path.dirname(folder) + "/"


def environment_with(malloc: str, **extra: str) -> dict[str, str]:
    """This process's environment for a measured child: the ``malloc`` allocator settings of
    :data:`MALLOC` (inherited ones removed, so ``default`` is glibc's own) and ``extra``."""
    names = {name for settings in MALLOC.values() for name in settings}
    return {**{k: v for k, v in os.environ.items() if k not in names}, **MALLOC[malloc],
            **extra}


def run_recbole(python: str, model: str, length: int, epochs: int, anomaly: str,
                warmup: int, dataset: str, data_path: str, repeats: int,
                malloc: str = "default") -> dict:
    env = environment_with(malloc, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    done = subprocess.run([python, "-c", RECBOLE_RUNNER, RECBOLE_NAMES[model], str(length),
                           data_path, str(epochs), anomaly, str(warmup), dataset,
                           DATASETS[dataset]["recbole_columns"], str(repeats),
                           os.path.dirname(os.path.abspath(__file__))],
                          capture_output=True, text=True, env=env, cwd=tempfile.mkdtemp())
    if done.returncode:
        raise RuntimeError(f"RecBole {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_recsft(model: str, length: int, epochs: int, warmup: int, dataset: str,
               repeats: int, malloc: str = "default") -> dict:
    """One recsft measurement in a child process (``--only``)."""
    done = subprocess.run([sys.executable, __file__, "--only",
                           f"{model}:{length}:{epochs}:{warmup}:{dataset}:{repeats}"],
                          capture_output=True, text=True, cwd=ROOT,
                          env=environment_with(malloc, TQDM_DISABLE="1"))
    if done.returncode:
        raise RuntimeError(f"recsft {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_recsft(model: str, length: int, epochs: int, warmup: int, dataset: str,
                   repeats: int) -> dict:
    import resource
    import time

    import torch

    from recsft.config import RunConfig
    from recsft.modeling.factory import create_model
    from recsft.runs import Run
    from recsft.scoring.model import model_scorer
    from recsft.training.pipeline import prepare_data, run_training

    out = tempfile.mkdtemp()
    config = RunConfig.from_dict({
        "name": f"speed-{model}-{length}", "output_dir": out,
        "data": {**DATASETS[dataset]["data"], "max_length": length, "train_stride": length},
        "model": {"model_type": model, "hidden_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "intermediate_size": 256,
                  "hidden_dropout_prob": 0.2, "attention_probs_dropout_prob": 0.2,
                  "use_event_types": False, "loss": "ce"},
        "training": {"epochs": max(1, epochs + warmup), "batch_size": 256, "learning_rate": 0.001,
                     "eval_every": 10_000, "patience": 0, "seed": 42, "report_to": "none"},
        "evaluation": {"ks": [10], "filter_seen": True, "batch_size": 1024},
    })
    timed: list[dict] = []
    if epochs:
        run_training(config)
        with open(os.path.join(config.run_dir, "training_log.jsonl")) as handle:
            timed = [json.loads(line) for line in handle][warmup:]
        run = Run.open(config.run_dir)
        model_, evaluator = run.model(), run.evaluator()
    else:  # evaluation only: the untrained model does the same work
        prepared = prepare_data(config)
        model_ = create_model(config, prepared.tokenizer, prepared.item_categories)
        evaluator = prepared.test
    metrics = evaluator.evaluate(model_scorer(model_))  # warm-up
    eval_all = []
    for _ in range(repeats):
        start = time.perf_counter()
        metrics = evaluator.evaluate(model_scorer(model_))
        eval_all.append(time.perf_counter() - start)
    seconds = sorted(r["epoch_seconds"] for r in timed)
    return {"epoch_seconds": seconds[len(seconds) // 2] if seconds else None,
            "epoch_seconds_all": [r["epoch_seconds"] for r in timed],
            "sequences_per_epoch": timed[0].get("sequences") if timed else None,
            "targets_per_epoch": timed[0].get("targets") if timed else None,
            "eval_seconds": sorted(eval_all)[len(eval_all) // 2], "eval_seconds_all": eval_all,
            "eval_users": len(evaluator),
            "ndcg@10_after_training": metrics["ndcg@10"], "torch_threads": torch.get_num_threads(),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def pooled(rounds: list[dict]) -> dict:
    """One library's measurements of several rounds as one: every timing kept, medians over
    all of them, the largest peak memory; one round is returned as it is."""
    if len(rounds) == 1:
        return rounds[0]

    def median(values: list[float]) -> float | None:
        return sorted(values)[len(values) // 2] if values else None

    merged = dict(rounds[0])
    for key in ("epoch_seconds", "eval_seconds"):
        merged[f"{key}_all"] = [v for r in rounds for v in r.get(f"{key}_all") or []]
        merged[key] = median(merged[f"{key}_all"])
        merged[f"{key}_by_round"] = [r.get(key) for r in rounds]
    merged["peak_rss_gib"] = max(r["peak_rss_gib"] for r in rounds)
    return merged


def measure_case(args: argparse.Namespace, python: str, data_path: str, model: str,
                 length: int, malloc: str) -> dict:
    """Both libraries on one model, length and allocator setting, ``args.rounds`` turns each."""
    rounds = []
    for _ in range(args.rounds):
        ours = run_recsft(model, length, args.epochs, args.warmup, args.dataset,
                          args.eval_repeats, malloc)
        others = {mode: run_recbole(python, model, length, args.epochs,
                                    "on" if mode == "as_shipped" else "off", args.warmup,
                                    args.dataset, data_path, args.eval_repeats, malloc)
                  for mode in args.recbole_modes}
        rounds.append((ours, others))
    ours = pooled([r[0] for r in rounds])
    case = {"model": model, "max_length": length, "malloc": malloc,
            "malloc_environment": MALLOC[malloc], "recsft": ours}
    for mode in args.recbole_modes:
        other = pooled([r[1][mode] for r in rounds])
        case[f"recbole_{mode}"] = other
        case[f"ratios_vs_recbole_{mode}"] = {
            "train_speed": (round(other["epoch_seconds"] / ours["epoch_seconds"], 2)
                            if args.epochs else None),
            "eval_speed": round(other["eval_seconds"] / ours["eval_seconds"], 2),
            "eval_speed_by_round": [round(r[1][mode]["eval_seconds"] / r[0]["eval_seconds"], 2)
                                    for r in rounds],
            "peak_memory": round(ours["peak_rss_gib"] / other["peak_rss_gib"], 2)}
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sasrec", "bert4rec"],
                        choices=list(RECBOLE_NAMES))
    parser.add_argument("--lengths", nargs="+", type=int, default=[50, 200])
    parser.add_argument("--epochs", type=int, default=2,
                        help="timed epochs (median); 0 times the evaluation only, of untrained "
                             "models (the same work), into speed_recbole[_<dataset>]_eval.json")
    parser.add_argument("--eval-repeats", type=int, default=5,
                        help="timed evaluations after an untimed one, both libraries (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two libraries this many times per case (fresh "
                             "processes each round) and pool their timings, so that a slow "
                             "spell of a shared machine falls on both")
    parser.add_argument("--dataset", default="ml-100k", choices=list(DATASETS))
    parser.add_argument("--recbole-python", help="a Python with recbole 1.2.1 installed")
    parser.add_argument("--recbole-modes", nargs="+", choices=["as_shipped", "anomaly_off"],
                        default=["as_shipped", "anomaly_off"],
                        help="RecBole variants to run (anomaly detection on as shipped, or off)")
    parser.add_argument("--malloc", nargs="+", choices=list(MALLOC), default=["default"],
                        help="glibc allocator settings, each measured for both libraries")
    parser.add_argument("--tag", help="suffix of the result file's name, to keep a partial "
                                      "run beside the full one")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.tag):
        parser.error(f"--tag must be letters, digits, '.', '_' or '-' (part of a file name), "
                     f"got {args.tag!r}")
    if args.only:
        model, length, epochs, warmup, dataset, repeats = args.only.split(":")
        print(json.dumps(measure_recsft(model, int(length), int(epochs), int(warmup), dataset,
                                        int(repeats))))
        return

    from recsft.environment import environment
    from recsft.report.text import write_benchmark_result

    if not args.epochs:
        args.warmup = 0
    python = ensure_recbole(args.recbole_python)
    result = {"environment": {**environment(), "machine": platform.machine()},
              "settings": vars(args), "data": DATASETS[args.dataset]["data"], "cases": []}
    data_path = recbole_data(args.dataset)
    result_name = ("speed_recbole" if args.dataset == "ml-100k"
                   else f"speed_recbole_{args.dataset}") + ("" if args.epochs else "_eval")
    if args.tag:
        result_name += f"_{args.tag}"
    for model in args.models:
        for length in args.lengths:
            for malloc in args.malloc:
                case = measure_case(args, python, data_path, model, length, malloc)
                result["cases"].append(case)
                print(json.dumps({k: v for k, v in case.items() if k.startswith("ratios")} | {
                    "model": model, "max_length": length, "malloc": malloc}), flush=True)
                write_benchmark_result(ROOT, result_name, result)
    print("wrote", write_benchmark_result(ROOT, result_name, result))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
