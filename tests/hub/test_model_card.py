"""The model card of a run: built with huggingface_hub's ModelCard, read back with its parser.

The ``model-index`` is checked through ``ModelCard.load`` / ``ModelCardData`` and
``model_index_to_eval_results`` (huggingface_hub's own reader of what the Hub renders as
evaluation results), and its intervals against an independent re-evaluation of the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from recsft.hub import build_model_card, write_model_card
from recsft.hub.card import install_commands
from recsft.hub.model_index import TASK_TYPE, data_revision


def _front_matter(text: str) -> dict[str, Any]:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _edit_metrics(run_dir: Path, **source: str) -> dict[str, Any]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["config"]["data"]["source"] = source["config"]
    metrics["dataset"]["source"] = source["recorded"]
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def test_model_card_states_model_data_protocol_metrics_and_loading(run_copy, trained_run):
    _, record = trained_run
    path = write_model_card(run_copy, repo_id="alice/tiny-bert4rec")
    assert path == str(run_copy / "README.md")
    assert not [p for p in run_copy.iterdir() if p.name.startswith(".tmp-")]
    text = Path(path).read_text(encoding="utf-8")

    meta = _front_matter(text)
    assert meta["library_name"] == "recsft"
    assert meta["pipeline_tag"] == "other"
    assert meta["license"] == "apache-2.0"  # synthetic data: recsft's own license
    assert meta["tags"][:4] == ["recsft", "recommendation", "sequential-recommendation",
                                "bert4rec"]
    assert {"ndcg", "recall", "mrr", "hit_rate"} <= set(meta["metrics"])
    assert "datasets" not in meta  # none of the sources is a Hub dataset

    protocol = record["protocol"]
    assert "| split | leave-one-out |" in text
    assert "full: every item of the catalogue is scored" in text
    assert "| filter_seen | yes" in text
    assert f"| max_length | {protocol['max_length']} |" in text
    assert f"| users evaluated | {protocol['num_users']:,} |" in text
    assert f"| items ranked | {protocol['num_items']:,} |" in text
    assert f"| users | {record['dataset']['users']:,} |" in text
    popular = record["baselines"]["most_popular"]["test"]
    for key in ("ndcg@10", "recall@10", "mrr@10", "hit_rate@5"):
        row = re.search(rf"^\| {key} \| ([0-9.]+) \| \[([0-9.]+), ([0-9.]+)\] \| ([0-9.]+) \|$",
                        text, re.MULTILINE)
        assert row, key
        assert row.group(1) == f"{record['test'][key]:.4f}"
        assert row.group(4) == f"{popular[key]:.4f}"
        assert float(row.group(2)) <= record["test"][key] <= float(row.group(3))
    assert "95% percentile bootstraps over the evaluated users (1,000 resamples" in text
    assert f"- epochs run: {record['training']['epochs_run']}" in text

    assert 'pip install "recsft==0.1.0"' in text   # the version in the run's manifest
    assert "import recsft  # registers the recsft Auto classes" in text
    assert 'AutoModel.from_pretrained("alice/tiny-bert4rec")' in text
    assert 'recsft.Recommender.from_pretrained("alice/tiny-bert4rec")' in text
    assert "snapshot_download" not in text
    assert "recsft evaluate --run alice/tiny-bert4rec" in text
    assert "regenerates the synthetic data from its seed" in text
    assert "## Data terms" in text and "synthetic" in text


def test_model_index_parses_back_with_huggingface_hub_and_its_intervals_are_the_runs(
        run_copy, trained_run):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from recsft.runs.evaluate import evaluate_run

    _, record = trained_run
    card = ModelCard.load(write_model_card(run_copy, repo_id="alice/tiny"))
    assert card.data.library_name == "recsft" and card.data.pipeline_tag == "other"
    assert card.data.model_name == "tiny"
    results = card.data.eval_results
    name, again = model_index_to_eval_results(_front_matter(str(card))["model-index"])
    assert name == "tiny" and again == results

    ks = sorted({int(key.split("@")[1]) for key in record["test"]})
    assert [r.metric_type for r in results] == [f"{m}_at_{k}" for k in ks
                                                for m in ("ndcg", "recall", "mrr")]
    reference = evaluate_run(str(run_copy), n_resamples=1000, seed=0)["intervals"]
    revision = data_revision("recsft-synthetic", record["dataset"])
    for result in results:
        base, k = result.metric_type.split("_at_")
        key = f"{base}@{k}"
        assert result.task_type == TASK_TYPE
        assert (result.dataset_type, result.dataset_split) == ("recsft-synthetic", "test")
        assert result.dataset_name == "Synthetic shop (recsft generator)"
        assert result.dataset_revision == revision
        assert result.dataset_args == {
            "protocol": "leave-one-out", "ranking": "full", "filter_seen": True,
            "max_length": record["protocol"]["max_length"],
            "users_evaluated": record["protocol"]["num_users"],
            "items_ranked": record["protocol"]["num_items"]}
        assert result.metric_value == record["test"][key]
        assert result.metric_args == {"k": int(k)}
        low, high = reference[key]["ci95_low"], reference[key]["ci95_high"]
        label = {"ndcg": "NDCG", "recall": "Recall", "mrr": "MRR"}[base]
        assert result.metric_name == f"{label}@{k} (95% CI {low:.4f}-{high:.4f})"
        assert low <= result.metric_value <= high


def test_a_given_evaluation_gives_the_same_card_and_a_foreign_one_no_intervals(run_copy):
    from recsft.runs.evaluate import evaluate_run

    evaluation = evaluate_run(str(run_copy), n_resamples=1000, seed=0)
    computed = str(build_model_card(run_copy, repo_id="alice/tiny"))
    assert str(build_model_card(run_copy, repo_id="alice/tiny", evaluation=evaluation)) == computed

    off = json.loads(json.dumps(evaluation))
    off["metrics"]["ndcg@10"] += 0.01
    card = build_model_card(run_copy, evaluation=off)
    assert "95% CI" not in str(card)
    assert "No intervals: re-evaluation gave ndcg@10" in card.text
    assert [r.metric_name for r in card.data.eval_results][:3] == ["NDCG@5", "Recall@5",
                                                                   "MRR@5"]

    card = build_model_card(run_copy, n_resamples=0)
    assert "95% CI" not in str(card) and "(n_resamples=0)" in card.text
    assert "| metric | this model | most popular |" in card.text


def test_a_run_that_cannot_be_reevaluated_gets_a_card_without_intervals_or_paths(
        run_copy, caplog):
    # metrics.json edited after training: Run.open refuses the run, the card is still written.
    _edit_metrics(run_copy, config="/home/someone/data/events.csv",
                  recorded="/home/someone/data/events.csv")
    text = Path(write_model_card(run_copy)).read_text()
    assert "No intervals: the run could not be re-evaluated where this card was written " \
           "(RunFolderError" in text
    assert "95% CI" not in text
    assert str(run_copy) not in text and "/home/someone" not in text
    assert any("metrics.json" in record.getMessage() for record in caplog.records)


def test_model_card_of_a_named_dataset_carries_its_terms_and_identity(run_copy):
    from huggingface_hub import ModelCard

    from recsft.data.registry import REGISTRY

    metrics = _edit_metrics(run_copy, config="amazon-beauty",
                            recorded="/home/someone/private/Beauty.txt")
    path = write_model_card(run_copy, n_resamples=0)
    text = Path(path).read_text()
    spec = REGISTRY["amazon-beauty"]
    assert spec.license in text and spec.citation in text
    assert "check that these terms allow publishing them" in text
    assert f"| users | {metrics['dataset']['users']:,} | {spec.published['users']:,} |" in text
    assert "/home/someone" not in text
    data = ModelCard.load(path).data
    assert "amazon-beauty" in data.tags
    assert data.license is None  # the data's terms decide; the card's text names them
    assert {(r.dataset_type, r.dataset_name) for r in data.eval_results} == {
        ("amazon-beauty", spec.description)}
    assert "reads the amazon-beauty data, which is not in the repository" in text


def test_model_card_of_a_local_file_names_the_file_not_the_path(run_copy):
    from huggingface_hub import ModelCard

    _edit_metrics(run_copy, config="/home/someone/data/events.csv",
                  recorded="/home/someone/data/events.csv")
    path = write_model_card(run_copy, n_resamples=0)
    text = Path(path).read_text()
    assert "`events.csv`" in text and "/home/someone" not in text
    assert "recsft does not know the terms of this file" in text
    assert "pass `--data-config CONFIG`" in text
    results = ModelCard.load(path).data.eval_results
    assert {r.dataset_type for r in results} == {"events.csv"}


def test_data_revision_follows_the_prepared_data():
    stats = {"users": 800, "items": 120, "interactions": 18373,
             "steps": [{"name": "synthetic", "params": {"seed": 3}}]}
    assert data_revision("recsft-synthetic", stats) == data_revision("recsft-synthetic",
                                                                     json.loads(json.dumps(stats)))
    other_seed = {**stats, "steps": [{"name": "synthetic", "params": {"seed": 4}}]}
    assert data_revision("recsft-synthetic", other_seed) != data_revision("recsft-synthetic",
                                                                          stats)
    assert data_revision("recsft-synthetic", {**stats, "users": 799}) != data_revision(
        "recsft-synthetic", stats)
    assert re.fullmatch(r"recsft-[0-9a-f]{12}", data_revision("x", stats))


@pytest.mark.parametrize("url", [None, "https://github.com/someone/recsft"])
def test_install_commands(url):
    pinned, source = install_commands("0.1.0", url)
    assert pinned.startswith('pip install "recsft==0.1.0"')
    if url:
        assert source.startswith(f'pip install "recsft @ git+{url}"')
    else:
        assert source.startswith("pip install .") and "checkout" in source
    assert pinned.index("#") == source.index("#")
    assert install_commands(None, None)[0].startswith("pip install recsft ")


def test_model_card_of_events_handed_in_memory(run_copy):
    from huggingface_hub import ModelCard

    source = "<in-memory pandas.DataFrame sha256:0123abcd>"
    _edit_metrics(run_copy, config=source, recorded=source)
    path = write_model_card(run_copy, n_resamples=0)
    card = ModelCard.load(path)
    assert {(r.dataset_type, r.dataset_name) for r in card.data.eval_results} == {
        ("recsft-in-memory", "In-memory events (pandas.DataFrame)")}
    assert card.data.license is None
    assert "events handed to `recsft.train` in memory (a pandas.DataFrame" in card.text
    assert "pass `--data-config CONFIG`" in card.text
