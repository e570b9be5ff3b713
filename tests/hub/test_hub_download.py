"""A pushed run loaded back by its repository id, against the local stand-in Hub.

huggingface_hub's own ``snapshot_download`` fetches from ``FakeHub`` on 127.0.0.1 into a fresh
Hugging Face cache; recsft then opens the run through ``Run.open`` (manifest digests,
safetensors only). Every request the server receives is recorded, so "downloaded once" is
checked on the wire.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recsft.cli import main
from recsft.errors import RecsftError, RunFolderError
from recsft.hub import HubError, push_to_hub, resolve_run
from recsft.retrieval.recommender import Recommender
from recsft.runs.files import MANIFEST


def _pushed(fake_hub, run_copy, repo_id="alice/tiny") -> dict[str, bytes]:
    """Push the run; the files the repository then holds."""
    push_to_hub(run_copy, repo_id, token="hf_test")
    fake_hub.requests.clear()
    return dict(fake_hub.trees[repo_id]["files"])


def _downloads(fake_hub) -> list[str]:
    return [r.path for r in fake_hub.requests if r.method == "GET" and "/resolve/" in r.path]


def test_a_pushed_run_loads_by_repo_id_and_is_downloaded_once(fake_hub, run_copy):
    from huggingface_hub import ModelCard, constants

    files = _pushed(fake_hub, run_copy)
    history = json.loads((run_copy / "item_index.json").read_text())["item_ids"][3:9]
    expected = Recommender.from_pretrained(run_copy).recommend(history, k=5)

    rec = Recommender.from_pretrained("alice/tiny")
    assert rec.recommend(history, k=5) == expected
    fetched = sorted(path.split("/resolve/")[1].split("/", 1)[1]
                     for path in _downloads(fake_hub))
    assert fetched == sorted(files)  # each file of the repository once, nothing else
    assert not any(name.startswith("data/") for name in files)  # the events are never pushed

    # The Hugging Face cache holds the commit (symlinks into blobs/, as huggingface_hub lays it
    # out); recsft opened a folder of regular files linked to the same blobs.
    sha = fake_hub.trees["alice/tiny"]["sha"]
    storage = fake_hub.cache / "models--alice--tiny"
    view = resolve_run("alice/tiny")
    assert view == storage / "recsft" / sha
    for name in files:
        assert (view / name).is_file() and not (view / name).is_symlink()
        assert (view / name).read_bytes() == files[name]
        cached = storage / "snapshots" / sha / name
        assert os.path.samefile(os.path.realpath(cached), view / name) or \
            (view / name).read_bytes() == cached.read_bytes()
    card = ModelCard.load(view / "README.md")
    assert card.data.library_name == "recsft" and card.data.eval_results  # a model-index

    # Again: one request resolves main to its commit, no file is downloaded.
    fake_hub.requests.clear()
    assert Recommender.from_pretrained("alice/tiny").recommend(history, k=5) == expected
    assert fake_hub.paths() == [("GET", "/api/models/alice/tiny/revision/main")]
    # By commit: no request at all. Offline: the cache answers.
    fake_hub.requests.clear()
    assert resolve_run("alice/tiny", revision=sha) == view
    constants.HF_HUB_OFFLINE = True  # restored by the fixture's monkeypatch
    assert Recommender.from_pretrained("alice/tiny").recommend(history, k=5) == expected
    assert fake_hub.requests == []


def test_huggingface_hub_still_reads_the_cache(fake_hub, run_copy):
    from huggingface_hub import scan_cache_dir

    _pushed(fake_hub, run_copy)
    resolve_run("alice/tiny")
    info = scan_cache_dir(fake_hub.cache)
    assert info.warnings == []
    [repo] = info.repos
    sha = fake_hub.trees["alice/tiny"]["sha"]
    assert repo.repo_id == "alice/tiny" and set(repo.refs) == {"main"}
    assert {revision.commit_hash for revision in repo.revisions} == {sha}
    # Deleting the only revision with huggingface_hub removes recsft's folder with the entry.
    info.delete_revisions(sha).execute()
    assert not (fake_hub.cache / "models--alice--tiny").exists()


def test_only_the_manifest_files_are_downloaded_never_a_pickle(fake_hub, run_copy):
    files = _pushed(fake_hub, run_copy)
    fake_hub.put_repo("alice/tiny", {**files, "pytorch_model.bin": b"\x80pickle",
                                     "optimizer.pt": b"\x80pickle", "notes.txt": b"hello"})
    view = resolve_run("alice/tiny")
    fetched = {path.rsplit("/", 1)[1] for path in _downloads(fake_hub)}
    assert not fetched & {"pytorch_model.bin", "optimizer.pt", "notes.txt"}
    assert not (view / "pytorch_model.bin").exists()
    snapshot = fake_hub.cache / "models--alice--tiny" / "snapshots" / fake_hub.trees[
        "alice/tiny"]["sha"]
    assert not (snapshot / "pytorch_model.bin").exists()
    Recommender.from_pretrained("alice/tiny")


def test_a_manifest_listing_a_pickle_file_is_refused(fake_hub, run_copy):
    files = _pushed(fake_hub, run_copy)
    manifest = json.loads(files[MANIFEST])
    manifest["files"]["pytorch_model.bin"] = {"sha256": "0" * 64, "bytes": 7}
    fake_hub.put_repo("alice/tiny", {**files, MANIFEST: json.dumps(manifest).encode(),
                                     "pytorch_model.bin": b"\x80pickle"})
    with pytest.raises(RunFolderError, match=r"lists pytorch_model.bin, a pickle file"):
        resolve_run("alice/tiny")
    assert not any(p.endswith("pytorch_model.bin") for p in _downloads(fake_hub))


def test_a_repository_file_that_differs_from_the_manifest_is_refused(fake_hub, run_copy):
    files = _pushed(fake_hub, run_copy)
    weights = bytearray(files["model.safetensors"])
    weights[-1] ^= 1
    fake_hub.put_repo("alice/tiny", {**files, "model.safetensors": bytes(weights)})
    with pytest.raises(RunFolderError, match=r"model.safetensors: differs from the file "
                                             r"recorded in recsft_manifest.json"):
        Recommender.from_pretrained("alice/tiny")


def test_repositories_that_are_not_complete_runs(fake_hub, run_copy):
    files = _pushed(fake_hub, run_copy)
    fake_hub.put_repo("bob/not-a-run", {"README.md": b"hello", "model.safetensors": b"x"})
    with pytest.raises(RunFolderError, match=r"^bob/not-a-run: the repository holds no "
                                             r"recsft_manifest.json; not a run pushed by recsft$"):
        resolve_run("bob/not-a-run")
    fake_hub.put_repo("bob/partial", {k: v for k, v in files.items() if k != "item_index.faiss"})
    with pytest.raises(RunFolderError, match=r"lists item_index.faiss, which the repository "
                                             r"does not hold"):
        resolve_run("bob/partial")
    assert not list((fake_hub.cache / "models--bob--partial" / "recsft").iterdir())


def test_hub_failures_are_one_line_errors(fake_hub, run_copy):
    from huggingface_hub import constants

    _pushed(fake_hub, run_copy)
    with pytest.raises(HubError, match=r"^nobody/nothing: no such run folder, nor a model "
                                       rf"repository on {fake_hub.url}") as info:
        resolve_run("nobody/nothing")
    assert "\n" not in str(info.value)
    with pytest.raises(HubError, match=r"^alice/tiny \(revision v9\): no such revision"):
        resolve_run("alice/tiny", revision="v9")
    with pytest.raises(HubError, match=r"^downloading alice/tiny from .* failed: .*401"):
        resolve_run("alice/tiny", token="hf_revoked")
    constants.HF_HUB_OFFLINE = True  # restored by the fixture's monkeypatch
    with pytest.raises(HubError, match=r"^alice/tiny: no such run folder; as a Hub "
                                       r"repository it is not in the Hugging Face cache"):
        resolve_run("alice/tiny")


def test_a_missing_local_path_that_is_no_repo_id_makes_no_request(fake_hub, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)   # "./runs/demo" must not exist (the quick start writes it)
    for value in (str(tmp_path / "nope"), "nope", "runs/a/b", "./runs/demo", "a/../b",
                  "runs-/demo", "a--b/c"):
        with pytest.raises(RunFolderError, match=r"no such run folder \(nor a Hub repository "
                                                 r"id of the form user/name\)$"):
            Recommender.from_pretrained(value)
    with pytest.raises(RecsftError, match="a revision applies only to a Hub repository id"):
        resolve_run(tmp_path, revision="main")
    assert fake_hub.requests == []


def test_cli_evaluate_takes_a_repo_id(fake_hub, run_copy, trained_run, capsys):
    _, record = trained_run
    _pushed(fake_hub, run_copy)
    assert main(["evaluate", "--run", "alice/tiny", "--json", "--n-resamples", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    # The synthetic events are not pushed; they are generated again from the run's config.
    assert result["metrics"] == record["test"]

    assert main(["evaluate", "--run", "nobody/nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsft evaluate: error: nobody/nothing: no such run folder, nor a "
                          "model repository") and err.count("\n") == 1
    assert main(["recommend", "--run", "alice/tiny", "--history", "i0003", "--k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 3


def test_the_endpoint_comes_from_hf_endpoint_at_call_time(fake_hub, run_copy, monkeypatch):
    from huggingface_hub import constants

    _pushed(fake_hub, run_copy)
    # As if huggingface_hub had been imported without HF_ENDPOINT: its defaults name
    # huggingface.co (refused by the offline guard), the variable is set afterwards.
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        "https://huggingface.co/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    assert (resolve_run("alice/tiny") / "model.safetensors").is_file()
    assert isinstance(Path(resolve_run("alice/tiny")), Path)
