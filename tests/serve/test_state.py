"""User-state stores: SQLite (always) and Redis (against a real ``redis-server`` started here,
skipped where it is not installed): order, trimming, round trips, refusals, seeding from a
trained run, and every acknowledged event surviving ``kill -9``."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recsft.errors import RecsftError
from recsft.serve.state import (
    Event,
    RedisStore,
    SQLiteStore,
    StateError,
    UserState,
    open_store,
    seed_from_run,
)
from tests.serve.redis_server import RedisServer, free_port, need_redis

ROOT = Path(__file__).resolve().parents[2]
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    need_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    """``make_store(max_length)``: a new, empty store of each kind (Redis: its own prefix)."""
    opened = []

    def make(max_length: int):
        if request.param == "sqlite":
            store = open_store(f"sqlite:///{tmp_path}/state.db", max_length)
        else:
            server = request.getfixturevalue("redis_server")
            store = open_store(f"{server.url}?prefix=test{next(_prefixes)}:", max_length)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


# ---------------------------------------------------------------------- both stores


def test_append_get_trim_and_order(make_store):
    store = make_store(4)
    assert store.get("u1") is None and store.count_users() == 0
    assert store.append("u1", []) == 0 and store.get("u1") is None   # nothing created
    assert store.append("u1", [Event("a"), Event("b")]) == 2
    assert store.append("u2", [Event("x")]) == 1
    assert store.append("u1", [Event("c"), Event("d"), Event("e")]) == 4  # trimmed to 4
    assert store.get("u1").items == ["b", "c", "d", "e"]  # newest kept, oldest first
    assert store.append("u1", [Event(str(n)) for n in range(10)]) == 4
    assert store.get("u1").items == ["6", "7", "8", "9"]
    assert store.append("u1", []) == 4
    assert store.get("u2").items == ["x"] and store.count_users() == 2


def test_event_types_and_timestamps_round_trip(make_store):
    store = make_store(10)
    events = [Event("i1", "view", 1700000000), Event("é/ü 商品", None, 1700000000.125),
              Event("i3", "cart", None), Event("i4")]
    store.append("user ✓", events)
    state = store.get("user ✓")
    assert state == UserState("user ✓", ["i1", "é/ü 商品", "i3", "i4"],
                              ["view", None, "cart", None],
                              [1700000000.0, 1700000000.125, None, None])
    assert all(t is None or type(t) is float for t in state.timestamps)
    assert len(state) == 4


def test_get_many_keeps_order_and_answers_none_for_unknown_users(make_store):
    store = make_store(5)
    store.append("a", [Event("i1", "view", 1)])
    store.append("b", [Event("i2", "buy", 2), Event("i3", "view", 3)])
    got = store.get_many(["zz", "b", "a", "b", "nobody"])
    assert [None if s is None else s.items for s in got] == [None, ["i2", "i3"], ["i1"],
                                                               ["i2", "i3"], None]
    assert got[1].user_id == "b" and got[1].event_types == ["buy", "view"]
    assert store.get_many([]) == []


def test_bad_events_are_refused_and_nothing_is_stored(make_store):
    store = make_store(5)
    store.append("u", [Event("kept")])
    bad = [(Event(""), "events[1].item_id"), (Event("i", 3), "events[1].event_type"),
           (Event("i", "view", math.nan), "events[1].timestamp"),
           (Event("i", "view", True), "events[1].timestamp"),
           (Event(7), "events[1].item_id")]
    for event, field in bad:
        with pytest.raises(RecsftError, match=field.replace("[", r"\[").replace("]", r"\]")):
            store.append("u", [Event("fine"), event])
    with pytest.raises(RecsftError, match="user_id"):
        store.append("", [Event("i")])
    assert store.get("u").items == ["kept"]


def test_bulk_load_replaces_trims_and_removes(make_store):
    store = make_store(3)
    store.append("u1", [Event("old")])
    states = [UserState("u1", ["a", "b", "c", "d"], ["v"] * 4, [1, 2, 3, 4]),
              UserState("u2", ["x"], [None], [None])]
    assert store.bulk_load(iter(states)) == 2
    assert store.bulk_load(states) == 2   # loading again replaces, never extends
    assert store.get("u1") == UserState("u1", ["b", "c", "d"], ["v"] * 3, [2.0, 3.0, 4.0])
    assert store.count_users() == 2
    assert store.bulk_load([UserState("u2", [], [], [])]) == 1   # an empty state removes
    assert store.get("u2") is None and store.count_users() == 1
    with pytest.raises(RecsftError, match="same length"):
        store.bulk_load([UserState("u3", ["a", "b"], ["v"], [1, 2])])


# ---------------------------------------------------------------------- SQLite


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_refuses_files_it_did_not_create(tmp_path):
    foreign = tmp_path / "shop.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.execute("INSERT INTO orders VALUES (1)")
    conn.commit()
    conn.close()
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "empty.db").touch()
    for name, why in [("shop.db", "without the recsft-state marker"),
                      ("notes.txt", "not an SQLite file"), ("empty.db", "an empty file")]:
        path = tmp_path / name
        before = _digest(path)
        with pytest.raises(RecsftError) as caught:
            open_store(str(path), 10)
        message = str(caught.value)
        assert message.startswith(f"{path}: not a recsft state database") and why in message
        assert "\n" not in message
        assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "notes.txt", "shop.db"]
    with pytest.raises(RecsftError, match="is a folder"):
        open_store(str(tmp_path), 10)
    with pytest.raises(RecsftError, match="does not exist"):
        open_store(str(tmp_path / "missing" / "state.db"), 10)


def test_sqlite_file_is_wal_and_reopens(tmp_path):
    path = tmp_path / "state.db"
    store = SQLiteStore(path, 5)
    store.append("u", [Event("a", "view", 1.5)])
    conn = store._idle.get()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL
    store._idle.put(conn)
    second = open_store(f"sqlite://{path}", 5)   # open twice at once (two workers)
    assert second.get("u").items == ["a"]
    second.close()
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]   # no temporary left
    with pytest.raises(StateError, match="closed"):
        store.get("u")
    reopened = open_store(str(path), 5)
    assert reopened.get("u") == UserState("u", ["a"], ["view"], [1.5])
    reopened.close()


def test_sqlite_threads_lose_no_event(tmp_path):
    store = SQLiteStore(tmp_path / "state.db", 1000)
    other = SQLiteStore(tmp_path / "state.db", 1000)   # a second worker process's store
    errors = []

    def write(worker: int) -> None:
        try:
            target = store if worker % 2 else other
            for n in range(40):
                target.append(f"u{n % 3}", [Event(f"w{worker}-{n}")])
                target.get_many(["u0", "u1", "u2"])
        except Exception as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    states = store.get_many(["u0", "u1", "u2"])
    assert sum(len(s) for s in states) == 6 * 40
    for worker in range(6):   # each worker's events in its own order
        mine = [i for s in states for i in s.items if i.startswith(f"w{worker}-")]
        assert len(mine) == 40
        for state in states:
            numbers = [int(i.split("-")[1]) for i in state.items if i.startswith(f"w{worker}-")]
            assert numbers == sorted(numbers)
    store.close()
    other.close()


def test_open_store_urls(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/a.db", 3)
    assert isinstance(store, SQLiteStore) and store.path == Path(f"{tmp_path}/a.db")
    store.close()
    store = open_store(str(tmp_path / "b.db"), 3)
    assert isinstance(store, SQLiteStore)
    store.close()
    for url, expected in [("http://example.com/x", "unknown scheme 'http'"),
                          ("sqlite://", "no file path"), ("", "state url"),
                          ("redis://localhost:notaport/0", "redis://host:port/db")]:
        with pytest.raises(RecsftError, match=expected) as caught:
            open_store(url, 3)
        assert "\n" not in str(caught.value)
    with pytest.raises(RecsftError, match="max_length"):
        open_store(str(tmp_path / "c.db"), 0)
    assert not (tmp_path / "c.db").exists()
    pytest.importorskip("redis")
    with pytest.raises(StateError, match=r"redis://:\*\*\*@127\.0\.0\.1:") as caught:
        open_store(f"redis://:secret@127.0.0.1:{free_port()}/0", 3)   # nobody listens
    assert "secret" not in str(caught.value)


# ---------------------------------------------------------------------- Redis


def test_redis_keeps_to_its_prefix(redis_server):
    import redis

    client = redis.Redis(port=redis_server.port, decode_responses=True)
    client.set("shop:cart:7", "keep me")
    store = open_store(f"{redis_server.url}?prefix=iso:", 5)
    store.append("u", [Event("i", "view", 1)])
    store.bulk_load([UserState("v", ["j"], [None], [None])])
    assert sorted(k for k in client.keys("iso:*")) == ["iso:format", "iso:u:u", "iso:u:v",
                                                       "iso:users"]
    assert client.get("shop:cart:7") == "keep me"
    assert client.lrange("iso:u:u", 0, -1) == ['["i","view",1.0]']   # compact JSON
    store.close()
    with pytest.raises(RecsftError, match="not written by recsft") as caught:
        open_store(f"{redis_server.url}?prefix=shop:", 5)
    assert "\n" not in str(caught.value)
    assert client.keys("shop:*") == ["shop:cart:7"]
    client.close()


def test_redis_reports_whether_events_are_durable(redis_server, capsys):
    import redis

    store = RedisStore(redis_server.url, 5, prefix=f"test{next(_prefixes)}:")
    assert store.durable is True and "note" not in capsys.readouterr().err
    store.close()
    client = redis.Redis(port=redis_server.port)
    client.config_set("appendfsync", "everysec")
    try:
        store = RedisStore(redis_server.url, 5, prefix=f"test{next(_prefixes)}:")
        assert store.durable is False
        assert "appendfsync everysec" in capsys.readouterr().err
        store.close()
    finally:
        client.config_set("appendfsync", "always")
        client.close()


# ---------------------------------------------------------------------- seeding


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A SASRec run trained for one epoch on 200 synthetic users."""
    from recsft.runs import Run
    from recsft.training.pipeline import run_training
    from tests.conftest import tiny_config

    config = tiny_config(tmp_path_factory.mktemp("runs"), model_type="sasrec", epochs=1)
    config.data.synthetic = dict(config.data.synthetic, num_users=200)
    run_training(config)
    return Run.open(config.run_dir)


