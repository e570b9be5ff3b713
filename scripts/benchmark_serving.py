"""Latency, throughput and memory of ``recsft serve`` under a bounded open-loop load.

Starts ``recsft serve`` on 127.0.0.1 (a free port, user state in a fresh SQLite file seeded
from the run with ``--seed-state``) in a subprocess, waits for ``/readyz``, drives it, stops it.

The load is open-loop: request ``i`` of a phase at rate ``r`` is scheduled at ``start + i / r``
and sent then whatever earlier requests are doing, and its latency is measured from that
scheduled time, so a server (or a client) that falls behind shows as latency instead of
silently slowing the load (coordinated omission). Every phase is bounded: ``rate * duration``
requests at most (``--max-requests``), and requests still open ``--timeout`` seconds after the
last send are counted as errors and cancelled. The mix: ``--events-share`` (10 %) ``POST
/events`` (a test user's next real item), the rest ``POST /recommend``, by ``user_id`` (the
state the server seeded) or, for ``--history-share`` of them, by the explicit history of a test
user. Users and histories are sampled (seeded) from the run's test split.

Reported per phase: p50/p95/p99/max latency (all requests and per kind), achieved throughput,
errors by kind, the server's CPU % and RSS sampled every ``--sample-seconds`` (psutil, else
/proc), the load generator's own CPU %, and the server's latency split from its
``Server-Timing`` header (parse, state, encode, search, serialize, ...; what the header names).
Then a saturation search (rates growing by ``--saturation-factor`` until p99 exceeds
``--p99-ms``, an error occurs, or throughput falls behind the offered rate; bounded steps), for
each backend of ``--backends`` (``onnx`` exports the run's encoder first when it has none).
With ``--soak-minutes`` only a soak runs: a moderate rate for that long, reporting RSS growth.

The load generator is asyncio with aiohttp (httpx, a declared dependency, where aiohttp is not
installed; ``--client``): locust is not installed here, and its users are closed loops (a user
waits for its answer before the next request), which hides queueing; a fixed schedule of
asyncio tasks is the open loop itself. aiohttp because the client shares the cores with the
server: measured here, httpx costs 0.75 ms of CPU per request and aiohttp 0.17 ms, and against
a trivial server httpx fell behind near 220 req/s while aiohttp kept up at 600. The client's
cost is reported (client CPU %, send lag behind the schedule).

The default run is built by ``--build-run`` (cached under ``benchmarks/.serving-run``): a
100,000-item synthetic catalogue, SASRec hidden 64, 2 layers, 2 heads, max length 50, trained
for 2 epochs with a sampled softmax -- serving latency depends on the shapes, not on quality.

Writes ``benchmarks/results/serving.json`` (``serving_soak.json`` for a soak).

Usage:
    python scripts/benchmark_serving.py --build-run --rates 50 100 200 --duration 30
    python scripts/benchmark_serving.py --build-run --soak-minutes 10
    python scripts/benchmark_serving.py --run runs/demo --rates 20 --duration 5 --no-saturation
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The folder this script owns: the benchmark run it builds (gitignored).
CACHE = ROOT / "benchmarks" / ".serving-run"
PERCENTILES = (50, 95, 99)


# ------------------------------------------------------------------------------ the run


def run_settings(items: int, users: int, epochs: int, name: str) -> dict[str, str]:
    """``recsft train --set`` overrides of the benchmark run (SASRec hidden 64, 2 layers,
    2 heads, max length 50, on the synthetic shop with every catalogue item indexed).

    Args:
        items: Catalogue items (all of them in the vocabulary and the index).
        users: Synthetic users.
        epochs: Training epochs (serving latency does not depend on the model's quality).
        name: The run's name (its folder under the cache).

    Returns:
        ``{section.key: value}``.
    """
    return {
        "name": name,
        "data.synthetic": json.dumps({"num_users": users, "num_items": items,
                                      "num_categories": max(1, min(1000, items // 100)),
                                      "seed": 0}),
        "data.catalogue": "items", "data.preprocess": json.dumps({"collapse_repeats": True}),
        "data.max_length": "50",
        "model.model_type": "sasrec", "model.hidden_size": "64",
        "model.num_hidden_layers": "2", "model.num_attention_heads": "2",
        "model.intermediate_size": "256",
        # Full softmax over 100,000 items is too slow for a quick CPU build; the sampled
        # softmax (logQ-corrected uniform negatives) of benchmark_large_catalogue.py is not.
        "model.loss": "sampled_softmax", "model.num_negatives": "256",
        "model.negative_sampling": "uniform",
        "training.epochs": str(epochs), "training.eval_every": str(epochs),
        "training.batch_size": "128", "evaluation.batch_size": "256",
    }


def build_run(items: int, users: int, epochs: int, cache: Path = CACHE,
              rebuild: bool = False) -> Path:
    """Train the benchmark run under ``cache`` with ``recsft train``, or reuse the one there
    when it was built with the same settings.

    Args:
        items: Catalogue items.
        users: Synthetic users.
        epochs: Training epochs.
        cache: The folder owned by this script (a ``.gitignore`` of ``*`` is put in it).
        rebuild: Train again even when a matching run exists.

    Returns:
        The run folder.
    """
    from recsft.fileio import atomic_write_text, make_folder

    name = f"sasrec-h64-{items}items-{users}users"
    settings = {**run_settings(items, users, epochs, name), "output_dir": str(cache)}
    run_dir = cache / name
    record = cache / f"{name}.build.json"
    if not rebuild and record.is_file() and (run_dir / "recsft_manifest.json").is_file():
        built = json.loads(record.read_text())
        if built.get("settings") == settings:
            print(f"reusing {run_dir} (built in {built.get('seconds')} s)", flush=True)
            return run_dir
    make_folder(cache)
    if not (cache / ".gitignore").exists():
        atomic_write_text(cache / ".gitignore", "*\n")
    command = [sys.executable, "-m", "recsft.cli", "train", "--overwrite",
               "--config", str(ROOT / "configs" / "demo.yaml"),
               *[f"--set={k}={v}" for k, v in settings.items()]]
    print("building the benchmark run:", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    seconds = round(time.perf_counter() - started, 1)
    atomic_write_text(record, json.dumps({"settings": settings, "seconds": seconds,
                                          "command": command}, indent=2))
    return run_dir


def build_record(run_dir: Path) -> dict[str, Any] | None:
    """The ``.build.json`` of a run this script built (settings, seconds), else ``None``."""
    record = run_dir.parent / f"{run_dir.name}.build.json"
    return json.loads(record.read_text()) if record.is_file() else None


# ------------------------------------------------------------------------------ workload


@dataclass
class Workload:
    """What the requests are drawn from: the run's test split.

    Attributes:
        user_ids: Test users (their state is seeded into the server).
        histories: Each test user's history, oldest first, the newest ``max_length`` events.
        event_types: Parallel event types (``None`` entries when unknown).
        next_items: Each test user's next real item (the target), sent as a new event.
    """

    user_ids: list[str]
    histories: list[list[str]]
    event_types: list[list[str | None]]
    next_items: list[str]


def load_workload(run_dir: Path, max_length: int = 50) -> Workload:
    """The test split of a run as a :class:`Workload`."""
    from recsft.runs import Run

    test = Run.open(run_dir).splits().test
    types = test.history_event_types or [[None] * len(h) for h in test.histories]
    return Workload(user_ids=list(test.user_ids),
                    histories=[list(h[-max_length:]) for h in test.histories],
                    event_types=[list(t[-max_length:]) for t in types],
                    next_items=list(test.targets))


@dataclass(frozen=True)
class Request:
    """One scheduled request: its kind (``recommend_user``, ``recommend_history``,
    ``events``), path and JSON body."""

    kind: str
    path: str
    body: dict[str, Any]


def plan_requests(workload: Workload, count: int, events_share: float, history_share: float,
                  k: int, seed: int) -> list[Request]:
    """``count`` requests drawn (seeded) from the workload in the configured mix.

    Args:
        workload: The test split.
        count: Requests.
        events_share: Share of ``POST /events``.
        history_share: Share of the ``/recommend`` requests sent by explicit history.
        k: Items asked for.
        seed: Random seed.

    Returns:
        The requests in sending order.
    """
    rng = random.Random(seed)
    n = len(workload.user_ids)
    requests = []
    clock = 1_700_000_000.0
    for _ in range(count):
        u = rng.randrange(n)
        user = workload.user_ids[u]
        draw = rng.random()
        if draw < events_share:
            clock += 1.0
            requests.append(Request("events", "/events", {
                "user_id": user,
                "events": [{"item_id": workload.next_items[u], "event_type": "view",
                            "timestamp": clock}]}))
        elif rng.random() < history_share:
            body: dict[str, Any] = {"history": workload.histories[u], "k": k}
            if any(t is not None for t in workload.event_types[u]):
                body["event_types"] = workload.event_types[u]
            requests.append(Request("recommend_history", "/recommend", body))
        else:
            requests.append(Request("recommend_user", "/recommend", {"user_id": user, "k": k}))
    return requests


# ------------------------------------------------------------------------------ the server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess in its own session (so it and its workers stop together).

    Args:
        command: The command line.
        url: Its base URL (``http://127.0.0.1:PORT``).
        log_path: Where its stdout and stderr go.
        env: Its environment.
    """

    def __init__(self, command: Sequence[str], url: str, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.url = url
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.started = time.perf_counter()
        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env=env)
        self.ready_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float) -> float:
        """Poll ``GET /readyz`` until it answers 200; seconds since the start.

        Raises:
            RuntimeError: The server exited or was not ready within ``timeout``.
        """
        import httpx

        deadline = time.perf_counter() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}:\n"
                                       f"{self.log_tail()}")
                try:
                    if client.get(self.url + "/readyz").status_code == 200:
                        self.ready_seconds = round(time.perf_counter() - self.started, 2)
                        return self.ready_seconds
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM to the server's process group, SIGKILL after ``grace`` seconds; its exit
        status (negative: the signal that ended it)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


