"""The service on a real uvicorn server (a thread, a free 127.0.0.1 port) over a tiny trained
run: answers equal Recommender.recommend / similar_items (by history, by seeded user id, after
/events), every 4xx case as JSON, a bug as a 500 JSON line, Prometheus metrics, Server-Timing,
the defaults (127.0.0.1, admin disabled without a token) and the command's one-line errors."""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from recsft.retrieval.recommender import Recommender
from recsft.runs import Run
from recsft.serve.config import ServeConfig
from tests.serve.served import (
    ThreadServer,
    copy_run,
    free_port,
    pairs,
    same_ranking,
    trained_text_run,
)

MAX_HISTORY, MAX_BODY, MAX_K = 50, 20_000, 100


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, Recommender of the same run, the run's sequences)."""
    root = tmp_path_factory.mktemp("serve_app")
    trained = trained_text_run(root)
    run = copy_run(trained["run"], root / "run")
    config = ServeConfig(run=str(run), port=free_port(), state=f"sqlite:///{root}/state.db",
                         seed_state=True, max_history=MAX_HISTORY, max_body_bytes=MAX_BODY,
                         max_k=MAX_K, max_wait_ms=5)
    with ThreadServer(config) as server:
        yield server, Recommender.from_pretrained(run), Run.open(run).events().sequences()


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served[0].url, timeout=30) as session:
        yield session


def _expected(rec: Recommender, body: dict) -> list[tuple[str, float]]:
    return rec.recommend(body["history"], body.get("k", 10),
                         event_types=body.get("event_types"), timestamps=body.get("timestamps"),
                         exclude=body.get("exclude", ()), filter=body.get("filter"))


def test_answers_by_history_equal_recommender_under_concurrent_load(served) -> None:
    server, rec, sequences = served
    items = list(rec.tokenizer.item_ids)
    rng = random.Random(0)
    bodies = [{"history": [], "k": 5}, {"history": [], "k": 3, "exclude": items[:2]}]
    for n in range(60):
        row = rng.randrange(len(sequences.user_ids))
        end = rng.randrange(1, len(sequences.items[row]) + 1)
        body = {"history": [str(i) for i in sequences.items[row][:end]],
                "k": rng.choice([1, 5, 10, 20])}
        if n % 2:
            body["event_types"] = [str(t) for t in sequences.event_types[row][:end]]
            body["timestamps"] = [float(t) for t in sequences.timestamps[row][:end]]
        if n % 3 == 0:
            body["exclude"] = rng.sample(items, 5)
        if n % 5 == 0:
            body["filter"] = rng.sample(items, 30)
        bodies.append(body)

    def ask(body):
        with httpx.Client(base_url=server.url, timeout=30) as session:
            return session.post("/recommend", json=body)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, bodies))
    sizes = []
    for body, answer in zip(bodies, answers):
        assert answer.status_code == 200, answer.text
        assert same_ranking(pairs(answer.json()), _expected(rec, body)), body
        assert answer.json()["model"] == rec.run_model_sha256[:12]
        timing = dict(part.strip().split(";", 1) for part in
                      answer.headers["server-timing"].split(","))
        assert {"parse", "queue", "encode", "search", "serialize", "total"} <= set(timing) \
            or body["history"] == []
        sizes.append(int(timing["batch"].split('"')[1]))
    assert max(sizes) > 1  # concurrent requests were answered together


