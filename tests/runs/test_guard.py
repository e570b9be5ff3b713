"""Where a training may write: names, refusals, the lock, the work folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recsft.errors import RefusedError
from recsft.runs.guard import (
    PARTIAL_MARKER,
    RunLock,
    check_file_output,
    check_folder_output,
    check_run_name,
    plan_run,
)


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "", ".", "..", ".hidden", "a\\b",
                                  "x" * 200, 3])
def test_a_run_name_is_a_plain_folder_name(name):
    with pytest.raises(RefusedError, match="plain folder name"):
        check_run_name(name)


def test_fresh_run_gets_a_marked_work_folder(tmp_path):
    plan = plan_run(tmp_path, "demo")
    assert plan.work == tmp_path / ".demo.partial"
    assert (plan.work / PARTIAL_MARKER).is_file()
    assert not plan.final.exists()


def test_a_folder_recsft_did_not_create_is_never_replaced(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(RefusedError, match="not a recsft run folder"):
            plan_run(tmp_path, "demo", overwrite=overwrite)
    assert (tmp_path / "demo" / "thesis.tex").read_text() == "years of work"


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "runs").write_text("a file")
    with pytest.raises(RefusedError, match="is a file"):
        plan_run(tmp_path / "runs", "demo")


def test_existing_run_needs_overwrite(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "run_config.yaml").write_text("name: demo")
    (run / "config.json").write_text("{}")
    with pytest.raises(RefusedError, match="--overwrite"):
        plan_run(tmp_path, "demo")
    plan = plan_run(tmp_path, "demo", overwrite=True)
    assert (run / "config.json").exists()      # still whole until the new run completes
    assert plan.work.is_dir()


def test_interrupted_training_is_kept_unless_asked(tmp_path):
    plan = plan_run(tmp_path, "demo")
    (plan.work / "checkpoints").mkdir()
    with pytest.raises(RefusedError, match="--resume"):
        plan_run(tmp_path, "demo")
    assert plan_run(tmp_path, "demo", resume=True).resume
    assert (plan.work / "checkpoints").is_dir()
    plan_run(tmp_path, "demo", overwrite=True)
    assert not (plan.work / "checkpoints").exists()


def test_resume_without_an_interrupted_training_is_refused(tmp_path):
    with pytest.raises(RefusedError, match="no interrupted training"):
        plan_run(tmp_path, "demo", resume=True)


def test_an_input_inside_the_run_to_replace_is_refused(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "run_config.yaml").write_text("name: demo")
    (run / "config.json").write_text("{}")
    (run / "events.csv").write_text("user_id,item_id,timestamp\n")
    with pytest.raises(RefusedError, match="input"):
        plan_run(tmp_path, "demo", overwrite=True, inputs=(run / "events.csv",))


def test_a_second_training_of_the_same_run_fails_at_once(tmp_path):
    with RunLock(tmp_path, "demo"):
        code = ("import sys; from recsft.runs.guard import RunLock; from recsft.errors import "
                "RefusedError\ntry:\n    RunLock(sys.argv[1], 'demo').acquire()\n"
                "except RefusedError as e:\n    print(e); sys.exit(3)")
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 3, done.stderr
        assert "another training" in done.stdout
    RunLock(tmp_path, "demo").acquire().release()   # free again once released


def test_folder_outputs(tmp_path):
    source = tmp_path / "data" / "events.csv"
    source.parent.mkdir()
    source.write_text("x")
    with pytest.raises(RefusedError, match="holds the input"):
        check_folder_output(tmp_path / "data", "--out", lambda p: True, "a prepared dataset",
                            inputs=(source,))
    with pytest.raises(RefusedError, match="not a folder"):
        check_folder_output(source, "--out", lambda p: True, "a prepared dataset")
    with pytest.raises(RefusedError, match="not a prepared dataset folder written by recsft"):
        check_folder_output(tmp_path / "data", "--out", lambda p: False, "a prepared dataset")
    assert check_folder_output(tmp_path / "new", "--out", lambda p: False, "a prepared dataset")


def test_file_outputs(tmp_path):
    mine = tmp_path / "notes.json"
    mine.write_text("my notes")
    with pytest.raises(RefusedError, match="did not write"):
        check_file_output(mine, "--output", lambda p: False)
    with pytest.raises(RefusedError, match="is the input"):
        check_file_output(mine, "--output", lambda p: True, inputs=(mine,))
    with pytest.raises(RefusedError, match="not a regular file"):
        check_file_output(tmp_path, "--output", lambda p: True)