def serve_command(run_dir: Path, port: int, backend: str, state_url: str, workers: int,
                  extra: Sequence[str] = ()) -> list[str]:
    """The ``recsft serve`` command line of the benchmark."""
    return [sys.executable, "-m", "recsft.cli", "serve", "--run", str(run_dir),
            "--host", "127.0.0.1", "--port", str(port), "--backend", backend,
            "--state", state_url, "--seed-state", "--workers", str(workers), *extra]


# ------------------------------------------------------------------------------ sampling


class ProcessSampler:
    """CPU % and RSS of a process tree (and of this process), sampled in a thread.

    CPU % is of one core (200 % = both cores of a 2-core machine). Uses psutil when installed,
    else ``/proc``.

    Args:
        pid: The server's process id (its children are included).
        interval: Seconds between samples.
    """

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.perf_counter()

    # -- the two readers: cumulative CPU seconds and RSS bytes of a tree
    @staticmethod
    def _tree_psutil(pid: int) -> tuple[float, int]:
        import psutil

        root = psutil.Process(pid)
        cpu, rss = 0.0, 0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return cpu, rss

    @staticmethod
    def _tree_proc(pid: int) -> tuple[float, int]:
        ticks = os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGE_SIZE")
        cpu, rss, todo = 0.0, 0, [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / ticks
                rss += int(fields[21]) * page
                for task in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{task}/children") as handle:
                        todo.extend(int(c) for c in handle.read().split())
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
        return cpu, rss

    @staticmethod
    def reader() -> Callable[[int], tuple[float, int]]:
        try:
            import psutil  # noqa: F401
        except ImportError:
            return ProcessSampler._tree_proc
        return ProcessSampler._tree_psutil

    def _run(self) -> None:
        read = self.reader()
        last: tuple[float, float, float] | None = None
        while not self._stop.is_set():
            now = time.perf_counter()
            try:
                cpu, rss = read(self.pid)
                mine = time.process_time()
            except Exception:  # the process is gone
                break
            if last is not None:
                wall = now - last[0]
                self.samples.append({
                    "t_s": round(now - self._t0, 2),
                    "cpu_percent": round(100 * (cpu - last[1]) / wall, 1),
                    "rss_mib": round(rss / 2**20, 1),
                    "client_cpu_percent": round(100 * (mine - last[2]) / wall, 1)})
            last = (now, cpu, mine)
            self._stop.wait(self.interval)

    def start(self) -> ProcessSampler:
        self._t0 = time.perf_counter()
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, float]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return self.samples

    def rss_now(self) -> float:
        """The tree's RSS now, MiB."""
        return round(self.reader()(self.pid)[1] / 2**20, 1)


