"""Latency of a run's sequence encoder: eager PyTorch against the exported ONNX graph run by
onnxruntime (``recsft export onnx``), for batches of 1 and 32 histories.

Both run in this process with the same number of threads (``--threads``: torch's intra-op
threads and onnxruntime's), on the same pre-built model inputs (``Recommender.model_inputs`` of
histories sampled from the run's test split, so the lengths are the test users'), one call of
each in turn so that both meet the same machine state. Only the encoder is timed (inputs built
beforehand, no index search). Before timing, the two are checked to agree (largest absolute
difference of the user vectors over every timed batch).

The encoder is the run's ``encoder.onnx`` when it was exported from the run's current weights,
otherwise one exported into a temporary folder (the run is never changed).

Writes ``benchmarks/results/onnx_latency.json`` (``--output``): machine, versions, the
settings, and per batch size the median, p99 and mean of each backend and the eager / ONNX
ratios.

Usage:
    python scripts/benchmark_onnx.py --run runs/sasrec-100k --calls 2000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "results", "onnx_latency.json")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Library versions beyond :func:`recsft.environment.environment`'s."""
    import numpy
    import onnx
    import onnxruntime
    import onnxscript

    from recsft import __version__

    return {"recsft": __version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "onnxscript": onnxscript.__version__,
            "numpy": numpy.__version__}


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Median, p99, mean and max of call times, in milliseconds."""
    import numpy as np

    values = np.array(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(values, 50)), 4),
            "p99_ms": round(float(np.percentile(values, 99)), 4),
            "mean_ms": round(float(values.mean()), 4),
            "max_ms": round(float(values.max()), 4)}


def onnx_encoder(run, threads: int, opset: int | None, scratch: str):
    """The run's own ``encoder.onnx`` if current, else a fresh export in ``scratch``;
    returns (encoder, where it came from, export seconds or None)."""
    from recsft.errors import RecsftError
    from recsft.export import OnnxEncoder, export_onnx

    if opset is None:
        try:
            return OnnxEncoder.for_run(run, threads=threads), "run", None
        except RecsftError as err:
            print(f"exporting afresh ({err})", flush=True)
    started = time.perf_counter()
    path = export_onnx(run, os.path.join(scratch, "encoder.onnx"), opset)
    seconds = round(time.perf_counter() - started, 2)
    return OnnxEncoder(path, threads=threads), "exported for this benchmark", seconds


def batches(recommender, test, batch: int, count: int, seed: int) -> list[dict]:
    """``count`` model-input batches of ``batch`` test histories drawn with ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    times = test.history_timestamps
    for _ in range(count):
        rows = rng.integers(0, len(test), batch)
        out.append(recommender.model_inputs(
            [test.histories[r] for r in rows], [test.history_event_types[r] for r in rows],
            [times[r] for r in rows] if times else None))
    return out


def measure(model, encoder, inputs: list[dict], calls: int, warmup: int) -> dict:
    """Alternate eager and onnxruntime calls over ``inputs``; their times and agreement."""
    import numpy as np
    import torch

    eager, onnx = [], []
    worst = 0.0
    with torch.inference_mode():
        for n in range(warmup + calls):
            batch = inputs[n % len(inputs)]
            started = time.perf_counter()
            users = model.encode_sequences(**batch)
            middle = time.perf_counter()
            vectors = encoder.encode(batch)
            stopped = time.perf_counter()
            if n < len(inputs):
                worst = max(worst, float(np.abs(vectors - users.numpy()).max()))
            if n >= warmup:
                eager.append(middle - started)
                onnx.append(stopped - middle)
    e, o = summary_ms(eager), summary_ms(onnx)
    return {"eager": e, "onnx": o,
            "eager_over_onnx_p50": round(e["p50_ms"] / o["p50_ms"], 3),
            "eager_over_onnx_p99": round(e["p99_ms"] / o["p99_ms"], 3),
            "max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run folder written by recsft train")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per backend and "
                        "batch size")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads of torch and of onnxruntime alike")
    parser.add_argument("--opset", type=int, help="export afresh at this opset (default: the "
                        "run's encoder.onnx if current, else the exporter's default)")
    parser.add_argument("--distinct", type=int, default=200,
                        help="distinct input batches per batch size (cycled through)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    import torch

    from recsft import Recommender
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text, make_folder
    from recsft.runs import Run

    torch.set_num_threads(args.threads)
    run = Run.open(args.run)
    recommender = Recommender.from_pretrained(run.path)
    model = recommender.model
    test = run.splits().test
    with tempfile.TemporaryDirectory(prefix="recsft-onnx-bench-") as scratch:
        encoder, source, export_seconds = onnx_encoder(run, args.threads, args.opset, scratch)
        results = {}
        for batch in args.batch_sizes:
            inputs = batches(recommender, test, batch, args.distinct, args.seed + batch)
            print(f"batch {batch}: {args.calls} calls per backend...", flush=True)
            results[str(batch)] = measure(model, encoder, inputs, args.calls, args.warmup)
            print(json.dumps(results[str(batch)]), flush=True)
    config = model.config
    lengths = [len(h) for h in test.histories]
    record = {
        "what": "sequence encoder latency: eager PyTorch vs the exported ONNX graph on "
                "onnxruntime (CPU), same inputs, calls alternated",
        "environment": {**environment(), "machine": platform.machine(), "cpu": cpu_model(),
                        **versions()},
        "config": {"run": str(run.path), "model_type": encoder.model_type,
                   "model_sha256": run.model_sha256, "items": run.tokenizer.num_items,
                   "hidden_size": config.hidden_size,
                   "num_hidden_layers": config.num_hidden_layers,
                   "max_length": encoder.max_length, "dim": encoder.dim,
                   "inputs": encoder.input_names, "opset": encoder.opset,
                   "onnx_source": source, "export_seconds": export_seconds,
                   "threads": args.threads, "calls": args.calls, "warmup": args.warmup,
                   "distinct_batches": args.distinct, "seed": args.seed,
                   "test_users": len(test),
                   "mean_history_length": round(sum(lengths) / max(len(lengths), 1), 2),
                   "command": " ".join([os.path.basename(sys.executable), *sys.argv])},
        "batch_sizes": results,
    }
    make_folder(os.path.dirname(os.path.abspath(args.output)))
    atomic_write_text(args.output, json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
