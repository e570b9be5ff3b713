"""``--backend onnx``: the server's answers equal the eager Recommender's (identical top-10,
scores within 1e-4), also after ``recsft index add`` (which exports the encoder again) and a
reload. An encoder exported from other weights is refused (tests/export/test_onnx.py)."""

from __future__ import annotations

import random

import httpx
import pytest

from recsft.retrieval.recommender import Recommender
from recsft.runs import Run
from recsft.serve.config import ServeConfig
from tests.serve.served import (
    ThreadServer,
    add_items,
    copy_run,
    free_port,
    pairs,
    same_ranking,
    trained_text_run,
)

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow  # an ONNX export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from recsft.export.onnx import export_onnx

    root = tmp_path_factory.mktemp("serve_onnx")
    trained = trained_text_run(root)
    run = copy_run(trained["run"], root / "run")
    export_onnx(run)
    return root, run, trained


def test_onnx_backend_answers_equal_the_eager_recommender(exported) -> None:
    root, run, trained = exported
    config = ServeConfig(run=str(run), port=free_port(), backend="onnx",
                         state=f"sqlite:///{root}/state.db", seed_state=True,
                         admin_token="tok")
    rec = Recommender.from_pretrained(run)
    sequences = Run.open(run).events().sequences()
    rng = random.Random(1)
    with ThreadServer(config) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get("/readyz").json()["backend"] == "onnx"
        for row in rng.sample(range(len(sequences.user_ids)), 40):
            user = str(sequences.user_ids[row])
            answer = client.post("/recommend", json={"user_id": user, "k": 10})
            assert answer.status_code == 200, answer.text
            expected = rec.recommend([str(i) for i in sequences.items[row]], 10,
                                     event_types=list(sequences.event_types[row]))
            assert same_ranking(pairs(answer.json()), expected, tolerance=1e-4)
        before = client.get("/readyz").json()["model"]
        # recsft index add grows the weights and exports encoder.onnx again, so the reload
        # takes the new items with the ONNX backend.
        add_items(run, trained, ["onnx-new"])
        reloaded = client.post("/admin/reload", headers={"Authorization": "Bearer tok"})
        assert reloaded.status_code == 200, reloaded.text
        assert client.get("/readyz").json()["model"] != before
        grown = Recommender.from_pretrained(run)
        history = [str(i) for i in sequences.items[0]][-5:] + ["onnx-new"]
        answer = client.post("/recommend", json={"history": history, "k": 10})
        assert answer.status_code == 200, answer.text
        assert same_ranking(pairs(answer.json()), grown.recommend(history, 10), tolerance=1e-4)
        similar = client.post("/similar-items", json={"item_id": "onnx-new", "k": 3})
        assert similar.status_code == 200, similar.text