def test_answers_by_user_id_after_seeding_and_after_events(served, client) -> None:
    server, rec, sequences = served
    for row in range(0, len(sequences.user_ids), 97):
        user = str(sequences.user_ids[row])
        answer = client.post("/recommend", json={"user_id": user, "k": 10})
        assert answer.status_code == 200, answer.text
        history = [str(i) for i in sequences.items[row]]
        expected = rec.recommend(history, 10, event_types=list(sequences.event_types[row]),
                                 timestamps=[float(t) for t in sequences.timestamps[row]])
        assert same_ranking(pairs(answer.json()), expected)
        stored = client.get(f"/users/{user}").json()
        assert [e["item_id"] for e in stored["events"]] == history
    user = str(sequences.user_ids[3])
    history = [str(i) for i in sequences.items[3]]
    new = [str(i) for i in rec.tokenizer.item_ids[5:8]]
    ack = client.post("/events", json={"user_id": user, "events": [
        {"item_id": new[0], "event_type": "cart", "timestamp": 1.7e9},
        {"item_id": new[1]}, {"item_id": new[2], "event_type": "view", "timestamp": 1.7e9 + 5}]})
    assert ack.status_code == 200 and ack.json() == {"user_id": user, "appended": 3,
                                                      "stored": len(history) + 3,
                                                      "unknown_items": []}
    events = client.get(f"/users/{user}").json()["events"]
    assert [e["item_id"] for e in events] == history + new
    assert [e["event_type"] for e in events[-3:]] == ["cart", None, "view"]
    assert events[-2]["timestamp"] > 1.7e9  # stamped when received
    answer = client.post("/recommend", json={"user_id": user, "k": 7, "exclude": new[:1]})
    expected = rec.recommend(history + new, 7, exclude=new[:1],
                             event_types=[e["event_type"] or "[UNK]" for e in events],
                             timestamps=[e["timestamp"] for e in events])
    assert same_ranking(pairs(answer.json()), expected)
    fresh = client.post("/events", json={"user_id": "brand-new", "events": [
        {"item_id": new[2]}, {"item_id": new[0]}]})
    assert fresh.json()["stored"] == 2
    answer = client.post("/recommend", json={"user_id": "brand-new", "k": 4,
                                              "filter": list(rec.tokenizer.item_ids[:40])})
    assert same_ranking(pairs(answer.json()),
                        rec.recommend([new[2], new[0]], 4,
                                      filter=set(rec.tokenizer.item_ids[:40])))
    # An item the model does not know yet is stored and listed, and read as [UNK].
    ack = client.post("/events", json={"user_id": "brand-new", "events": [
        {"item_id": "not-in-the-run-yet"}]})
    assert ack.status_code == 200, ack.text
    assert ack.json()["unknown_items"] == ["not-in-the-run-yet"] and ack.json()["stored"] == 3
    answer = client.post("/recommend", json={"user_id": "brand-new", "k": 4})
    assert answer.status_code == 200, answer.text
    assert same_ranking(pairs(answer.json()),
                        rec.recommend([new[2], new[0], "not-in-the-run-yet"], 4))


def test_similar_items_equal_recommender(served, client) -> None:
    _, rec, _ = served
    items = list(rec.tokenizer.item_ids)
    for item, k, exclude, only in [(items[0], 10, [], None), (items[7], 5, items[:20], None),
                                   (items[50], 3, [], items[::2])]:
        body = {"item_id": item, "k": k, "exclude": exclude, "filter": only}
        answer = client.post("/similar-items", json=body)
        assert answer.status_code == 200, answer.text
        expected = rec.similar_items(item, k, exclude=exclude, filter=only)
        assert same_ranking(pairs(answer.json()), expected)