def resource_summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    """Mean/max CPU % and first/last/max RSS of samples, and the samples."""
    if not samples:
        return {"samples": []}
    cpu = [s["cpu_percent"] for s in samples]
    client = [s["client_cpu_percent"] for s in samples]
    rss = [s["rss_mib"] for s in samples]
    return {"server_cpu_percent": {"mean": round(sum(cpu) / len(cpu), 1), "max": max(cpu)},
            "client_cpu_percent": {"mean": round(sum(client) / len(client), 1),
                                   "max": max(client)},
            "server_rss_mib": {"first": rss[0], "last": rss[-1], "max": max(rss)},
            "samples": samples}


# ------------------------------------------------------------------------------ the load


@dataclass
class Outcome:
    """What happened to one request (times in seconds, relative to the phase start)."""

    kind: str
    scheduled: float
    sent: float | None = None
    done: float | None = None
    status: int | None = None
    error: str | None = None
    timing: dict[str, float] = field(default_factory=dict)
    batch: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def parse_server_timing(header: str | None) -> tuple[dict[str, float], dict[str, str]]:
    """A ``Server-Timing`` header (``parse;dur=0.1, encode;dur=2.3, batch;desc="8"``) as
    ``({name: milliseconds}, {name: description})``; a repeated duration adds up."""
    durations: dict[str, float] = {}
    descriptions: dict[str, str] = {}
    if not header:
        return durations, descriptions
    for metric in header.split(","):
        parts = [p.strip() for p in metric.split(";")]
        name = parts[0]
        if not name:
            continue
        for param in parts[1:]:
            key, _, value = param.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "dur":
                with contextlib.suppress(ValueError):
                    durations[name] = durations.get(name, 0.0) + float(value)
            elif key == "desc":
                descriptions[name] = value
    return durations, descriptions


class _HttpxClient:
    """POSTs with httpx (a declared dependency of ``recsft[serve]``)."""

    name = "httpx"

    def __init__(self, url: str, timeout: float, connections: int) -> None:
        import httpx

        self._httpx = httpx
        limits = httpx.Limits(max_connections=connections,
                              max_keepalive_connections=connections)
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, str | None]:
        """Status and ``Server-Timing`` header; raises ``TimeoutError`` on a timeout."""
        try:
            response = await self._client.post(path, json=body)
            await response.aread()
        except self._httpx.TimeoutException as error:
            raise TimeoutError from error
        return response.status_code, response.headers.get("server-timing")

    async def close(self) -> None:
        await self._client.aclose()


