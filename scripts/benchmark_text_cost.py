"""What reading item text costs on this machine: encoding, caching and training.

For one config whose data has item text (default: configs/sasrec-scientific-text.yaml), in one
run of this script:

- **encoding**: the items' texts encoded by the config's text encoder into an empty temporary
  cache (items/s, seconds), then again from the cache (0 encoded; seconds);
- **training**: for each ``model.item_representation`` (``id``, ``text``, ``id+text``) a
  training of ``--epochs`` epochs in its own subprocess (no validation until the last epoch),
  side by side: seconds per epoch (the mean of the epochs after the first), parameters, and the
  subprocess's peak resident memory; the same cache serves them, so none encodes.

Writes ``benchmarks/results/text_cost_<config name>.json`` with the machine and versions.

Usage:
    RECSFT_DATA_DIR=../shared/data python scripts/benchmark_text_cost.py \
        --config configs/sasrec-scientific-text.yaml --epochs 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPRESENTATIONS = ("id", "text", "id+text")


def encoding(config_path: str, cache: str) -> dict:
    """Encode the config's item texts into ``cache`` twice: first run and cached run."""
    from recsft.config import RunConfig
    from recsft.runs.data import catalogue, load_log
    from recsft.text.encoder import TextEncoder
    from recsft.text.items import table_texts
    from recsft.text.vectors import TokenTexts, item_text_source

    config = RunConfig.from_yaml(config_path)
    items = sorted(set(catalogue(config, load_log(config))))
    table, template = item_text_source(config.data)
    texts = table_texts(table, template)
    started = time.perf_counter()
    encoder = TextEncoder(config.data.text_encoder)
    load_seconds = time.perf_counter() - started
    record = {"items": len(items), "encoder": str(encoder.folder), "dim": encoder.dim,
              "load_seconds": round(load_seconds, 2)}
    for label in ("first_run", "cached_run"):
        started = time.perf_counter()
        result = TokenTexts.encode(texts, items, encoder, cache_folder=cache)
        seconds = time.perf_counter() - started
        record[label] = {"seconds": round(seconds, 2), "texts": int(result.has_text.sum()),
                         "items_per_second": round(int(result.has_text.sum()) / seconds, 1)}
    return record


def train_one(config_path: str, representation: str, epochs: int, output: str) -> dict:
    """Train in a subprocess; its epoch times, parameters and peak memory."""
    name = f"cost-{representation.replace('+', '-')}"
    overrides = [f"name={name}", f"output_dir={output}", f"training.epochs={epochs}",
                 f"training.eval_every={epochs}", "training.patience=0",
                 "training.report_to=none", f"model.item_representation={representation}"]
    code = ("import resource, sys, json\n"
            "from recsft.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "print(json.dumps({'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF)"
            ".ru_maxrss}), file=sys.stderr)\n"
            "sys.exit(rc)\n")
    command = [sys.executable, "-c", code, "train", "--config", config_path, "--overwrite",
               *[f"--set={o}" for o in overrides]]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"training {representation} failed:\n{done.stderr[-2000:]}")
    peak = json.loads(done.stderr.strip().splitlines()[-1])["maxrss_kb"]
    run = os.path.join(output, name)
    with open(os.path.join(run, "training_log.jsonl")) as handle:
        epochs_log = [json.loads(line) for line in handle if line.strip()]
    with open(os.path.join(run, "metrics.json")) as handle:
        metrics = json.load(handle)
    from safetensors import safe_open

    with safe_open(os.path.join(run, "model.safetensors"), "pt") as weights:
        sizes = {key: weights.get_slice(key).get_shape() for key in weights.keys()}  # noqa: SIM118
    count = sum(int(math.prod(shape)) for key, shape in sizes.items()
                if not key.endswith(("text_vectors", "id_mask", "categories.table")))
    later = [e["epoch_seconds"] for e in epochs_log[1:]] or [epochs_log[0]["epoch_seconds"]]
    return {"representation": representation, "epochs": len(epochs_log),
            "seconds_per_epoch": round(sum(later) / len(later), 2),
            "first_epoch_seconds": round(epochs_log[0]["epoch_seconds"], 2),
            "wall_seconds": round(wall, 1), "peak_rss_mib": round(peak / 1024, 1),
            "trained_parameters": count,
            "encoded_note": [line for line in done.stderr.splitlines()
                             if line.startswith("text vectors:")],
            "valid_ndcg@10": metrics["valid"].get("ndcg@10")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/sasrec-scientific-text.yaml")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from recsft.config import RunConfig
    from recsft.environment import environment

    config = RunConfig.from_yaml(args.config)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        cache = os.path.join(scratch, "cache")
        os.environ["RECSFT_CACHE"] = cache
        record = {"config": args.config, "name": config.name,
                  "encoding": encoding(args.config, os.path.join(cache, "text")),
                  "training": [train_one(args.config, r, args.epochs,
                                         os.path.join(scratch, "runs"))
                               for r in REPRESENTATIONS],
                  "load_average_at_start": load_at_start,
                  "environment": environment(),
                  "load_average_at_end": os.getloadavg(),
                  "maxrss_note": "peak resident memory of each training subprocess "
                                 "(ru_maxrss), data preparation and evaluation included"}
    base = record["training"][0]["seconds_per_epoch"]
    for row in record["training"]:
        row["epoch_time_vs_id"] = round(row["seconds_per_epoch"] / base, 2)
    path = os.path.join(ROOT, "benchmarks", "results", f"text_cost_{config.name}.json")
    from recsft.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2))
    print(json.dumps({"encoding": record["encoding"],
                      "training": [{k: row[k] for k in ("representation", "seconds_per_epoch",
                                                        "epoch_time_vs_id", "peak_rss_mib")}
                                   for row in record["training"]]}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
