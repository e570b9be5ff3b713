"""Helpers of the serving tests: one tiny trained run per test session, a real uvicorn server
in a thread or in a subprocess (``recsft serve``) on a free 127.0.0.1 port, and a client.

The run is a SASRec trained for a few epochs on the tiny synthetic data of
:func:`tests.conftest.tiny_config`, reading item ids and item text (``id+text``, a tiny random
BERT as the text encoder), so that ``recsft index add`` can add items to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

_TRAINED: dict[str, Any] = {}


def trained_text_run(root: Path) -> dict[str, Any]:
    """Train (once per session) the tiny id+text SASRec; returns ``{"run": folder, "items":
    csv of every item's text, "texts": {category: text}, "category": {item: category},
    "cache": text-vector cache folder}``. ``root`` is used by the first call only."""
    if _TRAINED:
        return _TRAINED
    from recsft.training.pipeline import run_training
    from tests.text.checkpoint import category_text_config

    config, items, texts = category_text_config(root, epochs=6, eval_every=6)
    before = os.environ.get("RECSFT_CACHE")
    os.environ["RECSFT_CACHE"] = str(root / "cache")
    try:
        run_training(config)
    finally:
        if before is None:
            os.environ.pop("RECSFT_CACHE", None)
        else:
            os.environ["RECSFT_CACHE"] = before
    _TRAINED.update(run=Path(config.run_dir), texts=texts, cache=root / "cache",
                    category=dict(zip(items["item_id"].astype(str), items["category"])))
    return _TRAINED


def add_items(run: Path, trained: dict[str, Any], names: list[str], category: int = 2
              ) -> list[str]:
    """``recsft index add`` into ``run``: new items whose text is that of the ``category``-th
    category (the run folder is rewritten, its model version changes)."""
    import pandas as pd

    from recsft.runs.items import add_run_items

    text = trained["texts"][sorted(trained["texts"])[category]]
    table = pd.DataFrame({"item_id": names, "title": [text] * len(names)})
    return add_run_items(run, table, cache_folder=trained["cache"]).added


def group(trained: dict[str, Any], category: int = 2) -> list[str]:
    """The items of the ``category``-th category."""
    name = sorted(trained["texts"])[category]
    return sorted(item for item, c in trained["category"].items() if c == name)


def copy_run(source: Path, destination: Path) -> Path:
    """A copy of a run folder (tests write into it)."""
    shutil.copytree(source, destination)
    return destination


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """uvicorn serving ``create_app(config)`` in a thread of this process.

    Args:
        config: A :class:`recsft.serve.config.ServeConfig` (its port is used).
    """

    def __init__(self, config: Any) -> None:
        import uvicorn

        from recsft.serve.app import create_app

        self.app = create_app(config)
        self.url = f"http://{config.host}:{config.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=config.host,
                                                    port=config.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def service(self) -> Any:
        return self.app.state.service

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class ProcessServer:
    """``recsft serve`` in a subprocess (its stderr in a file).

    Args:
        args: The command's arguments after ``recsft serve``.
        port: Its ``--port``.
        log: File for its stderr.
        env: Extra environment variables.
    """

    def __init__(self, args: list[str], port: int, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.args, self.port, self.log = args, port, log
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    **(env or {})}
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> ProcessServer:
        """Start it and wait until ``/readyz`` answers 200."""
        with open(self.log, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "recsft.cli", "serve", *self.args,
                 "--port", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"recsft serve exited with {self.process.returncode}: "
                                   f"{self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"recsft serve did not become ready: "
                                   f"{self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM (a graceful shutdown), and wait for it; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@contextlib.contextmanager
def process_server(args: list[str], log: Path, env: dict[str, str] | None = None
                   ) -> Iterator[ProcessServer]:
    """A started :class:`ProcessServer`, stopped at the end."""
    server = ProcessServer(args, free_port(), log, env).start()
    try:
        yield server
    finally:
        server.stop()


def pairs(answer: dict[str, Any]) -> list[tuple[str, float]]:
    """``[(item_id, score), ...]`` of a ``/recommend`` or ``/similar-items`` answer."""
    return [(entry["item_id"], entry["score"]) for entry in answer["items"]]


def same_ranking(got: list[tuple[str, float]], expected: list[tuple[str, float]],
                 tolerance: float = 1e-4) -> bool:
    """The same items in the same order, scores within ``tolerance`` (a batch pads histories
    to its longest, which changes float rounding only)."""
    return ([i for i, _ in got] == [i for i, _ in expected]
            and all(abs(a - b) <= tolerance * max(1.0, abs(b))
                    for (_, a), (_, b) in zip(got, expected)))
