"""Resolve a data config's ``source`` to an event log."""

from __future__ import annotations

from recsft.data.config import DataConfig
from recsft.data.events import EventLog, read_events
from recsft.data.preprocess import collapse_repeats


def load_events(config: DataConfig) -> EventLog:
    """Read (or generate) the events a run config names and apply its cleaning steps.

    Args:
        config: The ``data`` section; ``source`` is ``"synthetic"`` or a path.

    Returns:
        The event log, cleaned.
    """
    if config.source == "synthetic":
        from recsft.data.synthetic import SyntheticConfig, generate_events

        data = generate_events(SyntheticConfig(**config.synthetic))
        log = EventLog(data.events, source="synthetic")
    else:
        log = read_events(config.source, format=config.format, columns=config.columns)
    if config.collapse_repeats:
        log = collapse_repeats(log)
    return log
