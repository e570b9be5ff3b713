"""What a person sees: a tiny training and a recommendation through the real command line, in
subprocesses, with progress bars forced on (RECSFT_PROGRESS=1) and no variable that would hide
the libraries' own bars. The output has recsft's progress with an ETA and per-epoch lines, and
nothing from the libraries (no "Loading weights", no "Writing model shards", no FAISS warning,
no Python warning); every printed line is at most 100 columns."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import tiny_config

pytestmark = pytest.mark.slow

FOREIGN = ("Loading weights", "Writing model shards", "WARNING", "Warning", "warn(",
           "Traceback", "it/s]")


def _run(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TQDM_", "HF_HUB_DISABLE", "HF_DATASETS_DISABLE",
                                "TRANSFORMERS_", "DATASETS_VERBOSITY", "RECSFT_"))}
    env.update(RECSFT_PROGRESS="1", HF_HUB_OFFLINE="1", COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "recsft.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _lines(text: str) -> list[str]:
    """What a terminal shows, line by line: a bar redraws its line after ``\\r``."""
    return [part for line in text.split("\n") for part in line.split("\r")]


def _check_clean(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr[-3000:]
    found = [word for word in FOREIGN if word in output]
    assert not found, (found, output[-3000:])
    # Terminal escapes (a bar moving to another line) are not text columns.
    shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line) for line in _lines(output)]
    too_wide = [line for line in shown if len(line) > 100]
    assert not too_wide, too_wide


def test_train_then_recommend_output(tmp_path) -> None:
    config = tiny_config(tmp_path / "runs", epochs=3, eval_every=1)
    config.name = "noise"
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    trained = _run(["train", "--config", str(path)], tmp_path)
    _check_clean(trained)
    err = trained.stderr
    # The start-up header: what is trained, on what, where, into where.
    assert re.search(r"^recsft train: noise$", err, re.MULTILINE), err
    assert re.search(r"^preparing data: ", err, re.MULTILINE), err
    # One bar for the whole training, labelled "epoch k/N", with elapsed<remaining.
    assert re.search(r"epoch [123]/3: +\d+%\|.*\| *\d+/\d+ \[\d\d:\d\d<\d\d:\d\d", err), err
    # A line per epoch, with the overall ETA until the last.
    assert re.search(r"^epoch 1/3  loss \d+\.\d{4}  [\d,]+ seq/s  valid ndcg@10 \d\.\d{4}"
                     r"( \(best\))?  eta \d+(s|m\d\ds)$", err, re.MULTILINE), err
    assert re.search(r"^epoch 3/3  loss .*ndcg@10 \d\.\d{4}( \(best\))?$", err, re.MULTILINE)
    # The results table on stdout: metrics as rows, k as columns.
    assert re.search(r"^metric +model +@5 +@10$", trained.stdout, re.MULTILINE), trained.stdout
    run_dir = str(tmp_path / "runs" / "noise")

    from recsft.tokenization import BehaviorTokenizer

    history = ",".join(BehaviorTokenizer.from_pretrained(run_dir).item_ids[:3])
    answered = _run(["recommend", "--run", run_dir, "--history", history, "--k", "10"], tmp_path)
    _check_clean(answered)
    assert len([line for line in answered.stdout.splitlines() if line.strip()]) == 11

    # An ivf_pq index over this small catalogue (120 items): sizes FAISS has nothing to warn
    # about.
    built = _run(["index", "build", "--run", run_dir, "--kind", "ivf_pq", "--output",
                  str(tmp_path / "pq")], tmp_path)
    _check_clean(built)

    quiet = _run(["recommend", "--run", run_dir, "--history", history, "--k", "3", "--quiet"],
                 tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