class _AiohttpClient:
    """POSTs with aiohttp (about a quarter of httpx's CPU per request here; used when
    installed, as the client shares the machine's cores with the server)."""

    name = "aiohttp"

    def __init__(self, url: str, timeout: float, connections: int) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            url, timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=connections))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, str | None]:
        """Status and ``Server-Timing`` header; raises ``TimeoutError`` on a timeout."""
        async with self._session.post(path, json=body) as response:
            await response.read()
            return response.status, response.headers.get("server-timing")

    async def close(self) -> None:
        await self._session.close()


def client_kind(requested: str) -> str:
    """``aiohttp`` or ``httpx`` for ``auto`` (aiohttp when installed), else ``requested``."""
    if requested != "auto":
        return requested
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


async def send(client: Any, request: Request, outcome: Outcome) -> None:
    """POST ``request`` and record its status, ``Server-Timing`` stages, micro-batch size and
    error (an HTTP status outside 2xx, a timeout or a transport error) in ``outcome``."""
    try:
        outcome.status, header = await client.post(request.path, request.body)
        outcome.timing, notes = parse_server_timing(header)
        if notes.get("batch", "").isdigit():
            outcome.batch = int(notes["batch"])
        if not 200 <= outcome.status < 300:
            outcome.error = f"http {outcome.status}"
    except (TimeoutError, asyncio.TimeoutError):
        outcome.error = "timeout"
    except Exception as error:  # a transport error of either client
        outcome.error = type(error).__name__


