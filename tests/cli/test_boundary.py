"""Probes of the command line as a careless user and an attacker would try it: every bad input
gets one line naming the file, line or field, exit 2; planted code never runs; nothing a user
owns is changed; a bug is one line pointing at a traceback file, exit 1."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from recsft.cli import main
from recsft.runs.manifest import Manifest

pytestmark = pytest.mark.slow   # the session's trained run


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_error(capsys, *argv: str, names: str) -> str:
    code, err = run_cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "error:" in lines[0], err
    assert names in lines[0], err
    return lines[0]


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    config, _ = trained_run
    target = tmp_path / "run"
    shutil.copytree(config.run_dir, target)
    return target


class Planted:
    """A pickle whose loading would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_weights_are_refused_and_never_loaded(run_copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    os.remove(run_copy / "model.safetensors")
    (run_copy / "pytorch_model.bin").write_bytes(pickle.dumps(Planted(marker)))
    line = one_error(capsys, "recommend", "--run", str(run_copy), "--history", "",
                     names="pytorch_model.bin")
    assert "safetensors" in line and "weights_only=True" in line
    assert not marker.exists()


def test_auto_map_is_refused_and_the_module_never_imported(run_copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    (run_copy / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w')\n")
    config = json.loads((run_copy / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.Evil"}
    (run_copy / "config.json").write_text(json.dumps(config))
    for name in list(json.loads((run_copy / "recsft_manifest.json").read_text())["files"]):
        assert (run_copy / name).exists()
    Manifest.build(run_copy, "recsft-run", {}).save(run_copy)
    one_error(capsys, "recommend", "--run", str(run_copy), "--history", "", names="auto_map")
    one_error(capsys, "evaluate", "--run", str(run_copy), names="auto_map")
    assert not marker.exists()


def test_a_changed_file_is_refused(run_copy, capsys):
    with open(run_copy / "model.safetensors", "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02")
    one_error(capsys, "recommend", "--run", str(run_copy), "--history", "",
              names="model.safetensors")


def test_an_unfinished_run_is_refused(run_copy, capsys):
    os.remove(run_copy / "recsft_manifest.json")
    line = one_error(capsys, "evaluate", "--run", str(run_copy), names=str(run_copy))
    assert "incomplete" in line


def test_an_index_of_another_catalogue_is_refused(run_copy, tmp_path, capsys):
    from recsft.retrieval.index import ItemIndex
    from tests.retrieval.tiny_run import tiny_parts

    model, tokenizer = tiny_parts()
    other = tmp_path / "other-index"
    other.mkdir()
    ItemIndex(model.item_embeddings().detach().numpy(), tokenizer.item_ids).save(other)
    Manifest.build(other, "recsft-index", {"model_sha256": "0" * 64}).save(other)
    one_error(capsys, "recommend", "--run", str(run_copy), "--index", str(other),
              "--history", "", names=str(other))


def test_k_is_bounded_by_the_catalogue(run_copy, capsys):
    line = one_error(capsys, "recommend", "--run", str(run_copy), "--history", "",
                     "--k", "1000000000", names="--k")
    assert "catalogue" in line


@pytest.mark.parametrize("name", ["../escaped", "/tmp/abs", "a/b"])
def test_run_names_never_escape_output_dir(tmp_path, capsys, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(f"name: {json.dumps(name)}\noutput_dir: runs\n"
                                     "data: {source: synthetic}\n")
    one_error(capsys, "train", "--config", "c.yaml", names="run name")
    assert sorted(os.listdir(tmp_path)) == ["c.yaml"]


def test_an_existing_run_is_not_replaced_without_overwrite(run_copy, capsys, monkeypatch):
    from recsft.config import RunConfig

    config = RunConfig.from_yaml(run_copy / "run_config.yaml")
    raw = config.to_dict()
    raw["output_dir"], raw["name"] = str(run_copy.parent), run_copy.name
    raw["data"]["source"] = "no-such-file.csv"
    path = run_copy.parent / "again.yaml"
    path.write_text(json.dumps(raw))
    before = {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()}
    one_error(capsys, "train", "--config", str(path), names="--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in run_copy.iterdir()} == before


def test_prepare_never_wipes_the_folder_of_its_input(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.csv").write_text("user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2\n")
    (data / "notes.txt").write_text("mine")
    one_error(capsys, "data", "prepare", "--input", str(data / "events.csv"), "--out", str(data),
              names="--out")
    assert sorted(os.listdir(data)) == ["events.csv", "notes.txt"]
    one_error(capsys, "data", "prepare", "--input", str(data / "events.csv"), "--out",
              str(data / "notes.txt"), names="--out")
    assert (data / "notes.txt").read_text() == "mine"


def test_a_user_file_is_never_overwritten_by_output(run_copy, tmp_path, capsys):
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "notes"}')
    one_error(capsys, "evaluate", "--run", str(run_copy), "--n-resamples", "0", "--output",
              str(mine), names=str(mine))
    assert mine.read_text() == '{"my": "notes"}'


def test_index_output_never_replaces_a_user_folder(run_copy, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"cat")
    one_error(capsys, "index", "build", "--run", str(run_copy), "--output", str(folder),
              names="--output")
    assert os.listdir(folder) == ["cat.jpg"]


def test_bad_data_inputs_are_one_line(tmp_path, capsys):
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)
    one_error(capsys, "data", "stats", "--input", str(fifo), names=str(fifo))
    one_error(capsys, "data", "stats", "--input", str(tmp_path), names=str(tmp_path))
    one_error(capsys, "data", "prepare", "--input", str(fifo), "--out", str(tmp_path / "o"),
              "--preprocess", "no_such_option=1", names="--preprocess")


def test_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for n in range(1, 9):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},"
                     f"*{prev},*{prev}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    code, err = run_cli(capsys, "train", "--config", str(tmp_path / "bomb.yaml"))
    assert code == 2 and "bomb.yaml" in err and len(err) < 1000


def test_push_dry_run_lists_only_the_manifest(run_copy, tmp_path, capsys):
    (run_copy / ".env").write_text("HF_TOKEN=secret")
    (run_copy / ".tmp-half-model.safetensors").write_text("half")
    os.symlink("/etc/passwd", run_copy / "passwd")
    (run_copy / "checkpoints").mkdir(exist_ok=True)
    assert main(["push", "--run", str(run_copy), "--repo-id", "me/run", "--dry-run"]) == 0
    listed = capsys.readouterr().out.splitlines()[:-1]
    assert "model.safetensors" in listed and "README.md" in listed
    assert not [n for n in listed if n.startswith((".", "checkpoints", "data/"))
                or n == "passwd"]


def test_a_bug_is_one_line_with_a_traceback_file(tmp_path, capsys, monkeypatch):
    import recsft.cli.run as run_commands

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setenv("RECSFT_CRASH_DIR", str(tmp_path))
    monkeypatch.setattr(run_commands, "_verify", broken)
    code = main(["run", "verify", "--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "a bug in recsft" in err and len(err.splitlines()) == 1
    crash = next(tmp_path.glob("recsft-crash-*.txt"))
    assert "RuntimeError: boom" in crash.read_text()


def test_ctrl_c_is_one_line(tmp_path, capsys, monkeypatch):
    import recsft.cli.run as run_commands

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_commands, "_verify", interrupted)
    assert main(["run", "verify", "--run", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "recsft run verify: interrupted"
