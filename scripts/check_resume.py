"""Kill a training with SIGKILL after a checkpoint, resume it, compare with an uninterrupted run.

Runs ``recsft train`` twice on the same config and seed: once uninterrupted, once killed with
``kill -9`` as soon as its first checkpoint (``training.save_every_steps``) is complete, then
continued with ``recsft train --resume``. Writes both runs' test metrics, their largest
difference and the files of the checkpoint resumed from (safetensors and JSON only, no pickle) to
``benchmarks/results/resume_<name>.json``.

Usage:
    python scripts/check_resume.py --config configs/demo.yaml --set training.save_every_steps=200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from recsft.fileio import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(config: str, sets: list[str], name: str, out: str, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "recsft.cli", "train", "--config", config,
            *[f"--set={s}" for s in sets], f"--set=name={name}", f"--set=output_dir={out}",
            *extra]


def checkpoint_folder(output_dir: str, name: str) -> str:
    """Where run ``name`` keeps its checkpoints while it trains: its work folder
    ``.<name>.partial`` (recsft with run-folder guards) or the run folder itself (older)."""
    for folder in (f".{name}.partial", name):
        path = os.path.join(ROOT, output_dir, folder, "checkpoints")
        if os.path.isdir(path):
            return path
    return os.path.join(ROOT, output_dir, f".{name}.partial", "checkpoints")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--output-dir", default="runs/resume-check")
    args = parser.parse_args()
    if not any(o.startswith("training.save_every_steps=") for o in args.overrides):
        args.overrides.append("training.save_every_steps=100")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    usage = subprocess.run([sys.executable, "-m", "recsft.cli", "train", "--help"], cwd=ROOT,
                           env=env, capture_output=True, text=True, check=True).stdout
    # A rerun replaces the previous check's runs (recsft refuses to otherwise).
    again = ["--overwrite"] if "--overwrite" in usage else []

    start = time.perf_counter()
    subprocess.run(train(args.config, args.overrides, "uninterrupted", args.output_dir, again),
                   check=True, cwd=ROOT, env=env)
    uninterrupted_seconds = time.perf_counter() - start

    victim = subprocess.Popen(train(args.config, args.overrides, "interrupted", args.output_dir,
                                    again), cwd=ROOT, env=env)
    while victim.poll() is None:
        checkpoints = checkpoint_folder(args.output_dir, "interrupted")
        done = [n for n in os.listdir(checkpoints)] if os.path.isdir(checkpoints) else []
        if any(n.startswith("step-") for n in done):
            time.sleep(0.5)  # let training run on past the checkpoint before the kill
            os.kill(victim.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    victim.wait()
    if victim.returncode != -signal.SIGKILL:
        raise SystemExit("the training ended before a checkpoint was written; lower "
                         "training.save_every_steps")
    killed_at = sorted(n for n in os.listdir(checkpoints) if n.startswith("step-"))
    files = sorted(os.listdir(os.path.join(checkpoints, killed_at[-1])))
    subprocess.run(train(args.config, args.overrides, "interrupted", args.output_dir,
                         ["--resume"]), check=True, cwd=ROOT, env=env)

    def metrics(name: str) -> dict:
        with open(os.path.join(ROOT, args.output_dir, name, "metrics.json")) as handle:
            return json.load(handle)

    a, b = metrics("uninterrupted"), metrics("interrupted")
    diff = max(abs(a["test"][k] - b["test"][k]) for k in a["test"])
    result = {
        "config": args.config, "overrides": args.overrides,
        "killed_with": "SIGKILL", "checkpoints_at_kill": killed_at, "checkpoint_files": files,
        "resumed_from": b["training"]["resumed_from"],
        "uninterrupted_test": a["test"], "resumed_test": b["test"],
        "max_abs_difference": diff, "uninterrupted_seconds": round(uninterrupted_seconds, 1),
        "environment": a["environment"], "protocol": a["protocol"],
    }
    out_dir = os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(out_dir, exist_ok=True)
    name = os.path.splitext(os.path.basename(args.config))[0]
    path = os.path.join(out_dir, f"resume_{name}.json")
    atomic_write_text(path, json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("checkpoints_at_kill", "checkpoint_files",
                                             "resumed_from", "max_abs_difference")}, indent=2))
    print("ndcg@10 uninterrupted", a["test"]["ndcg@10"], "resumed", b["test"]["ndcg@10"])


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
