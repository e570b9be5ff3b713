"""Model card and upload of a run folder, against a local stand-in for the Hub API.

No test here reaches huggingface.co: ``FakeHub`` is an HTTP server on 127.0.0.1 that answers the
calls ``huggingface_hub`` makes for ``create_repo`` and ``upload_folder`` and records every
request, and the ``offline_guard`` fixture refuses any connection to a non-loopback address.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from recsft.cli import main
from recsft.errors import RunFolderError
from recsft.hub import HubError, push_to_hub, write_model_card
from recsft.runs.files import REQUIRED as REQUIRED_FILES

_PREUPLOAD = re.compile(r"^/api/models/([^/]+/[^/]+)/preupload/([^/]+)$")
_COMMIT = re.compile(r"^/api/models/([^/]+/[^/]+)/commit/([^/]+)$")


@dataclass
class Recorded:
    """One request the fake Hub received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeHub:
    """Just enough of the Hub API for ``HfApi.create_repo`` and ``HfApi.upload_folder``.

    Emulated: ``POST /api/repos/create`` (409 when the repository exists),
    ``POST /api/validate-yaml`` (the README front matter), ``POST
    /api/models/{repo}/preupload/{revision}`` (answers ``uploadMode: regular`` for every file,
    so that no file goes through LFS or Xet storage) and ``POST
    /api/models/{repo}/commit/{revision}`` (an NDJSON body whose files are decoded and kept).
    Anything else is answered 404 and stays in :attr:`requests` for the tests to see.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.commits: list[dict[str, Any]] = []
        self.rejected_tokens = {"hf_revoked"}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch()

            def do_POST(self) -> None:  # noqa: N802
                self._dispatch()

            def _dispatch(self) -> None:
                parts = urlsplit(self.path)
                request = Recorded(self.command, unquote(parts.path), parts.query,
                                   {k.lower(): v for k, v in self.headers.items()},
                                   self._read_body())
                with hub._lock:
                    hub.requests.append(request)
                    status, payload, headers = hub._answer(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        return Handler

    def _answer(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.rejected_tokens:
            return 401, {"error": "Invalid credentials in Authorization header"}, {}
        if request.method == "POST" and request.path == "/api/repos/create":
            body = request.json()
            repo_id = f"{body['organization']}/{body['name']}"
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo",
                             "url": f"{self.url}/{repo_id}"}, {}
            self.repos[repo_id] = body
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}, {}
        if request.method == "POST" and request.path == "/api/validate-yaml":
            return self._validate_yaml(request.json()["content"])
        match = _PREUPLOAD.match(request.path)
        if request.method == "POST" and match:
            if match.group(1) not in self.repos:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                      "oid": None} for f in request.json()["files"]]
            return 200, {"files": files, "commitOid": "0" * 40}, {}
        match = _COMMIT.match(request.path)
        if request.method == "POST" and match:
            if match.group(1) not in self.repos:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            oid = hashlib.sha1(request.body).hexdigest()
            self.commits.append({"repo_id": match.group(1), "revision": match.group(2),
                                 "oid": oid, **_decode_commit(request.body)})
            return 200, {"success": True, "commitOid": oid, "pullRequestUrl": None,
                         "commitUrl": f"{self.url}/{match.group(1)}/commit/{oid}"}, {}
        return 404, {"error": f"{request.method} {request.path} is not emulated"}, {}

    @staticmethod
    def _validate_yaml(content: str) -> tuple[int, Any, dict[str, str]]:
        if not content.startswith("---\n"):
            return 200, {"errors": [], "warnings": [{"message": "empty metadata"}]}, {}
        try:
            yaml.safe_load(content.split("---\n")[1])
        except yaml.YAMLError as err:
            return 400, {"errors": [{"message": str(err)}]}, {}
        return 200, {"errors": [], "warnings": []}, {}


def _decode_commit(body: bytes) -> dict[str, Any]:
    """The header and the decoded files of an NDJSON commit payload."""
    header, files, other = None, {}, []
    for line in body.splitlines():
        item = json.loads(line)
        if item["key"] == "header":
            header = item["value"]
        elif item["key"] == "file" and item["value"]["encoding"] == "base64":
            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
        else:
            other.append(item)
    return {"header": header, "files": files, "other": other}


@pytest.fixture
def offline_guard(monkeypatch):
    """Refuse connections to anything but loopback; returns the refused addresses."""
    refused = []
    connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple):
            try:
                loopback = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                refused.append(address)
                raise ConnectionRefusedError(f"test_hub: no connection to {address} allowed")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused


@pytest.fixture
def fake_hub(monkeypatch, offline_guard):
    """A running FakeHub; huggingface_hub is allowed online, its global endpoint set to it."""
    from huggingface_hub import constants

    hub = FakeHub().start()
    # conftest.py sets HF_HUB_OFFLINE=1; the library reads it (and HF_ENDPOINT) at import time.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    # No agent-registry lookup for the user agent (it would go to constants.ENDPOINT).
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    yield hub
    hub.stop()
    assert offline_guard == []


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of the trained run folder (the session fixture stays untouched)."""
    config, _ = trained_run
    return Path(shutil.copytree(config.run_dir, tmp_path / "tiny"))