@pytest.mark.parametrize("max_length", [5, 1000])
def test_seed_from_run_loads_every_users_sequence(tiny_run, make_store, max_length):
    store = make_store(max_length)
    sequences = tiny_run.events().sequences()
    test = tiny_run.splits().test
    assert seed_from_run(store, tiny_run) == len(sequences) == 200
    assert store.count_users() == 200
    store.append(test.user_ids[0], [Event("extra")])
    assert seed_from_run(store, tiny_run.path) == 200   # again: replaced, not extended
    assert store.count_users() == 200
    states = store.get_many(test.user_ids)
    for n, state in enumerate(states):   # leave-one-out: test history + target, newest kept
        assert state.items == (test.histories[n] + [test.targets[n]])[-max_length:]
        assert state.event_types == (test.history_event_types[n]
                                     + [test.target_event_types[n]])[-max_length:]
        assert state.timestamps == [float(t) for t in (test.history_timestamps[n]
                                                       + [test.target_timestamps[n]])
                                    ][-max_length:]
    assert all(len(s) <= max_length for s in store.get_many(sequences.user_ids))


# ---------------------------------------------------------------------- kill -9


WRITER = """
import sys
from recsft.serve.state import Event, open_store
store = open_store(sys.argv[1], 100000)
for n in range(10**9):
    store.append(f"u{n % 3}", [Event(f"e{n}", "view", float(n))])
    print(n, flush=True)
"""


