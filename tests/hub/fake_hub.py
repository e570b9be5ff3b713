"""A local stand-in for the Hugging Face Hub: an HTTP server on 127.0.0.1 that answers the
requests ``huggingface_hub`` itself makes to push a run (``create_repo``, ``create_commit``)
and to download one (``snapshot_download``, ``hf_hub_download``), and records every request.

Nothing of ``huggingface_hub`` is replaced: the tests point its endpoint at this server, so its
own request building, response parsing, cache layout and error mapping run as against
huggingface.co.

Emulated:

- ``POST /api/repos/create``: the repo URL; 409 when it exists;
- ``POST /api/validate-yaml``: the front matter parsed as YAML; a ``model-index`` must parse
  with ``huggingface_hub``'s own reader and hold the fields the Hub requires;
- ``POST /api/models/{repo}/preupload/{rev}``: ``uploadMode: regular`` for every file (no LFS
  or Xet transfer);
- ``POST /api/models/{repo}/commit/{rev}``: the NDJSON body decoded; its files become the
  repository's tree at a new commit;
- ``GET /api/models/{repo}/revision/{rev}``: the commit of ``main`` (or of a commit hash);
- ``GET /api/models/{repo}/tree/{rev}``: the files, with sizes and git blob ids;
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag``, size; the
  bytes.

Anything else is answered 404 and stays in :attr:`FakeHub.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

_PREUPLOAD = re.compile(r"^/api/models/([^/]+/[^/]+)/preupload/([^/]+)$")
_COMMIT = re.compile(r"^/api/models/([^/]+/[^/]+)/commit/([^/]+)$")
_REVISION = re.compile(r"^/api/models/([^/]+/[^/]+)/revision/([^/]+)$")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


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


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's bytes (what the Hub reports as a file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """Just enough of the Hub API for uploading and downloading a model repository.

    Attributes:
        requests: Every request received, in order.
        repos: Created repositories: ``{repo_id: create request body}``.
        commits: Every commit: repo, revision, commit id, header, decoded files.
        trees: ``{repo_id: {"sha": commit id, "files": {path: bytes}}}``, the ``main`` branch.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.commits: list[dict[str, Any]] = []
        self.trees: dict[str, dict[str, Any]] = {}
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

    def put_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        """Create (or replace) a repository holding ``files`` at a new commit; its id."""
        with self._lock:
            self.repos.setdefault(repo_id, {"name": repo_id.split("/")[1]})
            sha = hashlib.sha1(json.dumps(sorted((k, git_blob_id(v)) for k, v in
                                                 files.items())).encode()).hexdigest()
            self.trees[repo_id] = {"sha": sha, "files": dict(files)}
            return sha

    # ------------------------------------------------------------------ HTTP plumbing

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch()

            def do_HEAD(self) -> None:  # noqa: N802
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
                if isinstance(payload, bytes):
                    data, kind = payload, "application/octet-stream"
                else:
                    data, kind = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
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

    # ------------------------------------------------------------------ answers

    def _answer(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.rejected_tokens:
            return 401, {"error": "Invalid credentials in Authorization header"}, {}
        if request.method == "POST":
            return self._answer_upload(request)
        return self._answer_download(request)

    def _answer_upload(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if request.path == "/api/repos/create":
            body = request.json()
            repo_id = f"{body['organization']}/{body['name']}"
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo",
                             "url": f"{self.url}/{repo_id}"}, {}
            self.repos[repo_id] = body
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}, {}
        if request.path == "/api/validate-yaml":
            return self._validate_yaml(request.json()["content"])
        match = _PREUPLOAD.match(request.path)
        if match:
            if match.group(1) not in self.repos:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                      "oid": None} for f in request.json()["files"]]
            return 200, {"files": files, "commitOid": "0" * 40}, {}
        match = _COMMIT.match(request.path)
        if match:
            repo_id = match.group(1)
            if repo_id not in self.repos:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            oid = hashlib.sha1(request.body).hexdigest()
            commit = {"repo_id": repo_id, "revision": match.group(2), "oid": oid,
                      **_decode_commit(request.body)}
            self.commits.append(commit)
            files = {**self.trees.get(repo_id, {}).get("files", {}), **commit["files"]}
            self.trees[repo_id] = {"sha": oid, "files": files}
            return 200, {"success": True, "commitOid": oid, "pullRequestUrl": None,
                         "commitUrl": f"{self.url}/{repo_id}/commit/{oid}"}, {}
        return 404, {"error": f"{request.method} {request.path} is not emulated"}, {}

    def _answer_download(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        for pattern in (_REVISION, _TREE, _RESOLVE):
            match = pattern.match(request.path)
            if match:
                break
        else:
            return 404, {"error": f"{request.method} {request.path} is not emulated"}, {}
        repo_id, revision = match.group(1), match.group(2)
        tree = self.trees.get(repo_id)
        if tree is None:
            return 401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if revision not in ("main", tree["sha"]):
            return 404, {"error": f"Invalid rev id: {revision}"}, {
                "X-Error-Code": "RevisionNotFound"}
        files, sha = tree["files"], tree["sha"]
        if pattern is _REVISION:
            return 200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": False,
                         "siblings": [{"rfilename": name} for name in sorted(files)]}, {}
        if pattern is _TREE:
            return 200, [{"type": "file", "path": name, "size": len(data),
                          "oid": git_blob_id(data)} for name, data in sorted(files.items())], {}
        name = match.group(3)
        headers = {"X-Repo-Commit": sha}
        if name not in files:
            return 404, {"error": "Entry not found"}, {**headers, "X-Error-Code":
                                                        "EntryNotFound"}
        data = files[name]
        return 200, data, {**headers, "ETag": f'"{git_blob_id(data)}"'}

    @staticmethod
    def _validate_yaml(content: str) -> tuple[int, Any, dict[str, str]]:
        """The front matter as YAML; a ``model-index`` through huggingface_hub's reader, with
        the fields the Hub requires (task type, dataset type and name, metric type and value).
        """
        from huggingface_hub.repocard_data import model_index_to_eval_results

        if not content.startswith("---\n"):
            return 200, {"errors": [], "warnings": [{"message": "empty metadata"}]}, {}
        try:
            meta = yaml.safe_load(content.split("---\n")[1])
        except yaml.YAMLError as err:
            return 400, {"errors": [{"message": str(err)}]}, {}
        if "model-index" in meta:
            try:
                _, results = model_index_to_eval_results(meta["model-index"])
            except (KeyError, TypeError, ValueError) as err:
                return 400, {"errors": [{"message": f"model-index: {err}"}]}, {}
            required = ("task_type", "dataset_type", "dataset_name", "metric_type",
                        "metric_value")
            if not results or any(getattr(r, f) is None for r in results for f in required):
                return 400, {"errors": [{"message": "model-index: a result misses a "
                                                    "required field"}]}, {}
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
