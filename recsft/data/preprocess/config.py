"""Which cleaning steps to apply: :class:`PreprocessConfig` and the fixed step order.

Example:
    >>> from recsft.data.preprocess import PreprocessConfig
    >>> PreprocessConfig.from_dict({"collapse_repeats": True, "user_k": 5}).user_k
    5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from typing import Any

STEP_ORDER = (
    "time_window",
    "filter_event_types",
    "drop_duplicates",
    "remove_abnormal_users",
    "split_sessions",
    "collapse_repeats",
    "k_core",
    "filter_sequence_length",
    "weight_event_types",
)
"""The order in which :func:`preprocess` applies the steps it is asked for."""


@dataclass
class PreprocessConfig:
    """Which cleaning steps :func:`preprocess` applies; every step is off by default.

    Attributes:
        start: :func:`time_window` inclusive start (unix seconds, an ISO-8601 string or a YAML
            date), or ``None``.
        end: :func:`time_window` exclusive end, same forms, or ``None``. The window step runs
            when either bound is set.
        keep_event_types: :func:`filter_event_types`: the behaviour types to keep, or ``None``
            to keep all.
        drop_duplicates: :func:`drop_duplicates`: remove exact duplicate events.
        max_events_per_minute: :func:`remove_abnormal_users`: drop users with a 60-second
            window holding more events than this; ``None`` = off.
        session_gap_seconds: :func:`split_sessions`: cut sessions at pauses longer than this
            and make each session a user ``"user#k"``; ``None`` = off.
        collapse_repeats: :func:`collapse_repeats`: consecutive events on one item become
            one event (first timestamp, last type).
        user_k: :func:`k_core`: minimum events per user; k-core runs when ``user_k`` or
            ``item_k`` is above 1.
        item_k: :func:`k_core`: minimum events per item.
        min_length: :func:`filter_sequence_length`: drop users with fewer events; ``None`` =
            off.
        max_length: :func:`filter_sequence_length`: longest sequence; ``None`` = unbounded.
        truncate: With ``max_length``: keep the newest ``max_length`` events of longer users
            (``True``) or drop those users (``False``).
        event_weights: :func:`weight_event_types`: event type -> weight, stored in a
            ``weight`` column; ``None`` = no weights.
        default_weight: Weight of types missing from ``event_weights`` (``None``: an error).
    """

    start: int | float | str | date | None = None
    end: int | float | str | date | None = None
    keep_event_types: list[str] | None = None
    drop_duplicates: bool = False
    max_events_per_minute: int | None = None
    session_gap_seconds: int | None = None
    collapse_repeats: bool = False
    user_k: int = 0
    item_k: int = 0
    min_length: int | None = None
    max_length: int | None = None
    truncate: bool = True
    event_weights: dict[str, float] | None = None
    default_weight: float | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> PreprocessConfig:
        """Build from a mapping (a config file section); unknown keys are an error."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(
                f"unknown preprocessing option(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (for run records)."""
        return asdict(self)


def example_log():
    """The four-event log the examples of this package's docstrings clean: user ``a`` views
    item ``x`` at t = 1, buys it at 2, views ``y`` at 9000; user ``b`` views ``y`` at 3.

    Returns:
        An :class:`~recsft.data.events.EventLog`.
    """
    import pandas as pd

    from recsft.data.events import EventLog

    return EventLog(pd.DataFrame({
        "user_id": ["a", "a", "a", "b"], "item_id": ["x", "x", "y", "y"],
        "timestamp": [1, 2, 9000, 3], "event_type": ["view", "buy", "view", "view"]}))
