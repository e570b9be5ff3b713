"""``recsft.train``: train a run from Python, on the config's source or on data in memory.

It is :func:`recsft.training.pipeline.run_training` (what ``recsft train`` runs) with the
conveniences of a Python session: the config may be a :class:`~recsft.config.RunConfig`, a dict
or a YAML path, and the events may be handed in as a pandas DataFrame, a ``datasets.Dataset`` or
an :class:`~recsft.data.events.EventLog` instead of ``data.source``. Handed-in events are the
source: they are checked like a file's (``data.columns`` / ``data.event_map`` apply) and cleaned
with ``data.preprocess``, so a DataFrame read from an event file trains exactly as the file
does. The run records where they came from: ``data.source`` in the run's config and
``dataset.source`` in ``metrics.json`` become ``<in-memory pandas.DataFrame sha256:...>``, the
SHA-256 of the canonical events (:func:`recsft.data.frames.events_sha256`).

Example:
    >>> import pandas as pd, recsft                                       # doctest: +SKIP
    >>> events = pd.read_csv("events.csv")                                # doctest: +SKIP
    >>> run = recsft.train("configs/demo.yaml", data=events,              # doctest: +SKIP
    ...                    overrides=["name=shop", "training.epochs=5"])
    >>> run.test["ndcg@10"], run.run_dir                                  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsft.errors import RecsftError

if TYPE_CHECKING:
    from recsft.config import RunConfig
    from recsft.runs.run import Run


@dataclass
class TrainedRun:
    """What :func:`train` returns.

    Attributes:
        run_dir: The run folder (``output_dir/name``).
        test: Test metrics of the best checkpoint, as in ``metrics.json`` (``"ndcg@10"`` ...).
        valid: Its validation metrics.
        record: The whole ``metrics.json`` record (dataset, protocol, baselines, training,
            environment, config).
    """

    run_dir: Path
    test: dict[str, float]
    valid: dict[str, float]
    record: dict[str, Any]

    def open(self, verify: bool = True) -> Run:
        """The run folder as a :class:`~recsft.runs.run.Run` (model, tokenizer, evaluators)."""
        from recsft.runs.run import Run

        return Run.open(self.run_dir, verify=verify)


def train(
    config: RunConfig | dict[str, Any] | str | os.PathLike,
    data: Any = None,
    *,
    items: Any = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainedRun:
    """Train, evaluate and write a run, like ``recsft train``.

    Args:
        config: A :class:`~recsft.config.RunConfig`, a dict of its sections, or the path of a
            YAML run config.
        data: Events to train on instead of ``data.source``: a pandas DataFrame, a
            ``datasets.Dataset`` (one split; for a ``DatasetDict`` pass ``dd["train"]``), a
            pyarrow Table or an :class:`~recsft.data.events.EventLog`. Columns are found under
            the canonical names (``user_id``, ``item_id``, ``timestamp``, optional
            ``event_type``) or as ``data.columns`` maps them; ``data.preprocess`` cleans them.
        items: With ``data``, an item attribute table (DataFrame with ``item_id``), e.g. the
            categories for ``model.use_categories``.
        overrides: ``section.key=value`` strings, as ``recsft train --set``.
        resume: Continue this run's interrupted training (``training.save_every_steps``).
        overwrite: Replace an existing run of this name once the new one is complete.

    Returns:
        The run folder and its metrics.

    Raises:
        ConfigError: a config that cannot be read.
        EventLogError: ``data`` lacks a column or holds a value the readers refuse.
        RecsftError: any other refusal of ``recsft train`` (existing run, memory, ...).
    """
    from recsft.training.pipeline import run_training

    run_config = as_run_config(config, overrides)
    log = None
    if data is not None:
        from recsft.data.frames import events_from_data
        from recsft.data.sources import clean_events

        section = run_config.data
        raw = events_from_data(data, columns=section.columns, event_map=section.event_map or None,
                               items=items)
        log = clean_events(raw, section)
        run_config = _with_source(run_config, raw.source)
    elif items is not None:
        raise RecsftError("items: an item table is taken with data=...; for a config's source, "
                          "the reader finds the item table beside the events")
    record = run_training(run_config, resume=resume, overwrite=overwrite, log=log)
    return TrainedRun(run_dir=Path(run_config.run_dir), test=record["test"],
                      valid=record["valid"], record=record)


def as_run_config(config: Any, overrides: list[str] | None = None) -> RunConfig:
    """A :class:`~recsft.config.RunConfig` from a RunConfig, a dict or a YAML path.

    Raises:
        ConfigError: the config cannot be read, or an override is malformed.
        RecsftError: ``config`` is none of these.
    """
    from recsft.config import RunConfig, apply_override

    if isinstance(config, (str, os.PathLike)):
        return RunConfig.from_yaml(config, list(overrides or []))
    if isinstance(config, RunConfig):
        if not overrides:
            return copy.deepcopy(config)
        raw, source = config.to_dict(), "<RunConfig>"
    elif isinstance(config, dict):
        raw, source = copy.deepcopy(config), "<dict>"
    else:
        raise RecsftError(f"config: a {type(config).__name__}; expected a RunConfig, a dict or "
                          "the path of a YAML run config")
    for override in overrides or []:
        apply_override(raw, override)
    return RunConfig.from_dict(raw, source=source)


def _with_source(config: RunConfig, source: str) -> RunConfig:
    """The config with ``data.source`` naming the in-memory data (what the run records)."""
    changed = copy.deepcopy(config)
    changed.data.source = source
    return changed
