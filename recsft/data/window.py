"""A newer time window of the log: ``data.until`` ends it, ``data.train_since`` trains on it.

* :func:`until_log` — the events before ``data.until`` only: the log (and the catalogue read
  from it) as the shop knew it then.
* :func:`training_window` — the training sequences of the users active since
  ``data.train_since`` (each whole: older events stay as context), plus a seeded replayed
  share (``training.replay_fraction``) of the other users'. Validation and test are not
  touched. It applies to the splits of every protocol (:func:`recsft.runs.data.split_log`).

Example:
    >>> splits = training_window(splits, "2024-03-01", replay=0.1, seed=0)  # doctest: +SKIP
    >>> splits.metadata["training_window"]["users"]                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from typing import Any

import numpy as np

from recsft.data.events import EventLog
from recsft.data.split import SequenceSplits, pick_sequences
from recsft.errors import RecsftError

__all__ = ["training_window", "until_log", "window_line", "window_time"]


def window_time(value: int | float | str | date, key: str) -> int:
    """``value`` (unix seconds, ISO-8601 or a date) as unix seconds.

    Raises:
        RecsftError: one line naming ``key`` when it cannot be read.
    """
    from recsft.data.preprocess import to_unix_seconds

    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    try:
        return to_unix_seconds(value)
    except ValueError as err:
        raise RecsftError(f"{key}: {err}") from None


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def until_log(log: EventLog, until: int | float | str | date | None) -> EventLog:
    """The events strictly before ``until`` (``data.until``); ``log`` itself when ``None`` or
    when nothing is dropped.

    Raises:
        RecsftError: ``until`` cannot be read, or it leaves no event.
    """
    if until is None:
        return log
    end = window_time(until, "data.until")
    frame = log.frame
    keep = frame["timestamp"].to_numpy() < end
    if keep.all():
        return log
    if not keep.any():
        raise RecsftError(f"data.until {_iso(end)}: no event of {log.source} is earlier; "
                          "expected a time after the log's first event")
    steps = [*log.steps, {"name": "until", "params": {"until": end},
                          "dropped": int((~keep).sum())}]
    return dataclasses.replace(log, frame=frame[keep].reset_index(drop=True), steps=steps)


def training_window(splits: SequenceSplits, since: int | float | str | date,
                    replay: float = 0.0, seed: int = 0) -> SequenceSplits:
    """Train on the users active since ``since``, plus a replayed share of the others.

    A user's training sequence (already cut at the split's training end) is kept whole when
    one of its events is at or after ``since``; of the other users, a seeded
    ``round(replay * count)`` are kept (``numpy.random.default_rng(seed)``). Order is kept.

    Args:
        splits: The splits of any protocol (training sequences with timestamps).
        since: ``data.train_since``: unix seconds, ISO-8601 or a date.
        replay: ``training.replay_fraction``, in ``[0, 1]``.
        seed: Seed of the replayed choice.

    Returns:
        New splits; ``metadata["training_window"]`` holds ``since`` (unix seconds),
        ``users`` (active), ``of`` (all training users), ``replayed`` and ``replay_fraction``.

    Raises:
        RecsftError: ``replay`` outside ``[0, 1]``, ``since`` unreadable or at or after the
            split's training end (``train_end``), sequences without timestamps, or no user
            active since then.
    """
    if not 0 <= replay <= 1:
        raise RecsftError(f"training.replay_fraction: expected a share in [0, 1], got {replay}")
    start = window_time(since, "data.train_since")
    end = splits.metadata.get("train_end")
    if end is not None and start >= end:
        raise RecsftError(f"data.train_since {_iso(start)}: must be earlier than the split's "
                          f"training end {_iso(int(end))} (data.valid_cutoff / data.cutoff)")
    train = splits.train
    if len(train.timestamps) != len(train.items):
        raise RecsftError("data.train_since: the events have no timestamps")
    active = [i for i, times in enumerate(train.timestamps) if times and times[-1] >= start]
    if not active:
        raise RecsftError(f"data.train_since {_iso(start)}: no training event is this late; "
                          "expected a time before the training data ends")
    chosen = set(active)
    others = [i for i in range(len(train)) if i not in chosen]
    count = int(round(replay * len(others)))
    if count:
        picked = np.random.default_rng(seed).choice(len(others), count, replace=False)
        chosen.update(others[int(i)] for i in picked)
    record: dict[str, Any] = {"since": start, "users": len(active), "of": len(train),
                              "replayed": count, "replay_fraction": replay}
    # The evaluation protocol is unchanged: only which users train.
    return dataclasses.replace(splits, train=pick_sequences(train, sorted(chosen)),
                               metadata={**splits.metadata, "training_window": record})


def window_line(record: dict[str, Any]) -> str:
    """The log line of a :func:`training_window` record."""
    return (f"training window: {record['users']} of {record['of']} users since "
            f"{_iso(record['since'])}, {record['replayed']} replayed")
