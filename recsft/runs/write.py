"""Writing a run folder: the files a training leaves, then the manifest, then the swap.

:func:`write_run` writes everything into the training's work folder
(``<output_dir>/.<name>.partial``); :func:`finish_run` writes the manifest last and renames the
work folder onto ``<output_dir>/<name>``, replacing an older run only at that moment. A process
killed before that leaves the old run whole and the work folder incomplete (no manifest), which
no command reads as a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from recsft.fileio import atomic_write_text, swap_in
from recsft.runs import files as F
from recsft.runs.guard import PARTIAL_MARKER, RunPlan
from recsft.runs.manifest import Manifest

if TYPE_CHECKING:
    from recsft.config import RunConfig
    from recsft.data.events import EventLog
    from recsft.tokenization import BehaviorTokenizer


def write_run(folder: str | os.PathLike, config: RunConfig, record: dict[str, Any], model: Any,
              tokenizer: BehaviorTokenizer, category_names: list[str] | None = None,
              counts: np.ndarray | None = None, log: EventLog | None = None) -> None:
    """Write a trained run's files (besides the model and tokenizer, saved at the best epoch).

    Args:
        folder: The work folder.
        config: The resolved run config (``run_config.yaml``).
        record: The metrics record (``metrics.json``).
        model: The trained model (its item vectors go into the FAISS index).
        tokenizer: The run's tokenizer.
        category_names: Names of category ids ``1..n`` (``categories.json``).
        counts: Training interactions per item, aligned with ``tokenizer.item_ids``
            (``item_popularity.json``, the recommender's cold-start answer).
        log: The cleaned events, saved so that reopening the run does not parse the source.
    """
    from recsft.retrieval.index import ItemIndex
    from recsft.retrieval.popularity import Popularity
    from recsft.runs.data import save_events

    folder = Path(folder)
    if counts is not None:
        Popularity(dict(zip(tokenizer.item_ids, counts.tolist()))).save(folder)
    if category_names is not None:
        atomic_write_text(folder / F.CATEGORIES, json.dumps(category_names))
    items = model.item_embeddings().detach().float().cpu().numpy()
    ItemIndex(items, tokenizer.item_ids, metric="ip").save(folder)
    if log is not None:
        save_events(log, folder)
    atomic_write_text(folder / F.RUN_CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))
    atomic_write_text(folder / F.METRICS, json.dumps(record, indent=2, default=str))


def finish_run(plan: RunPlan, summary: dict[str, Any]) -> Path:
    """Write the manifest (last) and swap the work folder in as the run.

    Args:
        plan: Where the training wrote (:func:`recsft.runs.guard.plan_run`).
        summary: ``model_type``, ``vocab_size``, ``num_items`` for the manifest.

    Returns:
        The run folder.
    """
    _follow_umask(plan.work)
    Manifest.build(plan.work, "recsft-run", summary).save(plan.work)
    swap_in(plan.work, plan.final)
    (plan.final / PARTIAL_MARKER).unlink(missing_ok=True)
    return plan.final


def _follow_umask(folder: Path) -> None:
    """Give every file and folder the umask's mode: libraries that write for us
    (``save_pretrained``'s safetensors, TensorBoard) create some files ``0600``."""
    from recsft.fileio import file_mode, folder_mode

    for root, dirs, names in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), folder_mode())
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, file_mode())
