"""Resolve where events come from: the synthetic default, a named dataset, an event file, a
prepared folder (``recsft data prepare``), a saved ``datasets.Dataset``, or data in memory.

``data.source`` in a run config is read in this order:

1. ``synthetic``: the embedded generator;
2. an existing path: a folder written by ``recsft data prepare`` (its cleaned events are read,
   not the raw file again), a folder written by ``datasets.Dataset.save_to_disk`` (read like a
   Dataset handed in from Python), or an event file;
3. a registry name (``ml-100k``, ``amazon-beauty``, ...): ``data.path``, else
   ``$RECSFT_DATA_DIR/<name>``, else the download cache (:func:`recsft.data.registry.locate`).

Data handed in from Python (``recsft.train(config, data=frame)``) goes through
:func:`clean_events` like a file's events.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recsft.data.config import DataConfig
from recsft.data.events import EventLog
from recsft.data.preprocess import PreprocessConfig, preprocess
from recsft.data.readers import read_events
from recsft.errors import RecsftError, shorten


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
        config: The ``data`` section; ``source`` is ``"synthetic"``, a path (event file,
            prepared folder, saved ``datasets.Dataset``) or a registry name (with ``path``
            for a local copy).

    Returns:
        The event log, cleaned (a prepared folder's events as it cleaned them).

    Raises:
        RecsftError: a folder that is none of the folders above, a prepared folder cleaned
            otherwise than ``data.preprocess`` says, in-memory data named as the source, or
            a bad file (:class:`~recsft.data.events.EventLogError`).
    """
    from recsft.data.frames import is_memory_source

    source = config.source
    if source == "synthetic":
        from recsft.data.synthetic import SyntheticConfig, generate_events

        data = generate_events(SyntheticConfig(**config.synthetic))
        log = EventLog(data.events, source="synthetic", items=data.items,
                       steps=[{"name": "synthetic", "params": dict(config.synthetic)}])
        return clean_events(log, config)
    if is_memory_source(source):
        raise RecsftError(f"data.source {source}: this run was trained on data handed in from "
                          "Python, which a config cannot read back; pass the same data again "
                          "(recsft.train(config, data=...)) or name a file")
    if os.path.isdir(source):
        return _folder_events(config)
    if not os.path.exists(source):
        if not _is_registered(source):
            from recsft.data.registry import REGISTRY

            raise RecsftError(f"data.source {shorten(source)}: no such file or folder, and not "
                              f"a named dataset (known: {', '.join(sorted(REGISTRY))}); "
                              "expected an event file, a prepared folder or a dataset name")
        _check_named(config)
        log, _ = open_source(dataset=source, path=config.path)
    else:
        log, _ = open_source(input=source, format=config.format, columns=config.columns,
                             event_map=config.event_map)
    return clean_events(log, config)


def clean_events(log: EventLog, config: DataConfig) -> EventLog:
    """Apply ``data.preprocess`` to events read from a source.

    Raises:
        RecsftError: an unknown option, or nothing left after cleaning.
    """
    try:
        options = PreprocessConfig.from_dict(config.preprocess)
    except ValueError as err:
        raise RecsftError(f"data.preprocess: {err}") from None
    return require_events(preprocess(log, options), "data.preprocess")


def source_inputs(config: DataConfig) -> tuple[Path, ...]:
    """The files and folders a config's data section reads that exist here (a training must
    not replace a folder holding them)."""
    return tuple(Path(p) for p in (config.source, config.path)
                 if p and p != "synthetic" and os.path.exists(p))


