"""Ctrl-C, for real: SIGINT to the whole process group of a running ``recsft`` (as a terminal
sends it, DataLoader workers included) ends it with one line and status 130, whenever it
arrives; and the interrupts Python would lose are not lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def _default_sigint() -> None:
    """In the child, before it runs: Ctrl-C as a terminal's foreground process has it. A shell
    starts background jobs with SIGINT ignored, and children inherit that, so a test suite run
    with ``&`` or ``nohup`` would otherwise test a process that cannot be interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(args: list[str], after: float, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=_default_sigint)
    time.sleep(after)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def _one_line(result: subprocess.CompletedProcess, command: str) -> None:
    assert result.returncode == 130, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"recsft {command}: interrupted", lines
    assert not [line for line in lines if "interrupted" in line][:-1]


@pytest.mark.parametrize("after", [0.5, 3.0, 9.0])
def test_sigint_to_a_running_training(tmp_path, after) -> None:
    """At start-up (imports), while the data and the model are made, and in training with
    two DataLoader worker processes."""
    config = tiny_config(tmp_path / "runs", epochs=500, eval_every=50, num_workers=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    result = _interrupt(["-m", "recsft.cli", "train", "--config", str(path)], after, tmp_path)
    _one_line(result, "train")
    # The unfinished work folder is gone (no checkpoint in it); the next training may start.
    assert not (tmp_path / "runs" / ".tiny.partial").exists()
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.parametrize("command", ["evaluate", "recommend"])
def test_sigint_while_a_model_command_starts(tmp_path, command) -> None:
    """A Ctrl-C while a command that loads a model imports torch: one line, status 130 (the
    run need not exist: the interrupt comes first)."""
    args = ["-m", "recsft.cli", command, "--run", str(tmp_path / "no-run")]
    if command == "recommend":
        args += ["--history", "i1"]
    _one_line(_interrupt(args, 0.5, tmp_path), command)


_SCRIPT = """
import signal, sys, time, weakref
from recsft.cli.boundary import guarded, watch_interrupts

watch_interrupts()

def swallowed_in_a_callback():
    # What importlib's module-lock callback does to a Ctrl-C that lands in it: Python prints
    # "Exception ignored in ..." and carries on.
    class Thing:
        pass
    def callback(ref):
        raise KeyboardInterrupt
    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    time.sleep(5)
    print("went on")
    return 0

def swallowed_then_failed():
    # A library that caught the interrupt halfway through an import, then failed for it.
    try:
        signal.raise_signal(signal.SIGINT)
    except BaseException:
        pass
    raise RecursionError("maximum recursion depth exceeded")

case = {"callback": swallowed_in_a_callback, "failed": swallowed_then_failed}[sys.argv[1]]
sys.exit(guarded("probe", case, owns_process=True))
"""


@pytest.mark.parametrize("case", ["callback", "failed"])
def test_interrupts_python_would_lose(tmp_path, case) -> None:
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    result = subprocess.run([sys.executable, str(script), case], capture_output=True,
                            text=True, timeout=60, preexec_fn=_default_sigint)
    assert "went on" not in result.stdout
    _one_line(result, "probe")


def test_a_ctrl_c_inside_deferred_interrupts_is_raised_after_the_block() -> None:
    """The guard around torch's native start-up: the interrupt waits for the block's end."""
    script = (
        "import signal\n"
        "from recsft.cli.boundary import deferred_interrupts, watch_interrupts\n"
        "watch_interrupts()\n"
        "try:\n"
        "    with deferred_interrupts():\n"
        "        signal.raise_signal(signal.SIGINT)\n"
        "        print('held', flush=True)\n"
        "    print('not raised', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('raised after', flush=True)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, preexec_fn=_default_sigint)
    assert result.stdout.split() == ["held", "raised", "after"], (result.stdout, result.stderr)
