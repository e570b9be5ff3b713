"""``POST /search`` on a real uvicorn server over a tiny trained run with a search index:
answers equal ``Recommender.search`` (by history and by a seeded user id), ``exclude`` and
``filter``, the /recommend validation rules (unknown items listed, k bounded, body limits) as
JSON 4xx, and 409 from a run without a search index."""

from __future__ import annotations

import httpx
import pytest

from tests.search.test_surfaces import write_searches
from tests.serve.served import ThreadServer, copy_run, free_port, trained_text_run

pytest.importorskip("bm25s")
pytest.importorskip("lightgbm")

MAX_HISTORY, MAX_BODY, MAX_K = 20, 20_000, 50


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{"indexed": run with a search index, "bare": run without}``."""
    from recsft.search.build import build_search_index

    root = tmp_path_factory.mktemp("serve_search")
    trained = trained_text_run(root)
    indexed = copy_run(trained["run"], root / "indexed")
    events, _ = write_searches(root)
    build_search_index(indexed, events, kind="linear", top_n=30, cache_folder=trained["cache"])
    return {"indexed": indexed, "bare": copy_run(trained["run"], root / "bare"),
            "cache": trained["cache"], "root": root}


def _server(run, root, monkeypatch, cache):
    from recsft.serve.config import ServeConfig

    monkeypatch.setenv("RECSFT_CACHE", str(cache))
    config = ServeConfig(run=str(run), port=free_port(), state=f"sqlite:///{root}/state.db",
                         seed_state=True, max_history=MAX_HISTORY, max_body_bytes=MAX_BODY,
                         max_k=MAX_K, max_wait_ms=5)
    return ThreadServer(config)


def test_search_answers_equal_recommender_search(runs, tmp_path, monkeypatch) -> None:
    from recsft.retrieval.recommender import Recommender
    from recsft.runs import Run

    rec = Recommender.from_pretrained(runs["indexed"])
    items = list(rec.tokenizer.item_ids)
    with _server(runs["indexed"], tmp_path, monkeypatch, runs["cache"]) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        for body in ({"query": "glue tape", "history": items[:3], "k": 5},
                     {"query": "steel pan", "history": [], "k": 8},
                     {"query": "glue", "history": items[10:14],
                      "event_types": ["view", "cart", "view", "buy"]}):
            answer = client.post("/search", json=body)
            assert answer.status_code == 200, answer.text
            got = [(r["item_id"], r["score"]) for r in answer.json()["items"]]
            expected = rec.search(body["query"], body["history"], body.get("k", 10),
                                  event_types=body.get("event_types"))
            assert [i for i, _ in got] == [i for i, _ in expected]
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-5)
        # exclude / filter: the same ranking without / within those items
        full = [i for i, _ in rec.search("glue", items[:3], 10)]
        answer = client.post("/search", json={"query": "glue", "history": items[:3], "k": 9,
                                              "exclude": full[:1]}).json()
        assert [r["item_id"] for r in answer["items"]] == full[1:]
        answer = client.post("/search", json={"query": "glue", "history": items[:3],
                                              "filter": full[3:6]}).json()
        assert [r["item_id"] for r in answer["items"]] == full[3:6]
        # by user id: the stored (seeded) history
        user = str(Run.open(runs["indexed"]).events().frame["user_id"].iloc[0])
        stored = client.get(f"/users/{user}").json()
        history = [e["item_id"] for e in stored["events"]]
        types = [e["event_type"] or "view" for e in stored["events"]]
        answer = client.post("/search", json={"query": "tape", "user_id": user, "k": 4})
        assert answer.status_code == 200, answer.text
        expected = rec.search("tape", history, 4, event_types=types)
        assert [r["item_id"] for r in answer.json()["items"]] == [i for i, _ in expected]
        # the /recommend rules, JSON 4xx
        cases = [({"query": "glue", "history": ["nope", items[0], "nada"]}, 422, "unknown"),
                 ({"query": "glue", "history": [], "exclude": ["zzz"]}, 422, "unknown"),
                 ({"query": "glue", "history": [], "k": MAX_K + 1}, 422, "k must be"),
                 ({"query": "glue", "history": [], "k": 0}, 422, None),
                 ({"query": "glue", "history": items[:MAX_HISTORY + 1]}, 422, "max_history"),
                 ({"query": "", "history": []}, 422, None),
                 ({"query": "   ", "history": []}, 422, None),
                 ({"query": "glue"}, 422, None),
                 ({"query": "glue", "history": [], "user_id": "u"}, 422, None),
                 ({"history": []}, 422, None),
                 ({"query": "glue", "user_id": "nobody-here"}, 404, "unknown user"),
                 ({"query": "glue", "history": [], "extra": 1}, 422, None)]
        for body, status, words in cases:
            answer = client.post("/search", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert "error" in answer.json(), answer.text
            if words:
                assert words in answer.text, answer.text
        unknown = client.post("/search", json={"query": "g", "history": ["nope", "nada"]})
        assert unknown.json()["detail"]["unknown"] == ["nope", "nada"]
        big = client.post("/search", content=b'{"query": "' + b"a" * MAX_BODY + b'"}',
                          headers={"content-type": "application/json"})
        assert big.status_code == 413 and "error" in big.json()


def test_search_without_an_index_is_409(runs, tmp_path, monkeypatch) -> None:
    with _server(runs["bare"], tmp_path, monkeypatch, runs["cache"]) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        answer = client.post("/search", json={"query": "glue", "history": []})
        assert answer.status_code == 409, answer.text
        assert "recsft search build" in answer.json()["error"]
        assert client.post("/recommend", json={"history": []}).status_code == 200
