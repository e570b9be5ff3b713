"""``recsft serve`` as a process: kill -9 during event ingestion loses no acknowledged event
(5 of 5 trials, SQLite state), it binds 127.0.0.1 by default, SIGHUP reloads (a broken folder
refused, items added with ``recsft index add`` served), several workers share the state."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import threading
import time

import httpx
import psutil
import pytest

from tests.serve.served import (
    ProcessServer,
    add_items,
    copy_run,
    free_port,
    group,
    process_server,
    trained_text_run,
)

pytestmark = pytest.mark.slow

TRIALS, CLIENTS = 5, 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_text_run(tmp_path_factory.mktemp("serve_process"))


def _ingest_until_killed(server: ProcessServer, trial: int, items: list[str],
                         rng: random.Random) -> dict[str, list[float]]:
    """Clients append events (timestamps = a counter, to recognise them) until the server is
    killed with SIGKILL while they are at it; returns each user's acknowledged timestamps."""
    acked: dict[str, list[float]] = {f"t{trial}-{c}": [] for c in range(CLIENTS)}

    def client(user: str) -> None:
        counter = 0
        with httpx.Client(base_url=server.url, timeout=10) as session:
            while True:
                events = [{"item_id": items[(counter + n) % len(items)],
                           "event_type": "view", "timestamp": float(counter + n)}
                          for n in range(1 + counter % 3)]
                try:
                    answer = session.post("/events", json={"user_id": user, "events": events})
                except httpx.HTTPError:
                    return  # the server is gone
                assert answer.status_code == 200, answer.text
                acked[user].extend(e["timestamp"] for e in events)
                counter += len(events)

    threads = [threading.Thread(target=client, args=(user,)) for user in acked]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acked.values())) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.05, 0.4))
    server.kill()  # SIGKILL in the middle of the ingestion
    for thread in threads:
        thread.join()
    return acked


def _check_kept(server: ProcessServer, acked: dict[str, list[float]]) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as session:
        for user, times in acked.items():
            answer = session.get(f"/users/{user}")
            if not times:  # nothing acknowledged (a slow client): unknown, or unacked writes
                assert answer.status_code in (200, 404), answer.text
                if answer.status_code == 404:
                    continue
            assert answer.status_code == 200, answer.text
            stored = [e["timestamp"] for e in answer.json()["events"]]
            assert stored[:len(times)] == times, f"{user}: acknowledged events lost"
            assert stored == sorted(stored)


def test_kill_9_during_ingestion_keeps_every_acknowledged_event(trained, tmp_path) -> None:
    run = copy_run(trained["run"], tmp_path / "run")
    args = ["--run", str(run), "--state", f"sqlite:///{tmp_path}/state.db",
            "--state-length", "1000000"]
    items = group(trained)
    rng = random.Random(7)
    log = tmp_path / "server.log"
    server = ProcessServer(args, free_port(), log).start()
    kept = 0
    try:
        for trial in range(TRIALS):
            acked = _ingest_until_killed(server, trial, items, rng)
            assert server.process.returncode == -signal.SIGKILL
            assert sum(map(len, acked.values())) >= 40
            server = ProcessServer(args, free_port(), log).start()  # the restart
            _check_kept(server, acked)
            kept += 1
    finally:
        server.stop()
    assert kept == TRIALS


def test_binds_127_0_0_1_by_default_and_sighup_reloads_the_run(trained, tmp_path) -> None:
    run = copy_run(trained["run"], tmp_path / "run")
    args = ["--run", str(run), "--state", f"sqlite:///{tmp_path}/state.db"]
    with process_server(args, tmp_path / "server.log") as server:
        pid = server.process.pid
        listening = [c.laddr for c in psutil.Process(pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", server.port)]
        outside = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET and not a.address.startswith("127.")]
        for address in outside:  # not reachable from another interface
            with pytest.raises(OSError), socket.create_connection((address, server.port), 2):
                pass
        client = httpx.Client(base_url=server.url, timeout=30)
        before = client.get("/readyz").json()["model"]

        def reloads(outcome: str) -> float:
            for line in client.get("/metrics").text.splitlines():
                if line.startswith(f'recsft_reloads_total{{outcome="{outcome}"}}'):
                    return float(line.split()[-1])
            return 0.0

        popularity = run / "item_popularity.json"
        original = popularity.read_bytes()
        popularity.write_bytes(original.replace(b"}", b", \"x\": 1}"))  # a broken folder
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while reloads("refused") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reloads("refused") == 1 and client.get("/readyz").json()["model"] == before
        assert client.post("/recommend", json={"history": group(trained)[:3]}).status_code == 200
        popularity.write_bytes(original)
        assert add_items(run, trained, ["hup-new"]) == ["hup-new"]
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["model"] == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").json()["model"] != before
        answer = client.post("/recommend", json={"history": [*group(trained)[:3], "hup-new"]})
        assert answer.status_code == 200
        client.close()


def _workers(main: psutil.Process) -> set[int]:
    """The worker processes of uvicorn's supervisor (not multiprocessing's resource
    tracker)."""
    found = set()
    for child in main.children():
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.add(child.pid)
    return found


def test_several_workers_share_the_state_and_sighup_replaces_them(trained, tmp_path) -> None:
    run = copy_run(trained["run"], tmp_path / "run")
    args = ["--run", str(run), "--state", f"sqlite:///{tmp_path}/state.db", "--workers", "2"]
    env = {"RECSFT_ADMIN_TOKEN": "tok"}
    with process_server(args, tmp_path / "server.log", env) as server:
        main = psutil.Process(server.process.pid)
        deadline = time.monotonic() + 90
        while len(_workers(main)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _workers(main)
        assert len(workers) == 2
        item = group(trained)[0]
        ack = httpx.post(server.url + "/events",
                         json={"user_id": "shared", "events": [{"item_id": item}]})
        assert ack.status_code == 200
        for _ in range(20):  # a new connection each time: either worker answers
            assert httpx.get(server.url + "/users/shared").json()["count"] == 1
            assert httpx.post(server.url + "/recommend",
                              json={"user_id": "shared", "k": 3}).status_code == 200
        refused = httpx.post(server.url + "/admin/reload",
                             headers={"Authorization": "Bearer tok"})
        assert refused.status_code == 409 and "SIGHUP" in refused.json()["error"]
        main.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now = _workers(main)
            if len(now) == 2 and not now & workers:
                break
            time.sleep(0.2)
        assert len(now) == 2 and not now & workers
        assert httpx.get(server.url + "/users/shared").json()["count"] == 1
