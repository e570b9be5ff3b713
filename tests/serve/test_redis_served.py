"""The service with its user state in a real ``redis-server`` (skipped where it is not
installed): seeding, ``/events``, ``/users`` and ``/recommend`` by user id equal to
``Recommender.recommend`` on the stored history, and two services sharing one Redis."""

from __future__ import annotations

import httpx
import pytest

from recsft.retrieval.recommender import Recommender
from recsft.runs import Run
from recsft.serve.config import ServeConfig
from tests.serve.redis_server import RedisServer, need_redis
from tests.serve.served import (
    ThreadServer,
    copy_run,
    free_port,
    pairs,
    same_ranking,
    trained_text_run,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    need_redis()
    root = tmp_path_factory.mktemp("serve_redis")
    redis = RedisServer(root / "redis").start()
    trained = trained_text_run(root)
    run = copy_run(trained["run"], root / "run")
    yield redis, run
    redis.stop()


def test_two_services_share_the_user_state_in_redis(setup) -> None:
    redis, run = setup
    state = f"{redis.url}?prefix=served:"
    rec = Recommender.from_pretrained(run)
    sequences = Run.open(run).events().sequences()
    first = ServeConfig(run=str(run), port=free_port(), state=state, seed_state=True)
    second = ServeConfig(run=str(run), port=free_port(), state=state)
    with ThreadServer(first) as a, ThreadServer(second) as b, \
            httpx.Client(base_url=a.url, timeout=30) as one, \
            httpx.Client(base_url=b.url, timeout=30) as two:
        user = str(sequences.user_ids[2])
        history = [str(i) for i in sequences.items[2]]
        stored = two.get(f"/users/{user}").json()  # seeded by the first service
        assert [e["item_id"] for e in stored["events"]] == history
        new = [str(i) for i in rec.tokenizer.item_ids[10:12]]
        ack = one.post("/events", json={"user_id": user, "events": [
            {"item_id": new[0], "event_type": "view", "timestamp": 1.7e9},
            {"item_id": new[1], "event_type": "cart", "timestamp": 1.7e9 + 3}]})
        assert ack.status_code == 200 and ack.json()["stored"] == len(history) + 2, ack.text
        answer = two.post("/recommend", json={"user_id": user, "k": 8})
        assert answer.status_code == 200, answer.text
        events = two.get(f"/users/{user}").json()["events"]
        assert [e["item_id"] for e in events] == history + new
        expected = rec.recommend(history + new, 8,
                                 event_types=[e["event_type"] or "[UNK]" for e in events],
                                 timestamps=[e["timestamp"] for e in events])
        assert same_ranking(pairs(answer.json()), expected)
        assert two.post("/recommend", json={"user_id": "nobody"}).status_code == 404