async def _drive(url: str, requests: Sequence[Request], rate: float, timeout: float,
                 connections: int, client_name: str = "httpx"
                 ) -> tuple[list[Outcome], float]:
    """Send ``requests`` at ``rate`` per second on a fixed schedule; the outcomes and the
    phase's wall seconds."""
    maker = _AiohttpClient if client_name == "aiohttp" else _HttpxClient
    client = maker(url, timeout, connections)
    outcomes = [Outcome(r.kind, i / rate) for i, r in enumerate(requests)]
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(i: int) -> None:
        outcomes[i].sent = loop.time() - start
        await send(client, requests[i], outcomes[i])
        outcomes[i].done = loop.time() - start

    try:
        tasks = []
        for i in range(len(requests)):
            delay = start + outcomes[i].scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(i)))
        # Bounded drain: whatever is still open a timeout after the last send is an error.
        _, pending = await asyncio.wait(tasks, timeout=timeout + 1.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
    finally:
        await client.close()
    for outcome in outcomes:
        if outcome.done is None:
            outcome.error = "unfinished"
    return outcomes, loop.time() - start


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean (nearest rank) of milliseconds, rounded to 0.01 ms."""
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))]

    return {**{f"p{p}": round(rank(p), 3) for p in PERCENTILES},
            "max": round(ordered[-1], 3), "mean": round(sum(ordered) / n, 3), "count": n}


def summarise(outcomes: Sequence[Outcome], rate: float, duration: float,
              wall: float) -> dict[str, Any]:
    """The latency, throughput, errors and latency split of one phase."""
    ok = [o for o in outcomes if o.ok]
    errors: dict[str, int] = {}
    for o in outcomes:
        if not o.ok:
            errors[o.error or "?"] = errors.get(o.error or "?", 0) + 1

    def latency(group: Sequence[Outcome]) -> dict[str, float]:
        return percentiles([1000 * (o.done - o.scheduled) for o in group])

    kinds = sorted({o.kind for o in outcomes})
    last_done = max((o.done for o in ok), default=0.0)
    split: dict[str, list[float]] = {}
    outside: list[float] = []
    unaccounted: list[float] = []
    for o in ok:
        for name, ms in o.timing.items():
            split.setdefault(name, []).append(ms)
        if o.timing:
            stages = sum(ms for name, ms in o.timing.items() if name != "total")
            inside = o.timing.get("total", stages)
            outside.append(1000 * (o.done - o.scheduled) - inside)
            if "total" in o.timing:
                unaccounted.append(o.timing["total"] - stages)
    batches = [o.batch for o in ok if o.batch is not None]
    lag = [1000 * (o.sent - o.scheduled) for o in outcomes if o.sent is not None]
    return {
        "offered_rps": rate, "duration_s": duration, "requests": len(outcomes),
        "ok": len(ok), "errors": sum(errors.values()), "errors_by_kind": errors,
        "throughput_rps": round(len(ok) / last_done, 1) if last_done else 0.0,
        "wall_s": round(wall, 2),
        "latency_ms": {"all": latency(ok), **{k: latency([o for o in ok if o.kind == k])
                                             for k in kinds}},
        "server_timing_ms": {name: percentiles(v) for name, v in split.items()},
        # Scheduled send to answer, less the server's own total (or the sum of its stages):
        # the client, the connection, uvicorn's HTTP parsing and the event loop's backlog.
        "outside_server_timing_ms": percentiles(outside),
        # The server's total less its named stages (time in the app it does not attribute).
        "server_unattributed_ms": percentiles(unaccounted),
        "micro_batch_size": ({"mean": round(sum(batches) / len(batches), 2),
                              "max": max(batches)} if batches else None),
        "send_lag_ms": percentiles(lag),
    }


def settle(server: Server, workload: Workload, limit: float) -> float:
    """Wait until the server answers one ``/recommend`` within a second (a backlog left by an
    overloaded phase drains first), at most ``limit`` seconds; the seconds waited."""
    import httpx

    started = time.perf_counter()
    body = {"history": workload.histories[0], "k": 1}
    with httpx.Client(base_url=server.url, timeout=1.0) as client:
        while time.perf_counter() - started < limit and server.alive():
            try:
                client.post("/recommend", json=body)
                break
            except httpx.TimeoutException:
                continue
            except httpx.TransportError:
                time.sleep(0.5)
    return round(time.perf_counter() - started, 2)


def run_phase(server: Server, workload: Workload, rate: float, duration: float,
              args: argparse.Namespace, seed: int, label: str) -> dict[str, Any]:
    """One fixed-rate phase against a running server, with resource sampling."""
    settled = settle(server, workload, args.timeout + 60.0)
    count = min(args.max_requests, max(1, round(rate * duration)))
    requests = plan_requests(workload, count, args.events_share, args.history_share, args.k,
                             seed)
    sampler = ProcessSampler(server.pid, args.sample_seconds).start()
    outcomes, wall = asyncio.run(_drive(server.url, requests, rate, args.timeout,
                                        args.connections, args.client))
    samples = sampler.stop()
    result = summarise(outcomes, rate, count / rate, wall)
    result["resources"] = resource_summary(samples)
    result["server_alive"] = server.alive()
    result["settle_s"] = settled
    result["load_average_after"] = load_average()
    lat = result["latency_ms"].get("all", {})
    print(f"  {label:>10} {rate:7.1f} req/s x {count / rate:5.1f} s: "
          f"{result['throughput_rps']:7.1f} ok/s, errors {result['errors']}, "
          f"p50 {lat.get('p50', float('nan')):7.2f} p95 {lat.get('p95', float('nan')):7.2f} "
          f"p99 {lat.get('p99', float('nan')):7.2f} max {lat.get('max', float('nan')):8.2f} ms,"
          f" server cpu {result['resources'].get('server_cpu_percent', {}).get('mean')} %",
          flush=True)
    return result


def served_in_full(phase: dict[str, Any]) -> bool:
    """No error, and at least 95 % of the offered rate answered."""
    return phase["errors"] == 0 and phase["throughput_rps"] >= 0.95 * phase["offered_rps"]


def within_slo(phase: dict[str, Any], p99_ms: float) -> bool:
    """Served in full with the p99 of all its requests within ``p99_ms``."""
    p99 = phase["latency_ms"].get("all", {}).get("p99", math.inf)
    return served_in_full(phase) and p99 <= p99_ms


def saturation(server: Server, workload: Workload, args: argparse.Namespace,
               fixed: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Where the server stops keeping up, after the fixed-rate phases ``fixed``.

    Rates grow by ``--saturation-factor`` from the highest fixed rate until a phase has an
    error, answers less than 95 % of its rate, or its p99 passes ``--saturation-ceiling-ms``
    (at most ``--saturation-steps`` phases, ``--saturation-max-rate``). When no fixed rate
    met the p99 limit ``--p99-ms``, rates below the lowest are tried first (at most 3).

    Returns:
        The highest rate within the p99 limit, the saturation throughput (the most answers
        per second of any phase: an overloaded phase answers at the server's capacity), the
        highest rate served in full, why the search stopped, and the phases.
    """
    steps: list[dict[str, Any]] = []
    budget = args.saturation_steps
    if fixed and not any(within_slo(p, args.p99_ms) for p in fixed):
        rate = min(p["offered_rps"] for p in fixed)
        for _ in range(min(3, budget)):
            rate = round(rate / args.saturation_factor ** 2, 1)
            phase = run_phase(server, workload, rate, args.saturation_duration, args,
                              seed=10_000 + len(steps), label="below")
            steps.append(phase)
            if within_slo(phase, args.p99_ms) or not server.alive():
                break
    rate = round(max((p["offered_rps"] for p in fixed), default=args.rates[0])
                 * args.saturation_factor, 1)
    stopped = f"{budget} steps"
    for _ in range(budget):
        if rate > args.saturation_max_rate:
            stopped = "max rate"
            break
        if not server.alive():
            break
        phase = run_phase(server, workload, rate, args.saturation_duration, args,
                          seed=10_000 + len(steps), label="saturation")
        steps.append(phase)
        p99 = phase["latency_ms"].get("all", {}).get("p99", math.inf)
        if not served_in_full(phase):
            stopped = (f"errors at {rate:g} req/s" if phase["errors"] else
                       f"{phase['throughput_rps']:g} answers/s at {rate:g} req/s")
            break
        if p99 > args.saturation_ceiling_ms:
            stopped = f"p99 {p99:g} ms at {rate:g} req/s"
            break
        rate = round(rate * args.saturation_factor, 1)
    if not server.alive():
        stopped = "the server exited"
    phases = [*fixed, *steps]
    return {
        "p99_limit_ms": args.p99_ms,
        "max_rate_within_limit_rps": max((p["offered_rps"] for p in phases
                                          if within_slo(p, args.p99_ms)), default=None),
        "max_rate_served_in_full_rps": max((p["offered_rps"] for p in phases
                                            if served_in_full(p)), default=None),
        "saturation_throughput_rps": max((p["throughput_rps"] for p in phases), default=None),
        "stopped": stopped,
        "steps": [compact(s) for s in steps],
    }


def compact(phase: dict[str, Any]) -> dict[str, Any]:
    """A phase without its resource samples (kept in the fixed-rate phases only)."""
    out = dict(phase)
    out["resources"] = {k: v for k, v in phase["resources"].items() if k != "samples"}
    return out


# ------------------------------------------------------------------------------ backends


def ensure_onnx(run_dir: Path) -> dict[str, Any]:
    """Export the run's encoder with ``recsft export onnx`` when the run has none."""
    if (run_dir / "encoder.onnx").is_file():
        return {"exported": False, "path": str(run_dir / "encoder.onnx")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsft.cli", "export", "onnx", "--run",
                    str(run_dir)], cwd=ROOT, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return {"exported": True, "path": str(run_dir / "encoder.onnx"),
            "export_seconds": round(time.perf_counter() - started, 1)}


def start_server(run_dir: Path, backend: str, scratch: Path, args: argparse.Namespace
                 ) -> Server:
    """Start ``recsft serve`` on a free port with a fresh state file and wait until ready."""
    port = free_port()
    state = scratch / f"state-{backend}-{port}.db"
    command = serve_command(run_dir, port, backend, f"sqlite:///{state}", args.workers,
                            args.serve_arg)
    print(f"starting: {' '.join(command)}", flush=True)
    server = Server(command, f"http://127.0.0.1:{port}", scratch / f"server-{backend}.log",
                    env={**os.environ, "TQDM_DISABLE": "1"})
    try:
        server.wait_ready(args.ready_timeout)
    except BaseException:
        server.stop()
        raise
    print(f"  ready after {server.ready_seconds} s (pid {server.pid})", flush=True)
    return server


def bench_backend(run_dir: Path, backend: str, workload: Workload, scratch: Path,
                  args: argparse.Namespace) -> dict[str, Any]:
    """Fixed rates (and saturation) against one backend."""
    extra = ensure_onnx(run_dir) if backend == "onnx" else {}
    server = start_server(run_dir, backend, scratch, args)
    try:
        sampler = ProcessSampler(server.pid)
        out: dict[str, Any] = {"server_pid": server.pid, "server_url": server.url,
                               "ready_seconds": server.ready_seconds,
                               "rss_ready_mib": sampler.rss_now(), **extra}
        if args.warmup > 0:
            run_phase(server, workload, min(args.rates), args.warmup, args, seed=999,
                      label="warm-up")
        out["rates"] = [run_phase(server, workload, rate, args.duration, args, seed=i,
                                  label=backend)
                        for i, rate in enumerate(args.rates)]
        if not args.no_saturation and server.alive():
            out["saturation"] = saturation(server, workload, args, out["rates"])
        out["rss_end_mib"] = sampler.rss_now() if server.alive() else None
        out["server_alive_at_end"] = server.alive()
    finally:
        out_code = server.stop()
    out["server_exit_code"] = out_code
    out["server_log_tail"] = server.log_tail(5) if out_code not in (0, -signal.SIGTERM) else ""
    return out


def soak(run_dir: Path, backend: str, workload: Workload, scratch: Path,
         args: argparse.Namespace) -> dict[str, Any]:
    """``--soak-minutes`` at ``--soak-rate`` in one-minute phases; RSS growth from the end
    of a ``--soak-warmup`` phase to the end."""
    if backend == "onnx":
        ensure_onnx(run_dir)
    server = start_server(run_dir, backend, scratch, args)
    try:
        sampler = ProcessSampler(server.pid)
        rss_ready = sampler.rss_now()
        if args.soak_warmup > 0:
            run_phase(server, workload, args.soak_rate, args.soak_warmup, args, seed=999,
                      label="warm-up")
        rss_start = sampler.rss_now()
        minutes = []
        total = args.soak_minutes * 60.0
        slice_s = min(60.0, total)
        done = 0.0
        index = 0
        while done < total - 1e-6 and server.alive():
            length = min(slice_s, total - done)
            minutes.append(run_phase(server, workload, args.soak_rate, length, args,
                                     seed=20_000 + index, label=f"soak {index + 1}"))
            done += length
            index += 1
        rss_end = sampler.rss_now() if server.alive() else None
        alive = server.alive()
    finally:
        code = server.stop()
    samples = [s for m in minutes for s in m["resources"]["samples"]]
    rss = [s["rss_mib"] for s in samples]
    all_errors = sum(m["errors"] for m in minutes)
    # Least-squares slope of RSS over time (MiB per minute) across every sample.
    slope = None
    if len(samples) > 2:
        offset = 0.0
        ts = []
        for m in minutes:
            for s in m["resources"]["samples"]:
                ts.append(offset + s["t_s"])
            offset += m["duration_s"]
        mean_t, mean_r = sum(ts) / len(ts), sum(rss) / len(rss)
        var = sum((t - mean_t) ** 2 for t in ts)
        slope = round(60 * sum((t - mean_t) * (r - mean_r) for t, r in zip(ts, rss)) / var, 3)
    return {
        "backend": backend, "server_pid": server.pid, "server_url": server.url,
        "rate_rps": args.soak_rate, "minutes": args.soak_minutes,
        "warmup_s": args.soak_warmup, "ready_seconds": server.ready_seconds,
        "rss_ready_mib": rss_ready, "rss_start_mib": rss_start, "rss_end_mib": rss_end,
        "rss_max_mib": max(rss) if rss else None,
        "rss_growth_percent": (round(100 * (rss_end - rss_start) / rss_start, 2)
                               if rss_end else None),
        "rss_slope_mib_per_min": slope,
        "requests": sum(m["requests"] for m in minutes), "errors": all_errors,
        "server_alive_at_end": alive, "server_exit_code": code,
        "per_minute": [compact(m) for m in minutes],
        "rss_samples": [{"minute": i + 1, "rss_mib": m["resources"]["server_rss_mib"]}
                        for i, m in enumerate(minutes) if "server_rss_mib" in m["resources"]],
    }


# ------------------------------------------------------------------------------ record


def versions() -> dict[str, str]:
    """The serving libraries' versions (beside recsft's :func:`environment`)."""
    from importlib import metadata

    out = {}
    for name in ("recsft", "fastapi", "uvicorn", "starlette", "httpx", "onnxruntime", "onnx",
                 "psutil", "faiss-cpu", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def run_description(run_dir: Path) -> dict[str, Any]:
    """The run's catalogue, model shape, index and test quality (for the record)."""
    from recsft.runs import Run

    run = Run.open(run_dir)
    metrics = run.metrics
    model = run.model_config
    index = json.loads((run_dir / "item_index.json").read_text()) \
        if (run_dir / "item_index.json").is_file() else {}
    return {
        "path": str(run_dir),
        "catalogue_items": metrics.get("protocol", {}).get("num_items"),
        "dataset": metrics.get("dataset", {}),
        "model": {k: model.get(k) for k in ("model_type", "hidden_size", "num_hidden_layers",
                                            "num_attention_heads", "max_position_embeddings")},
        "max_length": run.config.data.max_length,
        "index": {"kind": index.get("kind"), "n_items": index.get("n_items"),
                  "metric": index.get("metric")},
        "test": {k: v for k, v in metrics.get("test", {}).items() if k in
                 ("ndcg@10", "recall@10")},
        "epochs": run.config.training.epochs,
        "build": build_record(run_dir),
    }


def git_state() -> dict[str, Any]:
    """The checkout's commit and whether recsft's files differ from it."""
    def git(*command: str) -> str:
        try:
            return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "recsft_modified": bool(git("status", "--porcelain", "--", "recsft"))}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def acceptance(backends: dict[str, Any], p99_ms: float, rate: float = 200.0
               ) -> dict[str, Any]:
    """Issue 24's target: p99 of /recommend by user id at ``rate`` req/s within ``p99_ms``
    with zero errors (per backend measured at that rate)."""
    out = {}
    for name, result in backends.items():
        phase = next((p for p in result.get("rates", []) if p["offered_rps"] == rate), None)
        if phase is None:
            continue
        p99 = phase["latency_ms"].get("recommend_user", {}).get("p99")
        out[name] = {"rate_rps": rate, "recommend_user_p99_ms": p99,
                     "all_requests_p99_ms": phase["latency_ms"].get("all", {}).get("p99"),
                     "errors": phase["errors"],
                     "met": p99 is not None and p99 <= p99_ms and phase["errors"] == 0}
    return out


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--run", help="an existing run folder to serve")
    source.add_argument("--build-run", action="store_true",
                        help="build (or reuse) the benchmark run under --cache")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or reuse) the run and stop")
    parser.add_argument("--rebuild", action="store_true", help="train the run again")
    parser.add_argument("--cache", default=str(CACHE), help="folder of the built run")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 100.0, 200.0],
                        help="requests per second of the fixed-rate phases")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="unmeasured seconds at the lowest rate first")
    parser.add_argument("--backends", nargs="+", default=["eager", "onnx"],
                        choices=["eager", "onnx"])
    parser.add_argument("--events-share", type=float, default=0.10)
    parser.add_argument("--history-share", type=float, default=0.25,
                        help="share of /recommend requests by explicit history (else user_id)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--client", default="auto", choices=["auto", "aiohttp", "httpx"],
                        help="HTTP client of the load (auto: aiohttp when installed)")
    parser.add_argument("--connections", type=int, default=256,
                        help="most keep-alive connections of the client")
    parser.add_argument("--max-requests", type=int, default=200_000,
                        help="cap on the requests of one phase")
    parser.add_argument("--sample-seconds", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="an extra argument of recsft serve (repeatable)")
    parser.add_argument("--variant", action="append", default=[],
                        metavar="LABEL=BACKEND[:ARGS]",
                        help="also measure a server with other settings, in the same run "
                        "after --backends, e.g. \"asyncio-h11-wait2=eager:--loop asyncio "
                        "--http h11 --max-wait-ms 2\" (repeatable)")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--p99-ms", type=float, default=15.0, help="latency limit (p99)")
    parser.add_argument("--no-saturation", action="store_true")
    parser.add_argument("--saturation-factor", type=float, default=1.5)
    parser.add_argument("--saturation-steps", type=int, default=8)
    parser.add_argument("--saturation-duration", type=float, default=15.0)
    parser.add_argument("--saturation-max-rate", type=float, default=5000.0)
    parser.add_argument("--saturation-ceiling-ms", type=float, default=1000.0,
                        help="p99 that ends the saturation search")
    parser.add_argument("--soak-minutes", type=float, nargs="?", const=10.0, default=None,
                        help="run only a soak of this many minutes (10 without a value)")
    parser.add_argument("--soak-rate", type=float, default=100.0)
    parser.add_argument("--soak-warmup", type=float, default=30.0)
    parser.add_argument("--soak-backend", default="eager", choices=["eager", "onnx"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="result file (default benchmarks/results/"
                                         "serving.json or serving_soak.json)")
    args = parser.parse_args(argv)
    bounded = {"--duration": args.duration, "--timeout": args.timeout,
               "--saturation-duration": args.saturation_duration,
               "--sample-seconds": args.sample_seconds}
    for name, value in bounded.items():
        if not 0 < value <= 3600:
            parser.error(f"{name} must be in (0, 3600] seconds, got {value}")
    if any(not 0 < r <= 100_000 for r in args.rates):
        parser.error("--rates must be in (0, 100000] requests per second")
    if not 0 <= args.events_share <= 1 or not 0 <= args.history_share <= 1:
        parser.error("--events-share and --history-share must be in [0, 1]")
    if args.soak_minutes is not None and not 0 < args.soak_minutes <= 240:
        parser.error("--soak-minutes must be in (0, 240]")
    if args.saturation_factor <= 1:
        parser.error("--saturation-factor must be above 1")
    args.client = client_kind(args.client)
    args.variants = [parse_variant(text, parser) for text in args.variant]
    return args


def parse_variant(text: str, parser: argparse.ArgumentParser) -> tuple[str, str, list[str]]:
    """``LABEL=BACKEND[:ARGS]`` → ``(label, backend, extra recsft serve arguments)``."""
    import shlex

    label, _, rest = text.partition("=")
    backend, _, extra = rest.partition(":")
    if not label or backend not in ("eager", "onnx"):
        parser.error(f"--variant {text!r}: expected LABEL=eager|onnx[:ARGS]")
    return label, backend, shlex.split(extra)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A background job starts with SIGINT ignored: both signals end the benchmark through
    # its finally clauses, which stop the server.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupted)
    if args.run:
        run_dir = Path(args.run).resolve()
    else:
        name = f"sasrec-h64-{args.items}items-{args.users}users"
        cache = Path(args.cache).resolve()
        if args.build_run or args.build_only:
            run_dir = build_run(args.items, args.users, args.epochs, cache, args.rebuild)
        elif (cache / name / "recsft_manifest.json").is_file():
            run_dir = cache / name
        else:
            print(f"no run: pass --run R, or --build-run to build {cache / name}",
                  file=sys.stderr)
            return 2
    if args.build_only:
        return 0

    from recsft.environment import environment
    from recsft.fileio import atomic_write_text, make_folder

    workload = load_workload(run_dir)
    print(f"workload: {len(workload.user_ids)} test users of {run_dir}", flush=True)
    config = {k: v for k, v in vars(args).items() if k not in ("output",)}
    record: dict[str, Any] = {
        "benchmark": "recsft serve under a bounded open-loop load (server and load on this "
                     "machine)",
        "config": {**config, "load": f"asyncio + {args.client}, one process, open loop "
                                     "(latency from the scheduled send time)",
                   "server_command": serve_command(run_dir, 0, "<backend>", "sqlite:///<tmp>",
                                                   args.workers, args.serve_arg),
                   "env_threads": {k: os.environ.get(k) for k in
                                   ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}},
        "run": run_description(run_dir),
        "environment": {**environment(), "machine": platform.machine(), **versions(),
                        "git": git_state()},
        "load_average_before": load_average(),
    }
    scratch = Path(tempfile.mkdtemp(prefix="recsft-bench-serving-"))
    try:
        if args.soak_minutes is not None:
            record["soak"] = soak(run_dir, args.soak_backend, workload, scratch, args)
            default = ROOT / "benchmarks" / "results" / "serving_soak.json"
        else:
            record["backends"] = {}
            for backend in args.backends:
                record["backends"][backend] = bench_backend(run_dir, backend, workload,
                                                            scratch, args)
            for label, backend, extra in args.variants:
                settings = argparse.Namespace(**{**vars(args),
                                                 "serve_arg": [*args.serve_arg, *extra]})
                record["backends"][label] = {
                    "backend": backend, "serve_args": settings.serve_arg,
                    **bench_backend(run_dir, backend, workload, scratch, settings)}
            record["acceptance"] = acceptance(record["backends"], args.p99_ms)
            default = ROOT / "benchmarks" / "results" / "serving.json"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record["load_average_after"] = load_average()
    out = Path(args.output) if args.output else default
    make_folder(out.parent)
    atomic_write_text(out, json.dumps(record, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as stop:
        print(f"benchmark_serving: interrupted ({stop or 'Ctrl-C'}); the server was stopped",
              file=sys.stderr)
        sys.exit(130)
