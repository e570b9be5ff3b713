"""Upload of a run folder with its model card, against a local stand-in for the Hub API.

No test here reaches huggingface.co: ``FakeHub`` (tests/hub/fake_hub.py) is an HTTP server on
127.0.0.1 that answers the calls ``huggingface_hub`` makes for ``create_repo`` and
``create_commit`` and records every request, and the ``offline_guard`` fixture refuses any
connection to a non-loopback address.
"""

from __future__ import annotations

import os
import socket

import pytest

from recsft.cli import main
from recsft.errors import RunFolderError
from recsft.hub import HubError, push_to_hub
from recsft.runs.files import REQUIRED as REQUIRED_FILES


@pytest.mark.parametrize("xet", [True, False], ids=["hf_xet-pipeline", "without-hf_xet"])
def test_push_creates_the_repo_and_commits_every_file_byte_for_byte(
        run_copy, fake_hub, monkeypatch, xet):
    from huggingface_hub import constants
    from huggingface_hub.utils._runtime import is_xet_available

    # With hf_xet installed upload_folder runs its streamed pipeline, without it create_commit.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    assert is_xet_available() is xet
    (run_copy / ".tmp-abc123metrics.json").write_text("{")  # left by an interrupted write
    (run_copy / "checkpoints" / "step-5").mkdir(parents=True)  # resume state: not pushed
    (run_copy / "checkpoints" / "step-5" / "optimizer.bin").write_bytes(b"pickle")
    (run_copy / ".env").write_text("HF_TOKEN=hf_secret")                 # never pushed
    (run_copy / "notes.txt").write_text("not written by recsft")          # not in the manifest
    os.symlink("/etc/hostname", run_copy / "hostname")                   # never followed
    url = push_to_hub(run_copy, "alice/tiny-bert4rec", token="hf_test", private=True,
                      endpoint=fake_hub.url)

    assert (run_copy / "README.md").is_file()  # the card was written before the upload
    [commit] = fake_hub.commits
    assert url == f"{fake_hub.url}/alice/tiny-bert4rec/commit/{commit['oid']}"
    assert commit["repo_id"] == "alice/tiny-bert4rec" and commit["revision"] == "main"
    assert commit["header"]["summary"] == "Upload recsft run tiny"
    assert commit["other"] == []  # no LFS / deletion / copy operations

    on_disk = {p.relative_to(run_copy).as_posix(): p.read_bytes() for p in run_copy.rglob("*")
               if p.is_file() and not p.name.startswith(".")
               and p.relative_to(run_copy).parts[0] not in ("checkpoints", "data")
               and p.name not in ("notes.txt", "hostname")}
    assert any(name.startswith("logs/events.out.tfevents") for name in on_disk)
    assert {*REQUIRED_FILES, "README.md", "run_config.yaml", "training_log.jsonl"} <= set(on_disk)
    assert commit["files"] == on_disk  # the manifest's files and the card, exact bytes
    for name in ("config.json", "model.safetensors", "tokenizer.json", "item_index.faiss",
                 "metrics.json", "README.md"):
        assert commit["files"][name] == (run_copy / name).read_bytes()

    assert fake_hub.repos == {"alice/tiny-bert4rec": {
        "name": "tiny-bert4rec", "organization": "alice", "visibility": "private"}}
    methods_paths = fake_hub.paths()
    assert methods_paths[0] == ("POST", "/api/repos/create")
    assert set(methods_paths) == {
        ("POST", "/api/repos/create"), ("POST", "/api/validate-yaml"),
        ("POST", "/api/models/alice/tiny-bert4rec/preupload/main"),
        ("POST", "/api/models/alice/tiny-bert4rec/commit/main"),
    }
    assert all(r.headers.get("authorization") == "Bearer hf_test" for r in fake_hub.requests)
    assert all("recsft/" in r.headers.get("user-agent", "") for r in fake_hub.requests)


