"""Resolve where events come from: the synthetic default, a file, or a named dataset."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recsft.data.config import DataConfig
from recsft.data.events import EventLog
from recsft.data.preprocess import PreprocessConfig, preprocess
from recsft.data.readers import read_events


def open_source(
    dataset: str | None = None,
    path: str | os.PathLike | None = None,
    input: str | os.PathLike | None = None,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    event_map: Mapping[str, str] | None = None,
) -> tuple[EventLog, Path]:
    """Read events from a named dataset (``dataset``, optionally its local ``path``) or a file.

    Args:
        dataset: Registry name (see :mod:`recsft.data.registry`).
        path: Local copy of the named dataset (its folder or its event file).
        input: An event file (any format :func:`~recsft.data.readers.read_events` reads).
        format: Reader for ``input``.
        columns: Column mapping for ``input``.
        event_map: Source event type -> canonical type, for ``input``.

    Returns:
        ``(event log, the file it was read from)``.
    """
    if (dataset is None) == (input is None):
        raise ValueError("give exactly one of a named dataset (--dataset) or a file (--input)")
    if dataset is not None:
        from recsft.data.registry import get_spec, locate

        spec = get_spec(dataset)
        events = locate(dataset, path)
        log = read_events(events, format=spec.format, columns=spec.columns or None)
        return log, events
    kwargs: dict[str, Any] = {"format": format, "columns": dict(columns or {}) or None}
    if event_map:
        kwargs["event_map"] = dict(event_map)
    return read_events(input, **kwargs), Path(input)


def load_events(config: DataConfig) -> EventLog:
    """Read (or generate) the events a run config names and apply its cleaning steps.

    Args:
        config: The ``data`` section; ``source`` is ``"synthetic"``, a registry name (with
            ``path`` for a local copy) or a path to an event file.

    Returns:
        The event log, cleaned.
    """
    options = PreprocessConfig.from_dict(config.preprocess)
    if config.source == "synthetic":
        from recsft.data.synthetic import SyntheticConfig, generate_events

        data = generate_events(SyntheticConfig(**config.synthetic))
        log = EventLog(data.events, source="synthetic", items=data.items,
                       steps=[{"name": "synthetic", "params": dict(config.synthetic)}])
    elif not os.path.exists(config.source) and _is_registered(config.source):
        log, _ = open_source(dataset=config.source, path=config.path)
    else:
        log, _ = open_source(input=config.source, format=config.format, columns=config.columns,
                             event_map=config.event_map)
    return require_events(preprocess(log, options), "data.preprocess")


def require_events(log: EventLog, where: str) -> EventLog:
    """The log, unless reading and cleaning left no event at all.

    Raises:
        RecsftError: naming ``where`` (the options that were applied) and the steps.
    """
    from recsft.errors import RecsftError

    if len(log) == 0:
        steps = ", ".join(f"{s.get('name')}" for s in log.steps) or "none"
        raise RecsftError(f"{where}: no event of {log.source} is left after cleaning (steps: "
                          f"{steps}); loosen the options (k-core, time window, lengths)")
    return log


def _is_registered(name: str) -> bool:
    from recsft.data.registry import REGISTRY

    return name in REGISTRY