def _ingest_and_kill(url: str, kill_after: int, also=None) -> int:
    """Run the writer on ``url``, SIGKILL it after ``kill_after`` acknowledgements (and call
    ``also``, e.g. to kill the Redis server too); returns the last acknowledged event."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), RECSFT_PROGRESS="0")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    acknowledged = -1
    try:
        for line in writer.stdout:
            acknowledged = int(line)
            if acknowledged + 1 >= kill_after:
                writer.send_signal(signal.SIGKILL)
                if also is not None:
                    also()
                break
        acknowledged = max([acknowledged, *(int(x) for x in writer.stdout.read().split())])
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(10)
        stderr = writer.stderr.read()
        writer.stdout.close()
        writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL, stderr
    return acknowledged


def _check_acknowledged(store, acknowledged: int) -> None:
    """Every acknowledged event is there, in order; at most the one in flight beyond them."""
    states = store.get_many(["u0", "u1", "u2"])
    stored = sorted(int(item[1:]) for state in states if state for item in state.items)
    assert stored[: acknowledged + 1] == list(range(acknowledged + 1))
    assert len(stored) <= acknowledged + 2
    for user, state in enumerate(states):
        if state is not None:
            numbers = [int(item[1:]) for item in state.items]
            assert numbers == sorted(numbers) and all(n % 3 == user for n in numbers)
            assert state.timestamps == [float(n) for n in numbers]


@pytest.mark.slow
def test_sqlite_every_acknowledged_event_survives_kill_9(tmp_path):
    chance = random.Random(24)
    for trial in range(5):
        path = tmp_path / f"trial{trial}.db"
        acknowledged = _ingest_and_kill(f"sqlite:///{path}", chance.randint(20, 80))
        store = open_store(str(path), 100000)
        _check_acknowledged(store, acknowledged)
        store.close()


@pytest.mark.slow
def test_redis_every_acknowledged_event_survives_kill_9_of_writer_and_server(tmp_path):
    need_redis()
    chance = random.Random(24)
    server = RedisServer(tmp_path / "redis").start()
    try:
        for trial in range(5):
            url = f"{server.url}?prefix=trial{trial}:"
            acknowledged = _ingest_and_kill(url, chance.randint(20, 80), also=server.kill)
            server.start()   # replays the append-only file
            store = open_store(url, 100000)
            assert store.durable is True
            _check_acknowledged(store, acknowledged)
            store.close()
    finally:
        server.stop()
