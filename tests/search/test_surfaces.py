"""The surfaces of personalised search: ``recsft search build`` / ``recsft search`` (in
process), ``Recommender.search`` and the run's ``search/`` folder (manifest, reload)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("bm25s")
pytest.importorskip("lightgbm")
pytest.importorskip("torch")


def write_searches(path: Path) -> tuple[Path, Path]:
    """The tiny synthetic shop with searches (same catalogue and items as the trained run's):
    ``(events csv with a query column, item table with titles)``."""
    from recsft.data.synthetic import SyntheticConfig, generate_events
    from tests.conftest import TINY_SYNTHETIC

    data = generate_events(SyntheticConfig(**TINY_SYNTHETIC, search_rate=0.5))
    assert data.events["query"].notna().sum() > 500
    data.events.to_csv(path / "searches.csv", index=False)
    data.items[["item_id", "title"]].to_csv(path / "titles.csv", index=False)
    return path / "searches.csv", path / "titles.csv"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the tiny id+text run with a search index built by the CLI (the run's own
    item table), and the search log; the text-vector cache is the run's (never the user's)."""
    from recsft.cli import main
    from tests.serve.served import copy_run, trained_text_run

    root = tmp_path_factory.mktemp("surfaces")
    trained = trained_text_run(root)
    patch = pytest.MonkeyPatch()
    patch.setenv("RECSFT_CACHE", str(trained["cache"]))
    run = copy_run(trained["run"], root / "run")
    events, titles = write_searches(root)
    assert main(["search", "build", "--run", str(run), "--events", str(events),
                 "--kind", "linear", "--top-n", "30", "-q"]) == 0
    yield {"run": run, "events": events, "titles": titles, "trained": trained, "root": root}
    patch.undo()


def test_build_writes_search_folder_in_the_manifest(built, capsys) -> None:
    from recsft.runs.run import Run
    from recsft.search.index import INFO_FILE

    run = Run.open(built["run"])                      # digests checked
    listed = sorted(n for n in run.manifest.files if n.startswith("search/"))
    on_disk = sorted(p.relative_to(built["run"]).as_posix()
                     for p in (built["run"] / "search").rglob("*") if p.is_file())
    assert listed == on_disk and f"search/{INFO_FILE}" in listed
    assert "search/item_vectors.safetensors" in listed
    assert any(n.startswith("search/bm25/") for n in listed)
    assert any(n.startswith("search/reranker/") for n in listed)
    info = json.loads((built["run"] / "search" / INFO_FILE).read_text())
    assert info["kind"] == "linear" and info["item_text"] == "title"
    assert info["items"] == list(run.tokenizer.item_ids)
    assert info["searches"]["train"]["searches"] > 0 and info["searches"]["valid"]["searches"]
    assert not any(p.suffix in (".pkl", ".pickle") for p in (built["run"] / "search").rglob("*"))


def test_cli_search_and_recommender_search_agree_with_the_scorer(built, capsys) -> None:
    from recsft.cli import main
    from recsft.retrieval.recommender import Recommender
    from recsft.search.index import SearchIndex

    recommender = Recommender.from_pretrained(built["run"])
    items = list(recommender.tokenizer.item_ids)
    history = items[3:6]
    got = recommender.search("glue tape", history, k=7)
    assert len(got) == 7 and len({i for i, _ in got}) == 7
    assert all(a[1] >= b[1] for a, b in zip(got, got[1:]))
    # The same as the two-stage scorer's own search over a separately loaded index.
    fresh = SearchIndex.load(Recommender.from_pretrained(built["run"]))
    assert got == fresh.scorer.search("glue tape", history, k=7)
    assert recommender.search("glue tape", history, k=7) == got          # cached index
    # The history changes the answer (the behaviour model personalises it).
    other = recommender.search("glue tape", items[60:63], k=7)
    assert other != got
    capsys.readouterr()
    assert main(["search", "--run", str(built["run"]), "--query", "glue tape",
                 "--history", ",".join(history), "--k", "7", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(r["item_id"], pytest.approx(r["score"])) for r in printed] == got
    assert main(["search", "--run", str(built["run"]), "--query", "glue tape",
                 "--k", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["rank", "item", "score"] and len(table) == 4


def test_exclude_and_filter(built) -> None:
    from recsft.retrieval.recommender import Recommender
    from recsft.search.index import search_index

    recommender = Recommender.from_pretrained(built["run"])
    index = search_index(recommender)
    full = index.search("glue", [], k=10)
    top = [i for i, _ in full]
    without = index.search("glue", [], k=9, exclude=top[:1])
    assert without == full[1:]
    only = index.search("glue", [], k=10, filter=top[2:5])
    assert only == full[2:5]


def test_build_with_an_item_table_and_lightgbm(built, tmp_path) -> None:
    from recsft.cli import main
    from recsft.retrieval.recommender import Recommender
    from tests.serve.served import copy_run

    run = copy_run(built["run"], tmp_path / "run")
    assert main(["search", "build", "--run", str(run), "--events", str(built["events"]),
                 "--item-table", str(built["titles"]), "--item-text", "{title}",
                 "--top-n", "30", "-q"]) == 0
    info = json.loads((run / "search" / "search.json").read_text())
    assert info["kind"] == "lightgbm" and info["item_table"] == str(built["titles"])
    assert (run / "search" / "reranker" / "lightgbm_model.txt").is_file()
    results = Recommender.from_pretrained(run).search("face cream", k=5)
    assert len(results) == 5


def test_errors_are_one_line(built, tmp_path, capsys) -> None:
    import pandas as pd

    from recsft.cli import main
    from recsft.errors import RecsftError
    from recsft.retrieval.recommender import Recommender
    from tests.serve.served import copy_run

    bare = copy_run(built["trained"]["run"], tmp_path / "bare")

    def refused(argv: list[str], words: str) -> None:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert words in err, err

    refused(["search", "--run", str(bare), "--query", "glue"], "recsft search build")
    refused(["search", "--query", "glue"], "--run")
    no_query = tmp_path / "plain.csv"
    pd.read_csv(built["events"]).drop(columns=["query"]).to_csv(no_query, index=False)
    refused(["search", "build", "--run", str(bare), "--events", str(no_query)], "query")
    refused(["search", "build", "--run", str(tmp_path / "missing"), "--events",
             str(built["events"])], "missing")
    blank = tmp_path / "blank.csv"
    pd.DataFrame({"item_id": ["nobody"], "title": ["x"]}).to_csv(blank, index=False)
    refused(["search", "build", "--run", str(bare), "--events", str(built["events"]),
             "--item-table", str(blank)], "no item of the run")
    refused(["search", "build", "--run", str(bare), "--events", str(built["events"]),
             "--item-table", str(built["titles"]), "--item-text", "{nope}"], "nope")
    assert not (bare / "search").exists()
    with pytest.raises(RecsftError, match="search build"):
        Recommender.from_pretrained(bare).search("glue")
    recommender = Recommender.from_pretrained(built["run"])
    for kwargs, words in (({"k": 0}, "k=0"), ({"history": "i1"}, "list"),
                          ({"event_types": ["view"]}, "event types")):
        with pytest.raises(RecsftError, match=words):
            recommender.search("glue", **kwargs)
    with pytest.raises(RecsftError, match="query"):
        recommender.search("  ")
    # A folder named search/ that recsft did not write is never replaced.
    stranger = copy_run(bare, tmp_path / "stranger")
    (stranger / "search").mkdir()
    refused(["search", "build", "--run", str(stranger), "--events", str(built["events"])],
            "not a search index")
    shutil.rmtree(stranger)