def _cases(items: list[str]) -> list[tuple[str, str, object, int, str]]:
    """(method, path, JSON body or raw bytes, status, a fragment of the error)."""
    known = items[:3]
    return [
        ("POST", "/recommend", {}, 422, "exactly one of user_id"),
        ("POST", "/recommend", {"user_id": "u1", "history": known}, 422, "exactly one"),
        ("POST", "/recommend", {"history": [*known, "nope-1", "nope-2"]}, 422, "unknown"),
        ("POST", "/recommend", {"history": known, "exclude": ["nope"]}, 422, "exclude"),
        ("POST", "/recommend", {"history": known, "filter": ["nope"]}, 422, "filter"),
        ("POST", "/recommend", {"history": known, "k": 0}, 422, "k"),
        ("POST", "/recommend", {"history": known, "k": MAX_K + 1}, 422, "k must be"),
        ("POST", "/recommend", {"history": known, "k": "3"}, 422, "k"),
        ("POST", "/recommend", {"history": known, "k": True}, 422, "k"),
        ("POST", "/recommend", {"history": known, "k": 2.5}, 422, "k"),
        ("POST", "/recommend", {"history": [items[0]] * (MAX_HISTORY + 1)}, 422, "history"),
        ("POST", "/recommend", {"history": known, "event_types": ["view"]}, 422,
         "event_types has 1"),
        ("POST", "/recommend", {"user_id": "u1", "timestamps": [1.0]}, 422, "goes with"),
        ("POST", "/recommend", b'{"history": ["%s"], "timestamps": [NaN]}' % known[0].encode(),
         422, "timestamps"),
        ("POST", "/recommend", {"history": [1, 2]}, 422, "history.0"),
        ("POST", "/recommend", {"history": known, "surprise": 1}, 422, "surprise"),
        ("POST", "/recommend", [1, 2], 422, "invalid request"),
        ("POST", "/recommend", b"{not json", 400, "not valid JSON"),
        ("POST", "/recommend", b'{"history": ["' + b"x" * MAX_BODY + b'"]}', 413, "too large"),
        ("POST", "/recommend", {"user_id": "nobody-at-all"}, 404, "unknown user"),
        ("POST", "/recommend", {"user_id": ""}, 422, "user_id"),
        ("POST", "/similar-items", {"item_id": "nope"}, 422, "item_id"),
        ("POST", "/similar-items", {"item_id": known[0], "k": 10_000}, 422, "k must be"),
        ("POST", "/similar-items", {}, 422, "item_id"),
        ("POST", "/events", {"user_id": "u1", "events": []}, 422, "events"),
        ("POST", "/events", {"user_id": "u1", "events": [{"item_id": known[0]}]
                             * (MAX_HISTORY + 1)}, 422, "events"),
        ("POST", "/events", {"events": [{"item_id": known[0]}]}, 422, "user_id"),
        ("POST", "/events", {"user_id": "u1", "events": [{"item_id": known[0],
                                                          "timestamp": "noon"}]}, 422,
         "timestamp"),
        ("GET", "/users/nobody-at-all", None, 404, "unknown user"),
        ("GET", "/users/" + "u" * 300, None, 422, "user_id"),
        ("GET", "/no-such-page", None, 404, "Not Found"),
        ("GET", "/recommend", None, 405, "Method Not Allowed"),
        ("POST", "/admin/reload", None, 403, "disabled"),
    ]


