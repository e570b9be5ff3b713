"""A two-machine training with Accelerate, both "machines" on 127.0.0.1: two `accelerate launch`
commands with configs/accelerate/multi_node.yaml as machine_rank 0 and 1 (one process each)
train the shrunk demo config to completion over gloo.

Each rank is given its own output_dir, as two machines without a shared disk would have: the
run must appear whole under rank 0's and nothing under rank 1's (only the main process writes a
run; checkpoints, which every process writes, are off).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "configs" / "accelerate" / "multi_node.yaml"
SHRINK = ["name=two-nodes", "data.synthetic.num_users=300", "data.synthetic.num_items=60",
          "data.max_length=20", "model.hidden_size=32", "model.num_hidden_layers=1",
          "model.intermediate_size=64", "training.epochs=2", "training.eval_every=1",
          "training.batch_size=32"]
TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(rank: int, port: int, output_dir: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
               "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
               "--main_process_port", str(port), "scripts/finetune.py",
               "--config", "configs/demo.yaml", "--set", f"output_dir={output_dir}",
               *[flag for item in SHRINK for flag in ("--set", item)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "HF_HUB_OFFLINE": "1", "GLOO_SOCKET_IFNAME": "lo"}
    env.pop("WORLD_SIZE", None)
    with open(log, "wb") as handle:
        # Its own process group, so that the launcher and its worker can be ended together.
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.slow
def test_two_machines_train_one_run(tmp_path) -> None:
    port = _free_port()
    logs = [tmp_path / f"rank{rank}.log" for rank in (0, 1)]
    outputs = [tmp_path / f"machine{rank}" for rank in (0, 1)]
    processes = [_launch(rank, port, outputs[rank], logs[rank]) for rank in (0, 1)]
    try:
        codes = [process.wait(timeout=TIMEOUT) for process in processes]
    except subprocess.TimeoutExpired:
        codes = None
    finally:
        for process in processes:
            _end(process)
    tails = "\n".join(f"--- rank {r}:\n" + logs[r].read_text(errors="replace")[-3000:]
                      for r in (0, 1))
    assert codes == [0, 0], f"exit codes {codes} (None: over {TIMEOUT} s)\n{tails}"

    run_dir = outputs[0] / "two-nodes"
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["training"]["num_processes"] == 2  # rank 1 joined: a world of two
    assert record["training"]["epochs_run"] == 2
    assert not outputs[1].exists() or not any(outputs[1].iterdir())  # rank 0 alone writes

    from recsft.runs import Run
    from recsft.runs.evaluate import evaluate_run
    from recsft.runs.manifest import Manifest

    Manifest.load(run_dir).check_all(run_dir)
    assert Run.open(run_dir).model() is not None
    again = evaluate_run(run_dir)["metrics"]  # one process, from the files alone
    assert again == pytest.approx(record["test"], abs=1e-6)
