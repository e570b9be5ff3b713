"""Rebuild a run folder's FAISS item index as another kind (``recsft index build``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IndexReport", "build_run_index", "parse_params"]


@dataclass
class IndexReport:
    """What :func:`build_run_index` built.

    Attributes:
        directory: Where the index was written.
        kind: Index kind.
        params: Its parameters, defaults filled in.
        items: Indexed items.
        dim: Vector dimension.
        build_seconds: Construction time (training included).
        size_mib: Size of the FAISS file.
        recall_at_10: Mean overlap of its top-10 with exact search, over ``check_queries``
            item vectors used as queries (``None`` when not checked).
        check_queries: Queries of that check.
    """

    directory: str
    kind: str
    params: dict[str, Any]
    items: int
    dim: int
    build_seconds: float
    size_mib: float
    recall_at_10: float | None
    check_queries: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        from dataclasses import asdict

        return asdict(self)


def parse_params(pairs: dict[str, str]) -> dict[str, int]:
    """``{"m": "48"}`` → ``{"m": 48}``: index parameters from ``KEY=VALUE`` strings.

    Raises:
        ValueError: a value is not an integer (naming the parameter).
    """
    params = {}
    for key, value in pairs.items():
        try:
            params[key] = int(value)
        except ValueError:
            raise ValueError(f"--param {key}={value}: expected an integer") from None
    return params


def build_run_index(run_dir: str, kind: str = "flat", metric: str = "ip",
                    params: dict[str, Any] | None = None, output: str | None = None,
                    check_queries: int = 500, seed: int = 0) -> IndexReport:
    """Build an index of ``kind`` over a run's item embeddings and save it.

    Into the run folder (default), the run is updated as a whole
    (:func:`recsft.runs.update.updating`): the old index stays in force until the new one and
    the manifest recording it are complete. Into another folder (``output``), that folder gets
    its own manifest naming the run and the digest of the model the vectors came from, and
    ``Run.index(output)`` refuses it for any other model.

    Args:
        run_dir: The run folder (model and tokenizer).
        kind: Index kind (:data:`recsft.retrieval.kinds.KINDS`).
        metric: ``"ip"`` (what the model scores) or ``"cosine"``.
        params: The kind's parameters.
        output: Folder for ``item_index.faiss`` / ``item_index.json`` (default: ``run_dir``,
            replacing its index): a new folder or an index folder recsft wrote.
        check_queries: Item vectors (sampled with ``seed``) used as queries to measure
            recall@10 against exact search; 0 skips the check.
        seed: Sampling seed of the check.

    Returns:
        An :class:`IndexReport`.

    Raises:
        RunFolderError: ``run_dir`` is not a complete, intact run.
        RefusedError: ``output`` is a file or a folder recsft did not write as an index.
        RecsftError: an unknown kind, metric or parameter, or a bad parameter value.
    """
    from pathlib import Path

    from recsft.errors import RecsftError
    from recsft.retrieval.index import INDEX_FILENAME, ItemIndex
    from recsft.runs import Run
    from recsft.runs.files import INDEX, INDEX_IDS

    run = Run.open(run_dir)
    separate = output is not None and Path(output).resolve() != run.path.resolve()
    if separate:
        from recsft.runs.guard import check_folder_output

        check_folder_output(output, "--output", _is_index_folder, "an index",
                            inputs=(run_dir,))
    model = run.model()
    items = model.item_embeddings().detach().float().cpu().numpy()
    ids = run.tokenizer.item_ids
    start = time.perf_counter()
    try:
        index = ItemIndex(items, ids, metric=metric, kind=kind, **(params or {}))
    except TypeError as err:
        raise RecsftError(str(err)) from err
    seconds = time.perf_counter() - start
    recall = None
    n_check = min(check_queries, len(ids))
    if n_check and index.kind != "flat":
        rows = np.random.default_rng(seed).choice(len(ids), n_check, replace=False)
        queries = items[rows]
        _, exact = ItemIndex(items, ids, metric=metric).search(queries, 10)
        _, approx = index.search(queries, 10)
        recall = float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))
    elif n_check:
        recall = 1.0
    if separate:
        directory = str(_save_index_folder(index, Path(output), run))
    else:
        from recsft.runs.update import updating

        with updating(run, INDEX, INDEX_IDS) as folder:
            index.save(folder)
        directory = str(run.path)
    size = os.path.getsize(os.path.join(directory, INDEX_FILENAME))
    return IndexReport(directory=directory, kind=index.kind, params=index.params,
                       items=len(index), dim=index.dim, build_seconds=round(seconds, 3),
                       size_mib=round(size / 2**20, 2),
                       recall_at_10=None if recall is None else round(recall, 4),
                       check_queries=n_check)


def _is_index_folder(path: Any) -> bool:
    from recsft.errors import RunFolderError
    from recsft.runs.manifest import Manifest

    try:
        Manifest.load(path, kind="recsft-index")
    except RunFolderError:
        return False
    return True


def _save_index_folder(index: Any, output: Any, run: Any) -> Any:
    """Write an index folder beside the run (built aside, manifest last, swapped in)."""
    from recsft.fileio import swap_in, temporary_folder
    from recsft.runs.manifest import Manifest

    work = temporary_folder(output.resolve().parent, output.name)
    try:
        index.save(work)
        Manifest.build(work, "recsft-index", {"run": str(run.path.resolve()),
                                              "model_sha256": run.model_sha256}).save(work)
        swap_in(work, output)
    except BaseException:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        raise
    return output