def _folder_events(config: DataConfig) -> EventLog:
    """Events of a folder named by ``data.source``: prepared, or a saved ``datasets.Dataset``."""
    from recsft.data.prepare import METADATA_FILE, is_prepared_folder, load_prepared_log

    folder = Path(config.source)
    if is_prepared_folder(folder):
        check_prepared(config, folder)
        return require_events(load_prepared_log(folder), f"data.source {folder}")
    if (folder / "dataset_dict.json").is_file():
        raise RecsftError(f"data.source {folder}: a saved datasets.DatasetDict; expected one "
                          "split (save data['train'] with save_to_disk, or pass it from Python)")
    if (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file():
        import datasets

        from recsft.data.frames import events_from_data

        log = events_from_data(datasets.load_from_disk(str(folder)), columns=config.columns,
                               event_map=config.event_map or None)
        log.source = f"{folder} ({log.source[1:-1]})"
        return clean_events(log, config)
    raise RecsftError(f"data.source {folder}: a folder that is not a prepared dataset (no "
                      f"{METADATA_FILE} written by `recsft data prepare`) nor a saved "
                      "datasets.Dataset; expected such a folder, an event file, or a named "
                      "dataset (with data.path for its folder)")


def check_prepared(config: DataConfig, folder: Path) -> None:
    """Refuse a run config that asks for other reading or cleaning than a prepared folder's.

    An empty ``data.preprocess`` (and ``format: auto``, no ``columns`` / ``event_map``) takes
    the folder's as they are; set, each must be what the folder recorded.

    Raises:
        RecsftError: one line naming the first key that differs, both values and the folder.
    """
    from recsft.data.prepare import METADATA_FILE, read_metadata

    metadata = read_metadata(folder)
    settings = metadata.get("settings") or {}
    read = next((s.get("params", {}) for s in metadata.get("steps") or []
                 if s.get("name") == "read"), {})

    def refuse(key: str, ours: Any, theirs: Any) -> RecsftError:
        return RecsftError(
            f"data.{key}: the run config says {shorten(ours)} but the prepared folder {folder} "
            f"was made with {shorten(theirs)}; make them agree (or leave data.{key.split('.')[0]}"
            " unset to take the folder's), or prepare the folder again")

    if config.preprocess:
        if "preprocess" not in settings:
            raise RecsftError(f"data.preprocess: the prepared folder {folder} does not record "
                              "its cleaning options; leave data.preprocess empty to train on it "
                              "as it is, or prepare it with `recsft data prepare`")
        ours = _options(config.preprocess, "data.preprocess")
        theirs = _options(settings["preprocess"], str(folder / METADATA_FILE))
        for key, value in ours.items():
            if not _same(value, theirs[key]):
                raise refuse(f"preprocess.{key}", value, theirs[key])
    if config.format != "auto" and read.get("format") not in (None, config.format):
        raise refuse("format", config.format, read.get("format"))
    recorded = read.get("columns") or {}
    for key, value in (config.columns or {}).items():
        if recorded.get(key) != value:
            raise refuse(f"columns.{key}", value, recorded.get(key))
    if config.event_map and dict(config.event_map) != (read.get("event_map") or {}):
        raise refuse("event_map", dict(config.event_map), read.get("event_map"))


def _options(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    try:
        return PreprocessConfig.from_dict(raw).to_dict()
    except (TypeError, ValueError) as err:
        raise RecsftError(f"{where}: {err}") from None


def _same(a: Any, b: Any) -> bool:
    """Equal, or equal as text (a YAML date against the same date given as a string)."""
    return a == b or (a is not None and b is not None and str(a) == str(b))


def _check_named(config: DataConfig) -> None:
    """A named dataset is read with its own reader: refuse reader settings that would be
    ignored."""
    from recsft.data.registry import get_spec

    spec = get_spec(config.source)
    if config.format not in ("auto", spec.format):
        raise RecsftError(f"data.format: '{config.format}' but the named dataset "
                          f"'{config.source}' is read as '{spec.format}'; leave data.format "
                          "at auto for a named dataset")
    for key in ("columns", "event_map"):
        if getattr(config, key):
            raise RecsftError(f"data.{key}: does not apply to the named dataset "
                              f"'{config.source}' (read with its own reader); remove it, or "
                              "name the event file as data.source")


def require_events(log: EventLog, where: str) -> EventLog:
    """The log, unless reading and cleaning left no event at all.

    Raises:
        RecsftError: naming ``where`` (the options that were applied) and the steps.
    """
    if len(log) == 0:
        steps = ", ".join(f"{s.get('name')}" for s in log.steps) or "none"
        raise RecsftError(f"{where}: no event of {log.source} is left after cleaning (steps: "
                          f"{steps}); loosen the options (k-core, time window, lengths)")
    return log


def _is_registered(name: str) -> bool:
    from recsft.data.registry import REGISTRY

    return name in REGISTRY
