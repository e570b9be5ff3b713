"""Fault injection: ``kill -9`` at every rename / folder exchange of the commands that write
leaves the previous good state intact, and the partial one is never taken as valid."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recsft.runs import Run

pytestmark = pytest.mark.slow
DRIVER = str(Path(__file__).with_name("fault_driver.py"))
KILLED = -signal.SIGKILL


def drive(n: int, *args: str, cwd: Path) -> int:
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, DRIVER, str(n), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, KILLED), done.stderr[-2000:]
    return done.returncode


def snapshot(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` (dotfiles and checkpoints aside) with its SHA-256."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in rel.split("/")) \
                and not rel.startswith("checkpoints/"):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def kill_everywhere(args: list[str], cwd: Path, check) -> int:
    """Kill the command at its 1st, 2nd, ... rename until it completes; ``check()`` after each
    kill. Returns the number of points."""
    n = 1
    while drive(n, *args, cwd=cwd) == KILLED:
        check()
        n += 1
        assert n < 200, "the command never completed"
    return n - 1


def write_config(folder: Path, epochs: int = 1) -> Path:
    config = folder / "tiny.yaml"
    config.write_text(
        "name: tiny\noutput_dir: runs\n"
        "data: {source: synthetic, synthetic: {num_users: 200, num_items: 40, seed: 3}, "
        "max_length: 10}\n"
        "model: {model_type: sasrec, hidden_size: 16, num_hidden_layers: 1, "
        "num_attention_heads: 2, intermediate_size: 32}\n"
        f"training: {{epochs: {epochs}, batch_size: 64, eval_every: 1, patience: 0, "
        "report_to: none}\n"
        "evaluation: {ks: [10], batch_size: 256}\n")
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faults")
    write_config(folder)
    from recsft.cli import main

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["train", "--config", "tiny.yaml"]) == 0
    finally:
        os.chdir(cwd)
    return folder


def test_train_overwrite_killed_anywhere_keeps_the_old_run(trained):
    run = trained / "runs" / "tiny"
    before = snapshot(run)

    def check():
        assert snapshot(run) == before
        Run.open(run)

    points = kill_everywhere(["train", "--config", "tiny.yaml", "--overwrite"], trained, check)
    assert points >= 5
    Run.open(run)       # the completed rerun is a valid run


def test_first_training_killed_anywhere_leaves_no_run(tmp_path):
    write_config(tmp_path)

    def check():
        final = tmp_path / "runs" / "tiny"
        if final.exists():      # only ever complete
            Run.open(final)

    # After a kill the interrupted training's folder is kept (a plain retry is refused and
    # says so); the retry discards it explicitly with --overwrite.
    kill_everywhere(["train", "--config", "tiny.yaml", "--overwrite"], tmp_path, check)
    Run.open(tmp_path / "runs" / "tiny")


def test_index_build_killed_anywhere_keeps_the_old_index(trained):
    run = trained / "runs" / "tiny"
    before = snapshot(run)

    def check():
        assert snapshot(run) == before
        Run.open(run).index()

    kill_everywhere(["index", "build", "--run", "runs/tiny", "--kind", "hnsw",
                     "--check-queries", "0"], trained, check)
    assert Run.open(run).index().kind == "hnsw"


def test_separate_index_killed_anywhere_is_absent_or_whole(trained):
    out = trained / "hnsw-index"

    def check():
        if out.exists():
            Run.open(trained / "runs" / "tiny").index(out)

    kill_everywhere(["index", "build", "--run", "runs/tiny", "--kind", "hnsw",
                     "--check-queries", "0", "--output", "hnsw-index"], trained, check)
    assert Run.open(trained / "runs" / "tiny").index(out).kind == "hnsw"


def test_transitions_killed_anywhere_keep_the_run_valid(trained):
    run = trained / "runs" / "tiny"

    def check():
        Run.open(run).check_consistency()

    kill_everywhere(["transitions", "--run", "runs/tiny", "--weights", "0", "0.5",
                     "--smoothings", "0", "--temperatures", "1"], trained, check)
    assert Run.open(run).transitions().settings.weight in (0.0, 0.5)


def test_data_prepare_killed_anywhere_keeps_the_old_folder(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u * 7 + t) % 30},{1000 + t}\n" for u in range(40) for t in range(6)))
    from recsft.cli import main

    assert main(["data", "prepare", "--input", str(events), "--out",
                 str(tmp_path / "prepared")]) == 0
    before = snapshot(tmp_path / "prepared")

    def check():
        assert snapshot(tmp_path / "prepared") == before

    kill_everywhere(["data", "prepare", "--input", str(events), "--out", "prepared", "--force",
                     "--preprocess", "user_k=2"], tmp_path, check)
    assert snapshot(tmp_path / "prepared") != before
