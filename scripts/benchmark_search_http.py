"""Latency of personalised search through ``POST /search`` of ``recsft serve`` (issue 25).

Builds (or reuses, under the gitignored ``benchmarks/.search-run``) a synthetic shop with
searches (``recsft.data.synthetic.generate_events`` with ``search_rate``) written to a parquet
file with its ``query`` column, a short behaviour SASRec trained with ``recsft.train`` on its
non-search events before each user's valid search (the data of
``scripts/benchmark_search.py``), and the run's search index (``recsft search build --run R
--events E --item-table T --item-text '{title}'``). Then starts ``recsft serve --run R
--seed-state`` on 127.0.0.1 (a free port, a fresh SQLite state file), waits for ``/readyz``,
and sends ``POST /search`` requests whose queries and histories (or user ids, for
``--user-share`` of them) are sampled (seeded) from the TEST searches of the same log:

1. ``--sequential`` requests one at a time (latency p50/p95/p99/max);
2. an open-loop phase at ``--rate`` req/s for ``--duration`` s (bounded; latency from each
   request's scheduled send time, as in ``scripts/benchmark_serving.py`` whose server,
   client, schedule and summary code this script imports);
3. the same queries through ``Recommender.search`` in Python, one at a time, for the ratio.

The server is stopped at the end, also on an error or Ctrl-C. Writes
``benchmarks/results/search_http.json`` (machine, versions, config, load average before and
after, the figures).

Usage:
    python scripts/benchmark_search_http.py
    python scripts/benchmark_search_http.py --users 3000 --epochs 3 --sequential 300 \
        --rate 20 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import benchmark_serving as serving  # noqa: E402

#: The folder this script owns: the shop, its run and its index (gitignored).
CACHE = ROOT / "benchmarks" / ".search-run"


# ------------------------------------------------------------------------------ the run


def build(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """The shop's files, the behaviour run and its search index under ``cache`` (reused when
    a previous build of the same settings finished); a description of what was built."""
    import subprocess

    from recsft.fileio import atomic_write_text

    settings = {"users": args.users, "items": args.items, "search_rate": args.search_rate,
                "epochs": args.epochs, "seed": args.seed, "encoder": args.encoder}
    done = cache / "build.json"
    if done.is_file() and not args.rebuild:
        record = json.loads(done.read_text())
        if record.get("settings") == settings and Path(record["run_dir"]).is_dir():
            print(f"reusing {record['run_dir']}", flush=True)
            return record

    from benchmark_search import synthetic_data

    import recsft

    started = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)
    data_args = argparse.Namespace(users=args.users, items=args.items,
                                   search_rate=args.search_rate, seed=args.seed,
                                   max_events=None)
    from recsft.data.synthetic import SyntheticConfig, generate_events

    shop = generate_events(SyntheticConfig(num_users=args.users, num_items=args.items,
                                           search_rate=args.search_rate, seed=args.seed))
    events_path = cache / "events.parquet"
    items_path = cache / "items.parquet"
    _write_parquet(shop.events.reset_index(drop=True), events_path)
    _write_parquet(shop.items[["item_id", "title"]].astype(str), items_path)
    data = synthetic_data(data_args)
    overrides = ["name=search-http-behaviour", f"output_dir={cache / 'runs'}",
                 "model.model_type=sasrec", f"training.epochs={args.epochs}",
                 f"training.eval_every={args.epochs}", f"training.seed={args.seed}"]
    if args.encoder:
        overrides.append(f"data.text_encoder={Path(args.encoder).resolve()}")
    trained = recsft.train(str(ROOT / "configs" / "demo.yaml"), data=data["behaviour_frame"],
                           overrides=overrides, overwrite=True)
    run_dir = Path(trained.run_dir)
    command = [sys.executable, "-m", "recsft.cli", "search", "build", "--run", str(run_dir),
               "--events", str(events_path), "--item-table", str(items_path),
               "--item-text", "{title}", "--quiet"]
    print("running: " + " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    record = {"settings": settings, "run_dir": str(run_dir), "events": str(events_path),
              "item_table": str(items_path), "build_seconds":
              round(time.perf_counter() - started, 1), "data": data["data_config"],
              "behaviour_events": data["leakage"]["behaviour_events"],
              "log_events": data["leakage"]["log_events"]}
    atomic_write_text(done, json.dumps(record, indent=2) + "\n")
    return record


def _write_parquet(frame: Any, path: Path) -> None:
    """``frame`` to ``path`` through a temporary file (never a half-written parquet)."""
    temporary = path.with_name(path.name + ".tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


# ------------------------------------------------------------------------------ requests


def plan(events_path: Path, run_dir: Path, count: int, user_share: float, k: int,
         seed: int) -> list[serving.Request]:
    """``count`` ``POST /search`` requests sampled (seeded, with replacement) from the log's
    TEST searches: the query with the search's history, or, for ``user_share`` of them and
    users the server seeded, the query with the user id."""
    from recsft.data.readers import read_events
    from recsft.search.events import search_events

    searches = search_events(read_events(events_path))
    seeded = _seeded_users(run_dir)
    rows = [i for i, s in enumerate(searches.splits) if s == "test" and searches.histories[i]]
    if not rows:
        raise RuntimeError(f"{events_path}: no test search with a history")
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        i = rng.choice(rows)
        body: dict[str, Any] = {"query": searches.queries[i], "k": k}
        user = searches.user_ids[i]
        if user in seeded and rng.random() < user_share:
            out.append(serving.Request("search_user", "/search", {**body, "user_id": user}))
        else:
            out.append(serving.Request("search_history", "/search",
                                       {**body, "history": searches.histories[i]}))
    return out


def _seeded_users(run_dir: Path) -> set[str]:
    """The users of the run's own events (what ``--seed-state`` stores)."""
    import pandas as pd

    path = run_dir / "data" / "events.parquet"
    if not path.is_file():
        return set()
    return set(pd.read_parquet(path, columns=["user_id"])["user_id"].astype(str))


