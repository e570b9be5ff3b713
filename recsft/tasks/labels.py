"""Task labels from an event log, without leakage.

Every task uses one global cutoff time ``t0``. A user's features are their events strictly
before ``t0``; the label is read from the window ``[t0, t0 + horizon)``:

* ``purchase``: 1 if the user has a ``purchase_event`` (default ``buy``) in the window, else 0.
* ``churn``: 1 if the user has no event at all in the window, else 0.
* ``next_event``: the type of the user's first event at or after ``t0`` (users without one are
  left out); the classes are the event types of the log, in sorted order.

Users with fewer than ``min_history`` events before ``t0`` are left out. The default cutoff is
``last timestamp - horizon``, so that the whole label window lies inside the log. A pretrained
encoder must not have seen events at or after ``t0``: pretrain it with ``data.test_end`` set to
the cutoff (``recsft.tasks.finetune`` checks the run's config).

Example:
    >>> examples = make_examples(log, TaskConfig(task="churn", horizon_days=7))
    >>> examples.labels.mean()          # share of users who churn
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recsft.data.events import EventLog

__all__ = ["TASKS", "TaskConfig", "TaskExamples", "make_examples", "resolve_cutoff"]

TASKS: tuple[str, ...] = ("purchase", "next_event", "churn")
DAY = 86_400


@dataclass
class TaskConfig:
    """What to predict and from which window.

    Attributes:
        task: ``purchase``, ``next_event`` or ``churn``.
        cutoff: ``t0`` in unix seconds, or an ISO date/time (UTC); ``None`` → the log's last
            timestamp minus the horizon.
        horizon_days: Length of the label window.
        purchase_event: The event type counted as a purchase.
        min_history: Fewest events before ``t0`` for a user to be an example.
    """

    task: str = "purchase"
    cutoff: int | str | None = None
    horizon_days: float = 7.0
    purchase_event: str = "buy"
    min_history: int = 2

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {list(TASKS)}")
        if not self.horizon_days > 0:
            raise ValueError(f"horizon_days must be positive, got {self.horizon_days}")
        if self.min_history < 1:
            raise ValueError(f"min_history must be at least 1, got {self.min_history}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TaskConfig:
        """Build from a mapping, naming an unknown key."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown task option(s) {unknown}; known: {sorted(names)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TaskExamples:
    """Users, their histories before the cutoff, and their labels.

    Attributes:
        user_ids: One per example.
        items: Item ids before ``t0``, oldest first.
        event_types: Parallel event types.
        timestamps: Parallel timestamps (seconds).
        labels: ``(n,)`` int64 class indices.
        classes: Class names; ``labels[i]`` indexes them.
        cutoff: ``t0`` in unix seconds.
        window_end: ``t0 + horizon`` in unix seconds.
    """

    user_ids: list[str]
    items: list[list[str]]
    event_types: list[list[str]]
    timestamps: list[list[int]]
    labels: np.ndarray
    classes: list[str]
    cutoff: int
    window_end: int
    config: TaskConfig = field(default_factory=TaskConfig)

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, rows: np.ndarray) -> TaskExamples:
        """The examples at ``rows``."""
        rows = [int(r) for r in rows]
        return dataclasses.replace(
            self, user_ids=[self.user_ids[r] for r in rows], items=[self.items[r] for r in rows],
            event_types=[self.event_types[r] for r in rows],
            timestamps=[self.timestamps[r] for r in rows], labels=self.labels[rows])

    def class_counts(self) -> dict[str, int]:
        """Examples per class."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def describe(self) -> dict[str, Any]:
        """Task, window and class balance, recorded beside every number."""
        return {"task": self.config.task, "cutoff": self.cutoff, "window_end": self.window_end,
                "horizon_days": self.config.horizon_days, "examples": len(self),
                "classes": self.class_counts()}


def resolve_cutoff(log: EventLog, config: TaskConfig) -> int:
    """``t0`` in unix seconds (see :class:`TaskConfig`).

    Raises:
        ValueError: an unparseable cutoff, or one that leaves no label window in the log.
    """
    times = log.frame["timestamp"].to_numpy()
    first, last = int(times.min()), int(times.max())
    if config.cutoff is None:
        cutoff = last - int(config.horizon_days * DAY)
    elif isinstance(config.cutoff, str):
        import pandas as pd

        try:
            cutoff = int(pd.Timestamp(config.cutoff, tz="UTC").timestamp())
        except ValueError as err:
            raise ValueError(f"cutoff {config.cutoff!r} is not a date/time: {err}") from None
    else:
        cutoff = int(config.cutoff)
    if not first < cutoff <= last:
        raise ValueError(f"cutoff {cutoff} lies outside the log's events ({first} .. {last}): "
                         f"no history before it or no label window after it")
    return cutoff


def make_examples(log: EventLog, config: TaskConfig) -> TaskExamples:
    """Examples for ``config.task`` from ``log`` (see the module docstring).

    Raises:
        ValueError: the log lacks the purchase event type (purchase task), or no user
            qualifies.
    """
    cutoff = resolve_cutoff(log, config)
    window_end = cutoff + int(config.horizon_days * DAY)
    last = int(log.frame["timestamp"].max())
    if config.task != "next_event" and window_end > last + 1:
        raise ValueError(
            f"{log.source}: the label window [{cutoff}, {window_end}) ends after the last event "
            f"({last}); a user silent there may simply be unobserved: shorten horizon_days or "
            "move the cutoff earlier")
    all_types = sorted({str(t) for t in log.frame["event_type"].unique()})
    if config.task == "purchase" and config.purchase_event not in all_types:
        raise ValueError(f"{log.source}: no '{config.purchase_event}' events to predict "
                         f"(event types: {all_types}); set purchase_event")
    classes = {"purchase": ["no_purchase", "purchase"], "churn": ["active", "churn"],
               "next_event": all_types}[config.task]
    sequences = log.sequences()
    users, items, types, times, labels = [], [], [], [], []
    for user, row_items, row_types, row_times in zip(
            sequences.user_ids, sequences.items, sequences.event_types, sequences.timestamps):
        stamps = np.asarray(row_times)
        before = int(np.searchsorted(stamps, cutoff, side="left"))
        if before < config.min_history:
            continue
        in_window = int(np.searchsorted(stamps, window_end, side="left")) - before
        if config.task == "purchase":
            window_types = row_types[before:before + in_window]
            label = int(config.purchase_event in window_types)
        elif config.task == "churn":
            label = int(in_window == 0)
        else:
            if before == len(row_types):
                continue
            label = all_types.index(str(row_types[before]))
        users.append(user)
        items.append(row_items[:before])
        types.append(row_types[:before])
        times.append([int(t) for t in row_times[:before]])
        labels.append(label)
    if not users:
        raise ValueError(f"{log.source}: no user has {config.min_history} events before the "
                         f"cutoff {cutoff}" + (" and one after it" if config.task ==
                                               "next_event" else ""))
    return TaskExamples(user_ids=users, items=items, event_types=types, timestamps=times,
                        labels=np.asarray(labels, dtype=np.int64), classes=classes,
                        cutoff=cutoff, window_end=window_end, config=config)
