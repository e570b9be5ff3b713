"""New items without retraining: a model that reads item text scores an item from its text.

:func:`add_run_items` (``recsft index add``) and :meth:`Recommender.add_items
<recsft.retrieval.recommender.Recommender.add_items>` read an item table, build each new item's
text with the run's template (``data.item_text``), encode it with the run's text encoder
(``data.text_encoder``, through the text-vector cache) and grow every part of the run at the end
of its vocabulary, existing ids and scores unchanged:

* the model (:meth:`~recsft.modeling.layers.RecsftPreTrainedModel.add_items`: the new items have
  no id embedding and are scored from their text alone);
* the tokenizer (:meth:`~recsft.tokenization.BehaviorTokenizer.add_items`);
* the FAISS item index (the new vectors appended, so it keeps its kind and trained cells);
* the item popularity (0 training interactions) and the item transitions, if any (no
  transitions from or to the new items);
* ``added_items.json``: every addition (ids, time, table), for audit.

A run folder is changed through :func:`recsft.runs.update.updating`: a crash leaves the old run
whole, and the manifest records the new files and the new vocabulary size. Items the run
already knows are skipped (their ids stay stable) and reported.

Example:
    >>> report = add_run_items("runs/demo", "new_items.csv")          # doctest: +SKIP
    >>> report.added, report.known                                      # doctest: +SKIP
    (['i9001', 'i9002'], ['i0042'])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsft.errors import RecsftError
from recsft.runs import files as F

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from recsft.config import RunConfig
    from recsft.retrieval.recommender import Recommender
    from recsft.runs.run import Run

__all__ = ["ADDED_ITEMS", "AddedItems", "add_run_items", "add_recommender_items",
           "new_item_texts"]

#: The audit record of a run's added items, a JSON list of additions.
ADDED_ITEMS = F.ADDED_ITEMS


@dataclass
class AddedItems:
    """What one addition did.

    Attributes:
        added: The new items, in table order (their token ids follow the old vocabulary).
        known: Items of the table the run already knew (skipped; ids unchanged).
        table: The table's path (``"<DataFrame>"`` for a frame).
        vectors: ``(len(added), dim)`` the new items' model vectors (as the index holds them),
            ``None`` when none were added.
    """

    added: list[str]
    known: list[str]
    table: str
    vectors: np.ndarray | None = None

    def record(self) -> dict[str, Any]:
        """The entry of ``added_items.json``."""
        return {"added": self.added, "known": self.known, "table": self.table,
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def new_item_texts(table: str | os.PathLike | pd.DataFrame, template: str,
                   known: Collection[str]) -> tuple[dict[str, str], list[str], str]:
    """The texts of a table's items the run does not know yet.

    Args:
        table: An item table (CSV / TSV / Parquet / JSON lines, read by
            :func:`recsft.text.items.read_item_table`) or a DataFrame with an ``item_id``
            column.
        template: ``str.format``-style over the table's columns, or a bare column name.
        known: The run's item ids.

    Returns:
        ``({new item: text}, known items of the table, the table's name)``, in table order.

    Raises:
        RecsftError: the table cannot be read, has no ``item_id`` column, lacks a column of
            the template, repeats an item, or has a new item without text (naming it).
    """
    import pandas as pd

    from recsft.text.items import cell_text, item_texts, read_item_table, template_columns

    if isinstance(table, pd.DataFrame):
        source, frame = "<DataFrame>", table
        if "item_id" not in frame.columns:
            raise RecsftError(f"the item table (a DataFrame) has no 'item_id' column; its "
                              f"columns: {list(map(str, frame.columns))}")
    else:
        source, frame = os.fspath(table), read_item_table(table)
    ids = [str(item) for item in frame["item_id"].tolist()]
    texts = item_texts(frame, template, source=source)
    columns = template_columns(template)
    seen: set[str] = set()
    repeated = next((item for item in ids if item in seen or seen.add(item)), None)
    if repeated is not None:
        raise RecsftError(f"{source}: item {repeated!r} appears more than once; expected one "
                          "row per item")
    known_set = set(known)
    new: dict[str, str] = {}
    for row, (item, text) in enumerate(zip(ids, texts)):
        if item in known_set:
            continue
        if not any(cell_text(frame[name].iloc[row]).strip() for name in columns):
            raise RecsftError(f"{source}: item {item!r} (row {row + 1}) has no text: its "
                              f"{', '.join(columns)} {'is' if len(columns) == 1 else 'are'} "
                              f"empty (template {template!r})")
        new[item] = text
    return new, [item for item in ids if item in known_set], source


def check_reads_text(model: Any, where: str) -> None:
    """Refuse a model that scores items by id alone.

    Raises:
        RecsftError: ``model.config.item_representation`` is ``"id"``.
    """
    if getattr(model.config, "item_representation", "id") == "id":
        raise RecsftError(f"{where}: the model reads no item text (model.item_representation "
                          "'id'), so it cannot score new items without retraining; train it "
                          "with model.item_representation 'text' or 'id+text'")


def text_vectors(config: RunConfig, model: Any, texts: dict[str, str],
                 cache_folder: str | os.PathLike | None = None) -> np.ndarray:
    """``(len(texts), text_dim)`` vectors of the new texts from the run's encoder
    (``data.text_encoder``), through the text-vector cache.

    Raises:
        RecsftError: the encoder cannot be loaded, or its width is not the model's ``text_dim``.
    """
    from recsft.text.encoder import TextEncoder
    from recsft.text.vectors import TokenTexts

    encoder = TextEncoder(config.data.text_encoder)
    if encoder.dim != model.config.text_dim:
        raise RecsftError(f"text encoder {encoder.folder} gives {encoder.dim}-wide vectors, but "
                          f"the model was trained on {model.config.text_dim}-wide ones "
                          "(data.text_encoder must be the encoder it was trained with)")
    items = list(texts)
    return TokenTexts.encode(texts, items, encoder, cache_folder=cache_folder).vectors


def grow(model: Any, tokenizer: Any, vectors: np.ndarray, items: Sequence[str],
         index: Any = None, popularity: Any = None, transitions: Any = None
         ) -> tuple[np.ndarray, Any, Any]:
    """Append ``items`` (with their ``(n, text_dim)`` text ``vectors``) to every part.

    The model and the tokenizer (and ``index``) are grown in place.

    Returns:
        ``(the new items' model vectors (n, dim), the grown popularity, the grown
        transitions)``; ``None`` for a part not given.
    """
    import torch

    tokenizer.add_items(items)
    model.add_items(torch.from_numpy(vectors))
    with torch.no_grad():
        new = model.item_embeddings()[-len(items):].detach().float().cpu().numpy()
    if index is not None:
        index.add(new, list(items))
    if popularity is not None:
        popularity = grow_popularity(popularity, items)
    if transitions is not None:
        transitions = grown_transitions(transitions, len(items))
    return new, popularity, transitions


def grown_transitions(chain: Any, n: int) -> Any:
    """The item transitions with ``n`` more items that have no transitions from or to them."""
    import numpy as np

    from recsft.modeling.transitions import ItemTransitions

    matrix = chain.matrix
    indptr = np.concatenate([matrix.indptr, np.full(n, matrix.indptr[-1])])
    return ItemTransitions(indptr, matrix.indices, matrix.data,
                           np.concatenate([chain.totals, np.zeros(n)]), chain.num_items + n,
                           chain.settings)


def add_run_items(run_dir: str | os.PathLike, table: str | os.PathLike | pd.DataFrame,
                  template: str | None = None,
                  cache_folder: str | os.PathLike | None = None) -> AddedItems:
    """Add a table's new items to a run folder, without retraining.

    Args:
        run_dir: The run folder.
        table: The new items' table (path or DataFrame), keyed by ``item_id``.
        template: The text template; default: the run's ``data.item_text``.
        cache_folder: The text-vector cache's root; ``None`` for the default.

    Returns:
        An :class:`AddedItems`; nothing is written when every item is known.

    Raises:
        RunFolderError: the run is incomplete or altered.
        RecsftError: the model reads no text, or a bad table (see :func:`new_item_texts`).
    """
    from recsft.runs.run import Run

    run = Run.open(run_dir)
    model, tokenizer = run.model(), run.tokenizer
    check_reads_text(model, str(run.path))
    texts, known, source = new_item_texts(table, run_template(run, template),
                                          tokenizer.item_ids)
    report = AddedItems(list(texts), known, source)
    if not texts:
        return report
    vectors = text_vectors(run.config, model, texts, cache_folder)
    has_chain = F.TRANSITIONS in run.manifest.files
    index = run.index()
    report.vectors, popularity, chain = grow(
        model, tokenizer, vectors, report.added, index, run.popularity(),
        run.transitions() if has_chain else None)
    write_run(run, model, tokenizer, index, popularity, chain, report)
    return report


def add_recommender_items(recommender: Recommender, table: str | os.PathLike | pd.DataFrame,
                          template: str | None = None,
                          cache_folder: str | os.PathLike | None = None) -> AddedItems:
    """Add a table's new items to a recommender in memory, and to the local run folder it was
    opened from (:attr:`Recommender.run_folder`), if any.

    A recommender not opened from a run needs ``template``; its encoder is then the default
    one.

    Raises:
        RecsftError: the model reads no text, no template, a bad table, or the run folder
            changed since the recommender loaded it.
    """
    from recsft.config import RunConfig
    from recsft.runs.run import Run

    folder = recommender.run_folder
    run = Run.open(folder) if folder is not None else None
    model, tokenizer = recommender.model, recommender.tokenizer
    check_reads_text(model, str(folder) if folder is not None else "the recommender")
    if run is not None and recommender.writes_run and (
            run.model_sha256 != recommender.run_model_sha256
            or list(run.tokenizer.item_ids) != list(tokenizer.item_ids)):
        raise RecsftError(f"{run.path}: the run folder changed since this recommender "
                          "loaded it; load it again before adding items")
    if run is None and template is None:
        raise RecsftError("a recommender not opened from a run folder needs template= (the "
                          "items' text template over the table's columns)")
    texts, known, source = new_item_texts(table, run_template(run, template),
                                          tokenizer.item_ids)
    report = AddedItems(list(texts), known, source)
    if not texts:
        return report
    config = run.config if run is not None else RunConfig.from_dict({})
    vectors = text_vectors(config, model, texts, cache_folder)
    report.vectors, recommender.popularity, recommender.transitions = grow(
        model, tokenizer, vectors, report.added, recommender.index, recommender.popularity,
        recommender.transitions)
    if recommender.content is not None:  # the text-similarity term scores them too
        recommender.content.add_items(vectors)
    recommender.items_changed()
    if run is not None and recommender.writes_run:
        index = recommender.index
        if recommender.index_folder is not None:
            # The run's own index gains the items (the recommender searches another one).
            index = run.index()
            index.add(report.vectors, report.added)
        popularity = recommender.popularity
        if popularity is None:
            popularity = grow_popularity(run.popularity(), report.added)
        chain = None
        if F.TRANSITIONS in run.manifest.files:
            chain = (recommender.transitions if recommender.transitions is not None
                     else grown_transitions(run.transitions(), len(report.added)))
        write_run(run, model, tokenizer, index, popularity, chain, report)
        recommender.run_model_sha256 = run.model_sha256
    return report


def grow_popularity(popularity: Any, items: Sequence[str]) -> Any:
    """``popularity`` with ``items`` at 0 training interactions."""
    from recsft.retrieval.popularity import Popularity

    counts = {item: popularity.count(item) for item in popularity.item_ids}
    return Popularity({**counts, **dict.fromkeys(items, 0)})


def run_template(run: Run | None, template: str | None) -> str:
    """``template``, else the run's ``data.item_text`` (or its named dataset's).

    Raises:
        RecsftError: neither is set.
    """
    if template:
        return template
    from recsft.text.vectors import item_text_source

    found = item_text_source(run.config.data)[1] if run is not None else None
    if not found:
        where = f"{run.path / F.RUN_CONFIG}" if run is not None else "the recommender"
        raise RecsftError(f"{where}: no data.item_text template; pass one (--text-template)")
    return found


def write_run(run: Run, model: Any, tokenizer: Any, index: Any, popularity: Any, chain: Any,
              report: AddedItems) -> None:
    """Write the grown parts into the run folder through
    :func:`~recsft.runs.update.updating`, with the addition appended to ``added_items.json``.

    The model and the tokenizer are saved in a temporary folder beside the run and renamed over
    the copy's linked files (a linked file is never written in place).
    """
    from recsft.fileio import atomic_write_text, read_json, temporary_folder
    from recsft.runs.update import updating

    history = []
    if (run.path / ADDED_ITEMS).is_file():
        history = read_json(run.path / ADDED_ITEMS, "added items record")
        if not isinstance(history, list):
            raise RecsftError(f"{run.path / ADDED_ITEMS}: expected a JSON list of additions")
    info = {"vocab_size": int(model.config.vocab_size), "num_items": tokenizer.num_items}
    staging = temporary_folder(run.path.parent, f"{run.path.name}-items")
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        saved = sorted(path.name for path in staging.iterdir() if path.is_file())
        names = [*saved, F.INDEX, F.INDEX_IDS, F.POPULARITY, ADDED_ITEMS,
                 *([F.TRANSITIONS] if chain is not None else [])]
        with updating(run, *names, info=info) as work:
            for name in saved:
                os.replace(staging / name, work / name)
            index.save(work)
            popularity.save(work)
            if chain is not None:
                chain.save(str(work))
            atomic_write_text(work / ADDED_ITEMS,
                              json.dumps([*history, report.record()], indent=1))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for cached in ("tokenizer", "model_config"):
        run.__dict__.pop(cached, None)
    if F.ENCODER_ONNX in run.manifest.files:
        reexport_encoder(run)


def reexport_encoder(run: Run) -> None:
    """Export the run's ONNX encoder again after its vocabulary grew (the old graph holds the
    old embedding table, and ``recsft serve --backend onnx`` refuses it). Without the
    ``recsft[serve]`` extra a note says how to do it by hand."""
    import importlib.util

    from recsft import progress

    if any(importlib.util.find_spec(name) is None
           for name in ("onnx", "onnxruntime", "onnxscript")):
        progress.note(f"{run.path / F.ENCODER_ONNX} predates the new items: export it again "
                      f"with 'recsft export onnx --run {run.path}' (needs recsft[serve])")
        return
    from recsft.export.onnx import export_onnx

    export_onnx(run)
    progress.note(f"exported {run.path / F.ENCODER_ONNX} again for the grown vocabulary")