async def _sequential(url: str, requests: Sequence[serving.Request], timeout: float,
                      client_name: str) -> list[serving.Outcome]:
    """Send ``requests`` one at a time; each outcome's latency from its own send."""
    maker = serving._AiohttpClient if client_name == "aiohttp" else serving._HttpxClient
    client = maker(url, timeout, 1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcomes = []
    try:
        for request in requests:
            outcome = serving.Outcome(request.kind, loop.time() - start)
            outcome.sent = outcome.scheduled
            await serving.send(client, request, outcome)
            outcome.done = loop.time() - start
            outcomes.append(outcome)
    finally:
        await client.close()
    return outcomes


def python_latency(run_dir: Path, requests: Sequence[serving.Request]) -> dict[str, Any]:
    """The same queries through ``Recommender.search`` in this process, one at a time (the
    user-id requests with the history they stand for is not known here: only the history
    requests are timed)."""
    from recsft.retrieval.recommender import Recommender

    recommender = Recommender.from_pretrained(run_dir)
    bodies = [r.body for r in requests if "history" in r.body]
    recommender.search(bodies[0]["query"], bodies[0]["history"], k=bodies[0]["k"])  # load
    durations = []
    for body in bodies:
        started = time.perf_counter()
        recommender.search(body["query"], body["history"], k=body["k"])
        durations.append(1000 * (time.perf_counter() - started))
    return {"what": "Recommender.search(query, history, k) from Python, one at a time, the "
                    "history requests of the sequential phase, after one warm-up call",
            **serving.percentiles(durations)}


# ------------------------------------------------------------------------------ main


def measure(args: argparse.Namespace, built: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Serve the run, run both phases against it, stop it; the figures."""
    run_dir = Path(built["run_dir"])
    client = serving.client_kind(args.client)
    sequential = plan(Path(built["events"]), run_dir, args.sequential, args.user_share,
                      args.k, args.seed)
    count = min(args.max_requests, max(1, round(args.rate * args.duration)))
    open_loop = plan(Path(built["events"]), run_dir, count, args.user_share, args.k,
                     args.seed + 1)
    port = serving.free_port()
    command = serving.serve_command(run_dir, port, "eager", f"sqlite:///{scratch}/state.db",
                                    1, args.serve_arg)
    print("starting: " + " ".join(command), flush=True)
    server = serving.Server(command, f"http://127.0.0.1:{port}", scratch / "server.log",
                            env={**os.environ, "TQDM_DISABLE": "1"})
    figures: dict[str, Any] = {"client": client, "server_command": command[1:],
                               "server_pid": server.pid}
    try:
        figures["ready_seconds"] = server.wait_ready(args.ready_timeout)
        # Warm-up (the search index loads on the first /search), not counted.
        asyncio.run(_sequential(server.url, sequential[:args.warmup], args.timeout, client))
        outcomes = asyncio.run(_sequential(server.url, sequential, args.timeout, client))
        wall = outcomes[-1].done if outcomes else 0.0
        figures["sequential"] = serving.summarise(outcomes, 0.0, wall, wall)
        figures["sequential"].pop("offered_rps")
        lat = figures["sequential"]["latency_ms"]["all"]
        print(f"  sequential x{len(outcomes)}: errors {figures['sequential']['errors']}, "
              f"p50 {lat.get('p50')} p95 {lat.get('p95')} p99 {lat.get('p99')} "
              f"max {lat.get('max')} ms", flush=True)
        sampler = serving.ProcessSampler(server.pid, 0.5).start()
        outcomes, wall = asyncio.run(serving._drive(server.url, open_loop, args.rate,
                                                    args.timeout, args.connections, client))
        figures["open_loop"] = serving.summarise(outcomes, args.rate, count / args.rate, wall)
        figures["open_loop"]["resources"] = serving.resource_summary(sampler.stop())
        lat = figures["open_loop"]["latency_ms"]["all"]
        print(f"  open loop {args.rate} req/s x {count / args.rate:.0f} s: "
              f"{figures['open_loop']['throughput_rps']} ok/s, errors "
              f"{figures['open_loop']['errors']}, p50 {lat.get('p50')} p95 {lat.get('p95')} "
              f"p99 {lat.get('p99')} max {lat.get('max')} ms", flush=True)
        figures["server_alive_at_end"] = server.alive()
    finally:
        figures["server_exit_status"] = server.stop()
        figures["server_stopped"] = not server.alive()
    figures["python"] = python_latency(run_dir, sequential)
    http = figures["sequential"]["latency_ms"].get("search_history", {})
    if http.get("p50") and figures["python"].get("p50"):
        figures["http_over_python"] = {
            "what": "sequential /search history requests over Recommender.search, same queries",
            **{p: round(http[p] / figures["python"][p], 2) for p in ("p50", "p99")}}
    print(f"  python Recommender.search: p50 {figures['python'].get('p50')} p99 "
          f"{figures['python'].get('p99')} ms", flush=True)
    return figures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--search-rate", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=3, help="behaviour SASRec epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", default=None,
                        help="text-encoder checkpoint folder (default: recsft's MiniLM)")
    parser.add_argument("--cache", default=None, help=f"build folder (default {CACHE})")
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("--sequential", type=int, default=300, help="sequential requests")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="open-loop req/s")
    parser.add_argument("--duration", type=float, default=20.0, help="open-loop seconds")
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--user-share", type=float, default=0.5,
                        help="share of requests by user_id (else by explicit history)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request seconds")
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--client", choices=("auto", "aiohttp", "httpx"), default="auto")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="extra argument for recsft serve (repeatable)")
    parser.add_argument("--output", default=None,
                        help="default benchmarks/results/search_http.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text

    args = parse_args(argv)
    output = Path(args.output or ROOT / "benchmarks" / "results" / "search_http.json")
    load_before = serving.load_average()
    started = time.perf_counter()
    built = build(args, Path(args.cache) if args.cache else CACHE)
    with tempfile.TemporaryDirectory(prefix="recsft-search-http-") as folder:
        figures = measure(args, built, Path(folder))
    record = {
        "what": "latency of POST /search (recsft serve, one worker, eager backend) on this "
                "CPU, sequential and open-loop, beside Recommender.search from Python",
        "environment": environment(), "versions": serving.versions(),
        "git": serving.git_state(),
        "config": {k: v for k, v in vars(args).items() if k not in ("output",)},
        "build": built,
        "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average_before": load_before, "load_average_after": serving.load_average(),
        "seconds": round(time.perf_counter() - started, 1),
        **figures,
    }
    atomic_write_text(output, json.dumps(record, indent=2, default=str) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
