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

    Args:
        run_dir: The run folder (model and tokenizer).
        kind: Index kind (:data:`recsft.retrieval.kinds.KINDS`).
        metric: ``"ip"`` (what the model scores) or ``"cosine"``.
        params: The kind's parameters.
        output: Folder for ``item_index.faiss`` / ``item_index.json`` (default: ``run_dir``,
            replacing its index).
        check_queries: Item vectors (sampled with ``seed``) used as queries to measure
            recall@10 against exact search; 0 skips the check.
        seed: Sampling seed of the check.

    Returns:
        An :class:`IndexReport`.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ValueError: an unknown kind, metric or parameter, or a bad parameter value.
    """
    from transformers import AutoModel

    from recsft.modeling import register_auto_classes
    from recsft.retrieval.index import INDEX_FILENAME, ItemIndex
    from recsft.tokenization import BehaviorTokenizer

    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    register_auto_classes()
    model = AutoModel.from_pretrained(run_dir)
    tokenizer = BehaviorTokenizer.from_pretrained(run_dir)
    items = model.item_embeddings().detach().float().cpu().numpy()
    ids = tokenizer.item_ids
    start = time.perf_counter()
    try:
        index = ItemIndex(items, ids, metric=metric, kind=kind, **(params or {}))
    except TypeError as err:
        raise ValueError(str(err)) from err
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
    directory = output or run_dir
    index.save(directory)
    size = os.path.getsize(os.path.join(directory, INDEX_FILENAME))
    return IndexReport(directory=directory, kind=index.kind, params=index.params,
                       items=len(index), dim=index.dim, build_seconds=round(seconds, 3),
                       size_mib=round(size / 2**20, 2),
                       recall_at_10=None if recall is None else round(recall, 4),
                       check_queries=n_check)