def _front_matter(text: str) -> dict[str, Any]:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_model_card_states_model_data_protocol_metrics_and_loading(run_copy, trained_run):
    _, record = trained_run
    path = write_model_card(run_copy, repo_id="alice/tiny-bert4rec")
    assert path == str(run_copy / "README.md")
    assert not [p for p in run_copy.iterdir() if p.name.startswith(".tmp-")]
    text = Path(path).read_text(encoding="utf-8")

    meta = _front_matter(text)
    assert meta["library_name"] == "recsft"
    assert meta["tags"][:3] == ["recsft", "sequential-recommendation", "bert4rec"]
    assert {"ndcg", "recall", "mrr", "hit_rate"} <= set(meta["metrics"])

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
        assert f"| {key} | {record['test'][key]:.4f} | {popular[key]:.4f} |" in text
    assert f"- epochs run: {record['training']['epochs_run']}" in text
    assert "import recsft  # registers the recsft Auto classes" in text
    assert 'AutoModel.from_pretrained("alice/tiny-bert4rec")' in text
    assert "recsft.Recommender.from_pretrained(snapshot_download(" in text
    assert "## Data terms" in text and "synthetic" in text


def test_model_card_parses_as_a_hub_model_card(run_copy):
    from huggingface_hub import ModelCard

    card = ModelCard.load(write_model_card(run_copy))
    assert card.data.library_name == "recsft"
    assert "sequential-recommendation" in card.data.tags
    assert "<user>/<repo>" in card.text  # no repo id given: a placeholder in the examples


def test_model_card_of_a_named_dataset_carries_its_terms(run_copy):
    from recsft.data.registry import REGISTRY

    metrics = json.loads((run_copy / "metrics.json").read_text())
    metrics["config"]["data"]["source"] = "amazon-beauty"
    metrics["dataset"]["source"] = "/home/someone/private/Beauty.txt"
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    text = Path(write_model_card(run_copy)).read_text()
    spec = REGISTRY["amazon-beauty"]
    assert spec.license in text and spec.citation in text
    assert "check that these terms allow publishing them" in text
    assert f"| users | {metrics['dataset']['users']:,} | {spec.published['users']:,} |" in text
    assert "amazon-beauty" in _front_matter(text)["tags"]
    assert "/home/someone" not in text


def test_model_card_of_a_local_file_names_the_file_not_the_path(run_copy):
    metrics = json.loads((run_copy / "metrics.json").read_text())
    metrics["config"]["data"]["source"] = "/home/someone/data/events.csv"
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    text = Path(write_model_card(run_copy)).read_text()
    assert "`events.csv`" in text and "/home/someone" not in text
    assert "recsft does not know the terms of this file" in text


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
