import json
import subprocess
import sys
import time

from recsft.cli import main


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from recsft.cli import build_parser; "
            "build_parser(); import recsft; "
            "heavy = [m for m in ('torch', 'transformers', 'datasets', 'faiss') "
            "if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsft.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - start < 5  # generous for a loaded CI machine; ~0.2 s here


def test_missing_config_is_one_clear_error(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml: config file not found" in err


def test_recommend_and_evaluate_commands(trained_run, capsys):
    config, record = trained_run
    from recsft.tokenization import BehaviorTokenizer

    known = BehaviorTokenizer.from_pretrained(config.run_dir).item_ids[:2]
    items = ",".join([*known, "unknown-item"])
    assert main(["recommend", "--run", config.run_dir, "--history", items, "--k", "5",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 5 and all(r["item_id"] not in known for r in results)
    assert main(["evaluate", "--run", config.run_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == record["test"]
    assert main(["evaluate", "--run", config.run_dir]) == 0
    assert "ndcg@10" in capsys.readouterr().out


def test_recommend_with_missing_run_folder(tmp_path, capsys):
    assert main(["recommend", "--run", str(tmp_path / "none"), "--history", "a"]) == 2
    assert "no such run folder" in capsys.readouterr().err
