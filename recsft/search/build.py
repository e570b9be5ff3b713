"""Building a run's search index (``recsft search build``; the layout, the text source and
the fitting are described in :mod:`recsft.search.index`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError
from recsft.runs import files as F
from recsft.search.index import (
    BM25_DIR,
    FORMAT,
    INFO_FILE,
    RERANKER_DIR,
    VECTORS_FILE,
    _behaviour,
    has_search_index,
)

if TYPE_CHECKING:
    from pathlib import Path

    from recsft.runs.run import Run

KINDS = ("lightgbm", "linear")


def _texts(run: Run, item_table: str | os.PathLike | None, item_text: str | None,
           items: Sequence[str]) -> tuple[dict[str, str], str, str]:
    """``({item: text}, table, template)`` of the catalogue's items that have text."""
    from recsft.text.items import item_texts, read_item_table
    from recsft.text.vectors import item_text_source

    own_table, own_template = item_text_source(run.config.data)
    table = os.fspath(item_table) if item_table is not None else own_table
    template = item_text or own_template
    if table is None:
        raise RecsftError(f"{run.path / F.RUN_CONFIG}: the run has no data.item_table, so the "
                          "items have no text to search; pass --item-table (and --item-text)")
    if not template:
        raise RecsftError(f"{run.path / F.RUN_CONFIG}: no data.item_text template for "
                          f"{table}; pass --item-text, e.g. '{{title}}'")
    frame = read_item_table(table)
    texts = dict(zip(frame["item_id"].astype(str), item_texts(frame, template, source=table)))
    known = set(items)
    texts = {i: t for i, t in texts.items() if i in known and t.strip()}
    if not texts:
        raise RecsftError(f"{table}: no item of the run ({len(items)} items) has text under "
                          f"template {template!r}; expected the run's item ids in item_id")
    return texts, table, template


def build_search_index(run_dir: str | os.PathLike, events: str | os.PathLike,
                       item_table: str | os.PathLike | None = None,
                       item_text: str | None = None, kind: str = "lightgbm",
                       cache_folder: str | os.PathLike | None = None,
                       top_n: int = 100, events_format: str = "auto") -> dict[str, Any]:
    """Fit and save a run's search index (module doc).

    Args:
        run_dir: The run folder (a trained, complete run).
        events: A search log (any format :func:`recsft.data.readers.read_events` reads) with
            a ``query`` column.
        item_table: Item table when the run has none (or to use another one).
        item_text: Text template over its columns (default: the run's ``data.item_text``).
        kind: ``"lightgbm"`` (lambdarank) or ``"linear"`` (logistic fusion).
        cache_folder: The text-vector cache's root; ``None`` for the default.
        top_n: First-stage list length per source.
        events_format: The log's format (``"auto"``: detected).

    Returns:
        The saved ``search.json`` record (counts, kind, sources, files).

    Raises:
        RecsftError: a bad run, a log without queries or without train / valid searches, no
            item text, an unknown kind, an encoder that cannot be loaded.
    """
    from recsft.fileio import atomic_write_text, temporary_folder
    from recsft.runs.run import Run
    from recsft.runs.update import updating
    from recsft.search.bm25 import BM25Retriever
    from recsft.search.events import search_events
    from recsft.search.features import SearchSignals, TextSpace
    from recsft.search.two_stage import TwoStageScorer
    from recsft.text.encoder import TextEncoder

    if kind not in KINDS:
        raise RecsftError(f"search index: kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise RecsftError(f"search index: top_n={top_n!r}; expected an integer >= 1")
    from recsft.data.readers import read_events

    run = Run.open(run_dir)
    previous = run.path / F.SEARCH_DIR
    if previous.exists() and not has_search_index(run.path):
        raise RecsftError(f"{previous}: exists but is not a search index recsft wrote; move "
                          "it away first")
    # The readers keep a `query` column when the file has one.
    searches = search_events(read_events(events, format=events_format))
    items = list(run.tokenizer.item_ids)
    texts, table, template = _texts(run, item_table, item_text, items)
    encoder = TextEncoder(run.config.data.text_encoder)
    text = TextSpace.from_texts(texts, items, encoder, cache_folder=cache_folder)
    recommender = run.recommender()
    popularity = {i: float(run.popularity().count(i)) for i in items}
    signals = SearchSignals(items, bm25=BM25Retriever(texts), text=text,
                            behaviour=_behaviour(recommender, items), popularity=popularity)
    scorer = TwoStageScorer.fit(signals, searches, kind=kind, top_n=top_n)
    info = {"format": FORMAT, "items": items, "kind": kind, "events": os.fspath(events),
            "item_table": table, "item_text": template, "items_with_text": len(texts),
            "text_encoder": str(encoder.folder), "top_n": scorer.top_n,
            "searches": searches.counts(), "features": scorer.reranker.feature_names}
    staging = temporary_folder(run.path.parent, f"{run.path.name}-search")
    try:
        scorer.save(staging / RERANKER_DIR)
        signals.bm25.save(staging / BM25_DIR)
        _save_vectors(staging / VECTORS_FILE, text.item_vectors)
        atomic_write_text(staging / INFO_FILE, json.dumps(info, indent=1, ensure_ascii=False))
        names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*")
                       if p.is_file())
        # The previous index's files leave the manifest with it.
        run.manifest.files = {name: entry for name, entry in run.manifest.files.items()
                              if not name.startswith(f"{F.SEARCH_DIR}/")}
        with updating(run, *(f"{F.SEARCH_DIR}/{n}" for n in names)) as work:
            target = work / F.SEARCH_DIR
            if target.exists():  # the previous index (checked above: written here)
                shutil.rmtree(target)
            os.replace(staging, target)
            staging = None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return {**{k: v for k, v in info.items() if k != "items"}, "num_items": len(items),
            "files": [f"{F.SEARCH_DIR}/{n}" for n in names]}


def _save_vectors(path: Path, vectors: np.ndarray) -> None:
    from safetensors.numpy import save_file

    from recsft.fileio import atomic_save

    atomic_save(path, lambda tmp: save_file({"item_vectors": np.ascontiguousarray(
        vectors, dtype=np.float32)}, tmp))