def test_bad_input_gets_a_4xx_json_error_never_a_500(served, client) -> None:
    _, rec, _ = served
    for method, path, body, status, fragment in _cases(list(rec.tokenizer.item_ids)):
        if isinstance(body, bytes):
            answer = client.request(method, path, content=body,
                                    headers={"content-type": "application/json"})
        else:
            answer = client.request(method, path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        error = answer.json()
        assert isinstance(error["error"], str) and "detail" in error
        assert fragment in json.dumps(error), (path, body, error)
        assert "Traceback" not in answer.text
    unknown = client.post("/recommend", json={"history": ["i0001", "ghost-a", "ghost-b"]})
    assert unknown.json()["detail"]["unknown"] == ["ghost-a", "ghost-b"]
    assert "queue;dur=" in unknown.headers["server-timing"]  # refused in its micro-batch

    def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    chunked = client.post("/recommend", content=chunks(),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "too large" in chunked.json()["error"]


def test_a_bug_is_a_500_json_line_without_traceback_logged_server_side(served, client,
                                                                         caplog) -> None:
    server = served[0]

    async def broken() -> None:
        raise RuntimeError("a deliberate bug in a test route")

    server.app.add_api_route("/test-only-bug", broken, methods=["GET"])
    with caplog.at_level(logging.ERROR, logger="recsft.serve"):
        answer = client.get("/test-only-bug")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error; the server logged it", "detail": None}
    assert "Traceback" not in answer.text and "deliberate" not in answer.text
    assert "deliberate bug" in caplog.text


def test_metrics_parse_as_prometheus_text(served, client) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, rec, _ = served
    item = rec.tokenizer.item_ids[0]
    assert client.post("/recommend", json={"history": [item], "k": 3}).status_code == 200
    assert client.post("/recommend", json={"history": ["ghost"]}).status_code == 422
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    requests = {(s.labels["endpoint"], s.labels["status"]): s.value
                for s in families["recsft_requests"].samples if s.name.endswith("_total")}
    assert requests[("/recommend", "200")] >= 1 and requests[("/recommend", "422")] >= 1
    buckets = {s.labels["le"] for s in families["recsft_request_duration_seconds"].samples
               if s.name.endswith("_bucket")}
    assert {"0.00025", "0.001", "0.005", "0.01", "0.015"} <= buckets
    stages = {s.labels["stage"] for s in families["recsft_request_stage_seconds"].samples}
    assert {"parse", "queue", "encode", "search", "serialize"} <= stages
    sizes = [s for s in families["recsft_batch_size"].samples if s.name.endswith("_count")]
    assert sizes[0].value >= 1
    info = families["recsft_model_info"].samples
    assert [s.labels["model"] for s in info] == [rec.run_model_sha256[:12]]
    assert families["recsft_model_items"].samples[0].value == len(rec.tokenizer.item_ids)


def test_health_readiness_openapi_and_defaults(served, client) -> None:
    server, rec, _ = served
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["model"] == rec.run_model_sha256[:12] and ready["items"] == 120
    schema = client.get("/openapi.json").json()
    assert {"/recommend", "/similar-items", "/events", "/users/{user_id}", "/healthz",
            "/readyz", "/metrics", "/admin/reload"} <= set(schema["paths"])
    defaults = ServeConfig(run="r")
    assert defaults.host == "127.0.0.1" and defaults.admin_token is None
    assert defaults.state.startswith("sqlite:///") and defaults.state.endswith("recsft-state.db")


def test_config_and_command_refuse_bad_settings_in_one_line(tmp_path, capsys,
                                                            monkeypatch) -> None:
    from recsft.cli import main
    from recsft.errors import RecsftError

    with pytest.raises(RecsftError, match="workers need a state store they share"):
        ServeConfig(run="r", workers=2, state="sqlite:///:memory:")
    with pytest.raises(RecsftError, match="backend must be one of eager, onnx"):
        ServeConfig(run="r", backend="tensorrt")
    with pytest.raises(RecsftError, match="max_batch must be a positive integer"):
        ServeConfig(run="r", max_batch=0)
    monkeypatch.setenv("RECSFT_ADMIN_TOKEN", "from-env")
    assert ServeConfig.from_env(run="r").admin_token == "from-env"
    assert "from-env" not in ServeConfig.from_env(run="r").to_json()
    assert ServeConfig.from_json(ServeConfig.from_env(run="r", port=9).to_json()).port == 9
    code = main(["serve", "--run", str(tmp_path / "missing"), "--state",
                 f"sqlite:///{tmp_path}/s.db"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no such run folder" in err[0]


def test_the_listening_socket_gives_connections_tcp_nodelay() -> None:
    """Without TCP_NODELAY an answer written in two parts waits for the client's delayed ACK
    (~40 ms on Linux): asyncio sets it only on sockets whose protocol is IPPROTO_TCP."""
    import asyncio
    import socket

    from recsft.cli.serve import bind

    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    seen: list[int] = []

    async def main() -> None:
        class Record(asyncio.Protocol):
            def connection_made(self, transport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Record, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert seen == [1]


def test_a_failing_store_gives_503_for_what_needs_it_and_history_requests_go_on(
        served, tmp_path) -> None:
    server, rec, _ = served
    config = ServeConfig(run=server.service.engine.run, port=free_port(),
                         state=f"sqlite:///{tmp_path}/state.db")
    with ThreadServer(config) as second, httpx.Client(base_url=second.url, timeout=30) as c:
        item = rec.tokenizer.item_ids[0]
        assert c.post("/events", json={"user_id": "u", "events": [{"item_id": item}]}
                      ).status_code == 200
        second.service.store.close()  # the real store, now failing every call
        for answer in (c.post("/recommend", json={"user_id": "u"}), c.get("/users/u"),
                       c.post("/events", json={"user_id": "u", "events": [{"item_id": item}]})):
            assert answer.status_code == 503
            assert answer.json()["error"] == "the user-state store failed; the server logged it"
        assert c.post("/recommend", json={"history": [item]}).status_code == 200
