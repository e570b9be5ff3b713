import json
import os
import subprocess
import sys
import time

import pytest

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
    out_file = os.path.join(config.run_dir, "..", "evaluation.json")
    assert main(["evaluate", "--run", config.run_dir, "--output", out_file]) == 0
    table = capsys.readouterr().out
    with open(out_file) as handle:
        written = json.load(handle)
    assert written["metrics"] == record["test"]
    beyond = written["beyond_accuracy"]
    assert 0 < beyond["coverage@10"] <= 1 and 0 <= beyond["gini@10"] < 1
    assert 0 <= beyond["ild@10"] <= 1  # the synthetic items have categories
    ndcg = written["intervals"]["ndcg@10"]
    assert ndcg["mean"] == pytest.approx(record["test"]["ndcg@10"])
    assert ndcg["ci95_low"] < ndcg["mean"] < ndcg["ci95_high"]
    # A row per metric, a column per k (@5, @10), each cell the mean and its interval.
    row = next(line for line in table.splitlines() if line.startswith("ndcg "))
    assert row.endswith(f"{ndcg['mean']:.4f} [{ndcg['ci95_low']:.4f}, {ndcg['ci95_high']:.4f}]")
    assert max(len(line) for line in table.splitlines()) <= 100

    assert main(["evaluate", "--run", config.run_dir, "--segments", "--n-resamples", "50",
                 "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert set(segments) == {"history_length", "target_popularity", "target_event_type"}
    users = record["protocol"]["num_users"]
    for table in segments.values():
        assert sum(row["users"] for row in table.values()) == users
    weighted = sum(row["users"] * row["ndcg@10"]["mean"] for row in segments["history_length"]
                   .values()) / users
    assert weighted == pytest.approx(record["test"]["ndcg@10"])


def test_compare_command(trained_run, tmp_path, capsys):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    config, record = trained_run
    # Run B: the same run with its item matrix scaled on a few items (a different model on the
    # same users).
    other = tmp_path / "other"
    shutil.copytree(config.run_dir, other)
    weights = load_file(str(other / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embeddings.items.weight"))
    generator = torch.Generator().manual_seed(0)
    weights[key] = weights[key] + 0.05 * torch.randn(weights[key].shape, generator=generator)
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    # A changed model is refused until its owner records it on purpose.
    assert main(["compare", config.run_dir, str(other)]) == 2
    assert "model.safetensors: differs" in capsys.readouterr().err
    assert main(["run", "seal", "--run", str(other)]) == 0
    out_file = tmp_path / "compare.json"
    assert main(["compare", config.run_dir, str(other), "--output", str(out_file)]) == 0
    table = capsys.readouterr().out
    result = json.loads(out_file.read_text())
    assert set(result["metrics"]) == {"ndcg@10", "recall@10", "mrr@10"}
    ndcg = result["metrics"]["ndcg@10"]
    assert ndcg["mean_a"] == pytest.approx(record["test"]["ndcg@10"])
    assert ndcg["difference"]["mean"] == pytest.approx(ndcg["mean_b"] - ndcg["mean_a"])
    assert ndcg["t_test_p"] <= ndcg["t_test_p_holm"] <= 1.0
    assert "B - A [95% CI]" in table and "ndcg@10" in table

    assert main(["compare", config.run_dir, config.run_dir, "--json"]) == 0
    same = json.loads(capsys.readouterr().out)["metrics"]["ndcg@10"]
    assert same["difference"]["mean"] == 0.0 and same["t_test_p"] == 1.0
    assert main(["compare", config.run_dir, str(other), "--metric", "ndcg@11"]) == 2
    assert "unknown metric 'ndcg@11'" in capsys.readouterr().err


def test_recommend_with_missing_run_folder(tmp_path, capsys):
    assert main(["recommend", "--run", str(tmp_path / "none"), "--history", "a"]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_evaluate_transfers_to_other_data(trained_run, tmp_path, capsys):
    import yaml

    config, record = trained_run
    other = config.to_dict()
    # Another shop from the generator: other users, a larger catalogue sharing the item ids.
    other["data"]["synthetic"] = {**other["data"]["synthetic"], "seed": 11, "num_items": 200}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    assert main(["evaluate", "--run", config.run_dir, "--data-config", str(path),
                 "--n-resamples", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    transfer = result["transfer"]
    assert 0 < transfer["unknown_target_share"] < 1
    assert 0 < transfer["unknown_history_item_share"] < 1
    assert result["dataset"]["items"] > record["dataset"]["items"]
    assert result["metrics"]["ndcg@10"] != record["test"]["ndcg@10"]


def _tiny_run(tmp_path) -> str:
    from tests.retrieval.tiny_run import save_run

    return save_run(tmp_path / "run")


def test_recommend_jsonl_in_jsonl_out(tmp_path, capsys):
    from recsft.retrieval.recommender import Recommender

    run = _tiny_run(tmp_path)
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join([
        json.dumps({"user_id": "u1", "history": ["i03", "i10", "ghost"]}),
        json.dumps({"user_id": 7, "history": [], "exclude": ["i00"], "k": 2}),
        json.dumps({"history": ["i05"], "event_types": ["cart"], "timestamps": [100]}),
    ]) + "\n")
    out = tmp_path / "answers.jsonl"
    assert main(["recommend", "--run", run, "--input", str(requests), "--output", str(out),
                 "--k", "4"]) == 0
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    recommender = Recommender.from_pretrained(run)
    assert [a["user_id"] for a in answers] == ["u1", 7, None]
    # The unknown item is read as [UNK], as training and evaluation read it.
    assert answers[0]["items"] == [i for i, _ in recommender.recommend(["i03", "i10", "ghost"],
                                                                      k=4)]
    assert answers[0]["unknown_items"] == ["ghost"] and answers[0]["source"] == "model"
    assert answers[1] == {"user_id": 7, "line": 2, "items": ["i01", "i02"],
                          "scores": [59.0, 58.0], "source": "popularity", "unknown_items": []}
    assert len(answers[2]["items"]) == 4 and "i05" not in answers[2]["items"]
    assert "wrote 3 recommendation lists" in capsys.readouterr().err


def test_recommend_bad_jsonl_is_one_error_and_writes_nothing(tmp_path, capsys):
    run = _tiny_run(tmp_path)
    requests = tmp_path / "requests.jsonl"
    requests.write_text('{"history": ["i01"]}\n{"history": ["i01"], "k": -1}\n')
    out = tmp_path / "answers.jsonl"
    assert main(["recommend", "--run", run, "--input", str(requests),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{requests}:2: 'k' must be a positive integer" in err
    assert [name for name in os.listdir(tmp_path) if "answers" in name] == []


def test_recommend_empty_history_from_the_command_line(tmp_path, capsys):
    run = _tiny_run(tmp_path)
    assert main(["recommend", "--run", run, "--history", "", "--k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"item_id": "i00", "score": 60.0},
                                                   {"item_id": "i01", "score": 59.0}]


def test_index_build_command(tmp_path, capsys):
    from recsft.retrieval.index import ItemIndex
    from recsft.retrieval.recommender import Recommender

    run = _tiny_run(tmp_path)
    exact = Recommender.from_pretrained(run).recommend(["i03", "i10"], k=5)
    assert main(["index", "build", "--run", run, "--kind", "hnsw", "--param", "m=8",
                 "--param", "ef_search=64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "hnsw" and report["params"]["m"] == 8
    assert report["recall_at_10"] == 1.0 and report["items"] == 60
    assert ItemIndex.load(run).kind == "hnsw"
    approximate = Recommender.from_pretrained(run).recommend(["i03", "i10"], k=5)
    assert [i for i, _ in approximate] == [i for i, _ in exact]
    assert [s for _, s in approximate] == pytest.approx([s for _, s in exact], rel=1e-5)

    other = tmp_path / "ivf"
    assert main(["index", "build", "--run", run, "--kind", "ivf_flat", "--param", "nlist=4",
                 "--param", "nprobe=4", "--output", str(other)]) == 0
    assert "recall@10: 1.0000 against exact search" in capsys.readouterr().out
    assert main(["recommend", "--run", run, "--index", str(other), "--history", "i03,i10",
                 "--k", "5", "--json"]) == 0
    assert [r["item_id"] for r in json.loads(capsys.readouterr().out)] == [i for i, _ in exact]


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "annoy"], "unknown index kind 'annoy'"),
    (["--kind", "hnsw", "--param", "nprobe=3"], "unknown parameter(s) ['nprobe']"),
    (["--kind", "hnsw", "--param", "m=big"], "--param m=big: expected an integer"),
    (["--kind", "ivf_flat", "--param", "nlist=500"], "needs at least 500 item vectors"),
])
def test_index_build_bad_input(tmp_path, capsys, args, message):
    run = _tiny_run(tmp_path)
    assert main(["index", "build", "--run", run, *args]) == 2
    assert message in capsys.readouterr().err


def test_transitions_command_then_evaluate_with_them(trained_run, tmp_path, capsys):
    import shutil

    config, _ = trained_run
    run_dir = str(tmp_path / "run")
    shutil.copytree(config.run_dir, run_dir)
    assert main(["evaluate", "--run", run_dir, "--transitions", "--n-resamples", "0"]) == 2
    assert "recsft transitions --run" in capsys.readouterr().err
    assert main(["transitions", "--run", run_dir, "--weights", "0", "0.5", "--smoothings",
                 "0", "20", "--temperatures", "1", "2", "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert {(row["weight"], row["smoothing"], row["temperature"])
            for row in fitted["validation"]} == {
        (0.0, 0.0, 1.0), (0.5, 0.0, 1.0), (0.5, 20.0, 1.0), (0.5, 0.0, 2.0), (0.5, 20.0, 2.0)}
    assert fitted["settings"]["order_weights"] == [1.0, 0.3]
    assert main(["evaluate", "--run", run_dir, "--transitions", "--n-resamples", "0"]) == 0
    assert (f"weight {fitted['weight']:g}, smoothing {fitted['smoothing']:g}, temperature "
            f"{fitted['temperature']:g}, text-similarity weight 0, new-item prior "
            f"{fitted['new_item_prior']:g} (chosen on validation)") in capsys.readouterr().out
    from recsft.modeling.transitions import ItemTransitions
    from recsft.tokenization import BehaviorTokenizer

    chain = ItemTransitions.load(run_dir)
    chain.settings.weight = 0.5  # whatever validation chose: scores are then log-probabilities
    chain.save(run_dir)
    assert main(["run", "seal", "--run", run_dir]) == 0   # a deliberate change, recorded
    capsys.readouterr()
    history = ",".join(BehaviorTokenizer.from_pretrained(run_dir).item_ids[:3])
    assert main(["recommend", "--run", run_dir, "--history", history, "--k", "4", "--json",
                 "--transitions"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer) == 4 and all(row["score"] <= 0 for row in answer)  # log-probabilities
    assert main(["transitions", "--run", run_dir, "--decay", "0"]) == 2
    assert "decay must be in (0, 1]" in capsys.readouterr().err