def test_push_to_an_existing_repo_keeps_an_edited_card(run_copy, fake_hub):
    push_to_hub(run_copy, "alice/tiny", token="hf_test", endpoint=fake_hub.url)
    card = run_copy / "README.md"
    card.write_text("---\nlibrary_name: recsft\n---\n\nMy own words.\n")
    push_to_hub(run_copy, "alice/tiny", token="hf_test", commit_message="Second",
                endpoint=fake_hub.url)

    creates = [r for r in fake_hub.requests if r.path == "/api/repos/create"]
    assert len(creates) == 2  # the second answered 409, which exist_ok accepts
    assert all("visibility" not in r.json() for r in creates)  # the namespace default
    first, second = fake_hub.commits
    assert second["header"]["summary"] == "Second"
    assert second["files"]["README.md"] == b"---\nlibrary_name: recsft\n---\n\nMy own words.\n"
    assert first["files"]["model.safetensors"] == second["files"]["model.safetensors"]


def test_the_pushed_files_load_with_auto_classes_and_the_recommender(
        run_copy, fake_hub, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from recsft.modeling import Bert4RecModel
    from recsft.retrieval.recommender import Recommender
    from recsft.tokenization import BehaviorTokenizer

    push_to_hub(run_copy, "alice/tiny", token="hf_test", endpoint=fake_hub.url)
    downloaded = tmp_path / "downloaded"  # what the Hub would serve: the committed files only
    downloaded.mkdir()
    for name, data in fake_hub.commits[0]["files"].items():
        (downloaded / name).parent.mkdir(parents=True, exist_ok=True)
        (downloaded / name).write_bytes(data)

    assert isinstance(AutoModel.from_pretrained(downloaded), Bert4RecModel)
    tokenizer = AutoTokenizer.from_pretrained(downloaded)
    assert isinstance(tokenizer, BehaviorTokenizer)
    history = tokenizer.item_ids[3:9]
    assert (Recommender.from_pretrained(downloaded).recommend(history, k=5)
            == Recommender.from_pretrained(run_copy).recommend(history, k=5))


def test_push_refuses_an_incomplete_run_folder_before_any_request(run_copy, fake_hub):
    (run_copy / "model.safetensors").unlink()
    with pytest.raises(RunFolderError, match="model.safetensors: missing"):
        push_to_hub(run_copy, "alice/tiny", endpoint=fake_hub.url)
    with pytest.raises(RunFolderError, match="no such run folder"):
        push_to_hub(run_copy / "nope", "alice/tiny", endpoint=fake_hub.url)
    assert fake_hub.requests == []


def test_push_refuses_a_repo_id_without_namespace(run_copy, fake_hub):
    for repo_id in ("tiny", "alice/", "a/b/c"):
        with pytest.raises(ValueError, match="must look like user/name"):
            push_to_hub(run_copy, repo_id, endpoint=fake_hub.url)
    assert fake_hub.requests == []


def test_hub_errors_are_one_hub_error(run_copy, fake_hub):
    with pytest.raises(HubError, match="401") as info:
        push_to_hub(run_copy, "alice/tiny", token="hf_revoked", endpoint=fake_hub.url)
    assert "Invalid credentials" in str(info.value) and "\n" not in str(info.value)
    assert fake_hub.commits == []

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(HubError, match=f"pushing .* to {closed}/alice/tiny failed"):
        push_to_hub(run_copy, "alice/tiny", token="hf_test", endpoint=closed)


def test_cli_push_prints_the_commit_url(run_copy, fake_hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)  # the endpoint comes from the environment
    assert main(["push", "--run", str(run_copy), "--repo-id", "bob/tiny", "--private",
                 "--token", "hf_test"]) == 0
    [commit] = fake_hub.commits
    assert capsys.readouterr().out.strip() == f"{fake_hub.url}/bob/tiny/commit/{commit['oid']}"
    assert fake_hub.repos["bob/tiny"]["visibility"] == "private"


def test_cli_push_errors_are_one_line_and_exit_2(run_copy, fake_hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    assert main(["push", "--run", str(run_copy), "--repo-id", "bob/tiny",
                 "--token", "hf_revoked"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recsft push: error: pushing ") and "401" in err
    assert err.count("\n") == 1

    (run_copy / "item_index.faiss").unlink()
    assert main(["push", "--run", str(run_copy), "--repo-id", "bob/tiny"]) == 2
    assert "item_index.faiss: missing" in capsys.readouterr().err
