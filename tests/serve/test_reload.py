"""Hot reload on a real server: the admin token, a broken folder refused while the old model
keeps serving, a good folder swapped in with no failed request while clients keep asking, and
items added with ``recsft index add`` served after a reload without restart."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest

from recsft.retrieval.recommender import Recommender
from recsft.serve.config import ServeConfig
from tests.serve.served import (
    ThreadServer,
    add_items,
    copy_run,
    free_port,
    group,
    pairs,
    same_ranking,
    trained_text_run,
)

TOKEN = "test-token-5f1c"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_reload")
    trained = trained_text_run(root)
    run = copy_run(trained["run"], root / "served")
    config = ServeConfig(run=str(run), port=free_port(), state=f"sqlite:///{root}/state.db",
                         admin_token=TOKEN, max_wait_ms=1)
    with ThreadServer(config) as server:
        yield {"server": server, "run": run, "root": root, "trained": trained}


@pytest.fixture
def client(setup):
    with httpx.Client(base_url=setup["server"].url, timeout=60) as session:
        yield session


def _model(client: httpx.Client) -> str:
    return client.get("/readyz").json()["model"]


def test_admin_reload_refuses_requests_without_the_right_token(setup, client) -> None:
    before = _model(client)
    for headers, status in [({}, 401), ({"Authorization": "Basic dXNlcjpwdw=="}, 401),
                            ({"Authorization": "Bearer"}, 401),
                            ({"Authorization": "Bearer wrong-token"}, 403),
                            ({"Authorization": f"Bearer {TOKEN}x"}, 403),
                            ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403)]:
        answer = client.post("/admin/reload", headers=headers)
        assert answer.status_code == status, (headers, answer.text)
        assert "error" in answer.json()
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"
    garbled = client.post("/admin/reload", content=b"{garbled",
                          headers={"content-type": "application/json"})
    assert garbled.status_code == 401  # the token first: no hints without it
    assert client.post("/admin/reload", headers=ADMIN, content=b"{garbled").status_code == 400
    wrong = client.post("/admin/reload", headers=ADMIN, json={"run": 5})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "run"
    assert _model(client) == before
    ok = client.post("/admin/reload", headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["model"] == before


def test_a_broken_folder_is_refused_and_the_old_model_keeps_serving(setup, client) -> None:
    root, run = setup["root"], setup["run"]
    before = _model(client)
    trained = setup["trained"]["run"]
    altered = copy_run(trained, root / "altered")
    weights = altered / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    unsealed = copy_run(trained, root / "unsealed")
    (unsealed / "recsft_manifest.json").unlink()
    mixed = copy_run(trained, root / "mixed")
    shutil.copy(run / "tokenizer.json", mixed / "tokenizer.json")
    (mixed / "tokenizer.json").write_text((mixed / "tokenizer.json").read_text()
                                          .replace('"i0001"', '"i9999"'))
    for folder, fragment in [(altered, "model.safetensors"), (unsealed, "manifest"),
                             (mixed, "tokenizer.json"), (root / "nowhere", "no such run")]:
        answer = client.post("/admin/reload", headers=ADMIN, json={"run": str(folder)})
        assert answer.status_code == 422, answer.text
        assert "reload refused" in answer.json()["error"] and fragment in answer.json()["error"]
        assert _model(client) == before
        served = client.post("/recommend", json={"history": ["i0001", "i0002"], "k": 3})
        assert served.status_code == 200 and served.json()["model"] == before
    metrics = client.get("/metrics").text
    assert 'recsft_reloads_total{outcome="refused"} 4.0' in metrics


def test_a_good_folder_is_swapped_in_with_no_failed_request(setup, client) -> None:
    root, trained = setup["root"], setup["trained"]
    before = _model(client)
    grown = copy_run(trained["run"], root / "grown")
    added = add_items(grown, trained, ["swap-new-1", "swap-new-2"])
    assert added == ["swap-new-1", "swap-new-2"]
    history = group(trained)[:5]
    stop = threading.Event()
    seen: list[list[tuple[int, str]]] = [[] for _ in range(4)]

    def keep_asking(n: int) -> None:
        with httpx.Client(base_url=setup["server"].url, timeout=60) as session:
            while not stop.is_set():
                answer = session.post("/recommend", json={"history": history, "k": 5})
                seen[n].append((answer.status_code, answer.json().get("model", "")))

    threads = [threading.Thread(target=keep_asking, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    answer = client.post("/admin/reload", headers=ADMIN, json={"run": str(grown)})
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert answer.status_code == 200, answer.text
    after = answer.json()["model"]
    assert answer.json()["previous"] == before and after != before
    assert answer.json()["items"] == 122 and _model(client) == after
    for answers in seen:
        assert answers and all(status == 200 for status, _ in answers)
        models = [model for _, model in answers]
        assert models[0] == before and models[-1] == after
        assert models == sorted(models, key=lambda m: m == after)  # old ones, then new ones
    expected = Recommender.from_pretrained(grown).recommend([*history, "swap-new-1"], k=122)
    got = client.post("/recommend", json={"history": [*history, "swap-new-1"], "k": 122})
    assert same_ranking(pairs(got.json()), expected)
    assert "swap-new-2" in [i for i, _ in pairs(got.json())]
    back = client.post("/admin/reload", headers=ADMIN, json={"run": str(setup["run"])})
    assert back.json()["model"] == before


def test_items_added_with_index_add_are_served_after_a_reload_without_restart(
        setup, client, monkeypatch) -> None:
    from recsft.cli import main

    run, trained = setup["run"], setup["trained"]
    client.post("/admin/reload", headers=ADMIN)  # the served folder, whatever ran before
    before = _model(client)
    history = group(trained)[:4]
    refused = client.post("/recommend", json={"history": [*history, "added-1"]})
    assert refused.status_code == 422 and refused.json()["detail"]["unknown"] == ["added-1"]
    text = trained["texts"][sorted(trained["texts"])[2]]
    table = setup["root"] / "added.csv"
    table.write_text(f"item_id,title\nadded-1,{text}\nadded-2,{text}\n")
    monkeypatch.setenv("RECSFT_CACHE", str(trained["cache"]))
    assert main(["index", "add", "--run", str(run), "--items", str(table)]) == 0
    assert _model(client) == before  # nothing changes until the reload
    answer = client.post("/admin/reload", headers=ADMIN)
    assert answer.status_code == 200 and answer.json()["model"] != before
    assert answer.json()["run"] == str(run)
    got = client.post("/recommend", json={"history": [*history, "added-1"], "k": 10})
    assert got.status_code == 200
    expected = Recommender.from_pretrained(run).recommend([*history, "added-1"], k=10)
    assert same_ranking(pairs(got.json()), expected)
    similar = client.post("/similar-items", json={"item_id": "added-1", "k": 1})
    assert [i for i, _ in pairs(similar.json())] == ["added-2"]  # the same text
