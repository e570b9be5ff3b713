"""Train / validation / test splits of user sequences.

Every split takes :class:`~recsft.data.events.UserSequences` (each user's events in time order,
ties in file order, as :meth:`~recsft.data.events.EventLog.sequences` returns them) and returns a
:class:`SequenceSplits`: training sequences, a validation and a test :class:`EvalSet` (one
history and one next-item target per evaluated user), a ``protocol`` string written beside every
metric and a ``metadata`` dict with the split's parameters and counts. Splits are deterministic:
the same input (and, for :func:`user_kfold`, the same seed) gives the same output.

- :func:`leave_one_out` — the protocol of the published SASRec / BERT4Rec / S3-Rec figures: for
  each user with at least ``min_length`` events, the last event is the test target, the
  second-to-last the validation target, the rest is training data. With ``target_event_type``
  the targets are the user's last two events of that type (e.g. purchases) instead.
- :func:`temporal_split` — a global cut-off time: training only sees events before it, and each
  user's first event at or after it is the test target.
- :func:`user_kfold` — users are dealt into K folds by a seeded shuffle; the users of one fold
  are held out entirely and evaluated leave-one-out.
- :func:`sliding_windows` — overlapping windows of long training sequences.
- :func:`choose_cold_items` / :func:`hold_out_items` — the cold-start protocol: a seeded share
  of the items is never trained on (their events leave the training sequences) but stays in
  the validation and test targets and histories.

Example:
    >>> from recsft.data.split import leave_one_out
    >>> splits = leave_one_out(log.sequences())
    >>> splits.test.targets[:3]
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain
from typing import Any

import numpy as np

from recsft.data.events import UserSequences
from recsft.data.preprocess import to_unix_seconds


@dataclass
class EvalSet:
    """Histories and their next-item targets, one row per evaluated user.

    The first four fields are always filled; the optional ones are filled by every split of
    this module when the sequences carry timestamps (empty lists mean "unknown").

    Attributes:
        user_ids: External user ids.
        histories: Item ids seen before the target, oldest first.
        history_event_types: Parallel event types.
        targets: The held-out next item of each user.
        history_timestamps: Parallel timestamps of the histories.
        target_timestamps: Timestamp of each target event.
        target_event_types: Event type of each target event.
    """

    user_ids: list[str]
    histories: list[list[str]]
    history_event_types: list[list[str]]
    targets: list[str]
    history_timestamps: list[list[int]] = field(default_factory=list)
    target_timestamps: list[int] = field(default_factory=list)
    target_event_types: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass
class SequenceSplits:
    """Training sequences and the validation and test sets.

    Attributes:
        train: Training sequences (for leave-one-out: every user; evaluated users lose their
            last two events).
        valid: Validation set.
        test: Test set.
        protocol: A description recorded beside every metric.
        metadata: The split's parameters and counts (cut-off times, fold, seed, ...).
        cold_items: Items held out from training (cold-start protocol, :func:`hold_out_items`),
            sorted; empty without it.
    """

    train: UserSequences
    valid: EvalSet
    test: EvalSet
    protocol: str
    metadata: dict[str, Any] = field(default_factory=dict)
    cold_items: list[str] = field(default_factory=list)


class _User:
    """One user's parallel lists (timestamps ``None`` when the input has none)."""

    __slots__ = ("user", "items", "types", "times")

    def __init__(self, sequences: UserSequences, index: int, has_times: bool) -> None:
        self.user = sequences.user_ids[index]
        self.items = sequences.items[index]
        self.types = sequences.event_types[index]
        self.times = sequences.timestamps[index] if has_times else None

    def __len__(self) -> int:
        return len(self.items)


def _users(sequences: UserSequences) -> tuple[list[_User], bool]:
    has_times = len(sequences.timestamps) == len(sequences.items)
    return [_User(sequences, i, has_times) for i in range(len(sequences))], has_times


def _empty_sequences() -> UserSequences:
    return UserSequences(user_ids=[], items=[], event_types=[], timestamps=[])


def _empty_eval() -> EvalSet:
    return EvalSet([], [], [], [])


def _add_train(train: UserSequences, user: _User, end: int) -> None:
    """Append the user's events ``[0, end)`` to the training sequences (zero times if none)."""
    train.user_ids.append(user.user)
    train.items.append(list(user.items[:end]))
    train.event_types.append(list(user.types[:end]))
    if user.times is not None:
        train.timestamps.append(list(user.times[:end]))
    else:
        train.timestamps.append([0] * len(train.items[-1]))


def _add_eval(eval_set: EvalSet, user: _User, target: int) -> None:
    """Append the user's event ``target`` as target, everything before it as history."""
    eval_set.user_ids.append(user.user)
    eval_set.histories.append(list(user.items[:target]))
    eval_set.history_event_types.append(list(user.types[:target]))
    eval_set.targets.append(user.items[target])
    eval_set.target_event_types.append(user.types[target])
    if user.times is not None:
        eval_set.history_timestamps.append(list(user.times[:target]))
        eval_set.target_timestamps.append(int(user.times[target]))


def leave_one_out(
    sequences: UserSequences,
    min_length: int = 3,
    target_event_type: str | None = None,
) -> SequenceSplits:
    """Hold out each user's last event for test and the one before for validation.

    Default (``target_event_type=None``), per user with at least ``min_length`` events: the
    last event is the test target (history: every event before it, the validation item
    included), the second-to-last the validation target (history: the events before it), and
    training gets the events before the validation target. Users with fewer events train only.

    With ``target_event_type`` (e.g. ``"buy"``): the test target is the user's last event of
    that type, with every event before it (all behaviour types) as history; the validation
    target is the previous event of that type, likewise; training gets only the events before
    the validation target (events after the test target are used nowhere). Users with fewer
    than two such events, or fewer than ``min_length - 2`` events before the validation target,
    train only (their whole sequence).

    Args:
        sequences: Each user's events in time order.
        min_length: Default mode: users with fewer events are used for training only. Must be
            at least 3 (one training, one validation, one test event).
        target_event_type: Predict the next event of this type instead of the next event.

    Returns:
        The splits; ``protocol == "leave-one-out"`` in the default mode and
        ``"leave-one-out, target event type 'buy'"`` with a target type.

    Raises:
        ValueError: ``min_length < 3``.

    Example:
        Events ``a(view) b(buy) c(view) d(buy) e(view)`` with ``target_event_type="buy"``: test
        target ``d`` (history ``a b c``), validation target ``b`` (history ``a``), training
        ``a``.
    """
    if min_length < 3:
        raise ValueError("leave-one-out needs min_length >= 3 (one train, valid, test event)")
    users, has_times = _users(sequences)
    train, valid, test = _empty_sequences(), _empty_eval(), _empty_eval()
    for user in users:
        if target_event_type is None:
            if len(user) < min_length:
                _add_train(train, user, len(user))
                continue
            valid_at, test_at = len(user) - 2, len(user) - 1
        else:
            positions = [i for i, t in enumerate(user.types) if t == target_event_type]
            if len(positions) < 2 or positions[-2] < min_length - 2:
                _add_train(train, user, len(user))
                continue
            valid_at, test_at = positions[-2], positions[-1]
        _add_train(train, user, valid_at)
        _add_eval(valid, user, valid_at)
        _add_eval(test, user, test_at)
    protocol = "leave-one-out"
    if target_event_type is not None:
        protocol += f", target event type '{target_event_type}'"
    metadata = {
        "split": "leave-one-out",
        "min_length": min_length,
        "target_event_type": target_event_type,
        "users": len(users),
        "evaluated_users": len(test),
        "timestamps": has_times,
    }
    return SequenceSplits(train=train, valid=valid, test=test, protocol=protocol,
                          metadata=metadata)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_time_order(sequences: UserSequences) -> None:
    """Every user's timestamps must be non-decreasing."""
    if len(sequences.timestamps) != len(sequences.items):
        raise ValueError("temporal_split needs timestamps for every user")
    lengths = np.fromiter((len(t) for t in sequences.timestamps), dtype=np.int64,
                          count=len(sequences.timestamps))
    times = np.fromiter(chain.from_iterable(sequences.timestamps), dtype=np.int64,
                        count=int(lengths.sum()))
    if len(times) < 2:
        return
    decreasing = np.diff(times) < 0
    boundaries = np.cumsum(lengths)[:-1] - 1  # last event of each user but the final one
    decreasing[boundaries[(boundaries >= 0) & (boundaries < len(decreasing))]] = False
    if decreasing.any():
        row = int(np.flatnonzero(decreasing)[0]) + 1
        user = int(np.searchsorted(np.cumsum(lengths), row, side="right"))
        raise ValueError(
            f"temporal_split: the events of user {sequences.user_ids[user]!r} are not in time "
            "order; use EventLog.sequences()"
        )


def temporal_split(
    sequences: UserSequences,
    cutoff: int | str | datetime,
    valid_cutoff: int | str | datetime | None = None,
    min_history: int = 1,
    test_end: int | str | datetime | None = None,
) -> SequenceSplits:
    """Split at global cut-off times: the past trains, the next event after a cut-off is tested.

    - Test: for each user, the first event at or after ``cutoff`` (and before ``test_end``,
      when given: a test *window*) is the target; the history is every event before
      ``cutoff``.
    - Validation (only with ``valid_cutoff``, which must be earlier): the first event in
      ``[valid_cutoff, cutoff)`` is the target; the history is every event before
      ``valid_cutoff``.
    - Training: every event strictly before ``valid_cutoff`` (or before ``cutoff`` without a
      validation cut-off) — never an event at or after it. Users with no such event are left
      out of training.

    Users with fewer than ``min_history`` events before a cut-off, or without an event in the
    target period, are not evaluated in that set. Without ``valid_cutoff`` the validation set
    is empty.

    Args:
        sequences: Each user's events in time order, with timestamps.
        cutoff: Test cut-off, unix seconds or an ISO-8601 date-time (UTC when no zone).
        valid_cutoff: Validation cut-off (earlier than ``cutoff``), or ``None``.
        min_history: Fewest history events for a user to be evaluated (>= 1).
        test_end: End (exclusive) of the test window, later than ``cutoff``; ``None`` for no
            end.

    Returns:
        The splits. ``protocol`` names the cut-offs, e.g.::

            temporal: train < 2024-03-01T00:00:00Z; valid = first event in
            [2024-03-01T00:00:00Z, 2024-04-01T00:00:00Z); test = first event >= 2024-04-01T00:00:00Z

        (one line); ``metadata`` holds ``cutoff``, ``valid_cutoff`` and ``train_end`` as unix
        seconds, and the number of training events.

    Raises:
        ValueError: No timestamps, events out of time order, a cut-off cannot be read,
            ``valid_cutoff >= cutoff`` or ``min_history < 1``.
    """
    test_cut = to_unix_seconds(cutoff)
    valid_cut = None if valid_cutoff is None else to_unix_seconds(valid_cutoff)
    end_cut = None if test_end is None else to_unix_seconds(test_end)
    if end_cut is not None and end_cut <= test_cut:
        raise ValueError(f"temporal_split: test_end ({end_cut}) must be later than cutoff "
                         f"({test_cut})")
    if valid_cut is not None and valid_cut >= test_cut:
        raise ValueError(
            f"temporal_split: valid_cutoff ({valid_cut}) must be earlier than cutoff ({test_cut})"
        )
    if min_history < 1:
        raise ValueError(f"temporal_split: min_history must be >= 1, got {min_history}")
    _check_time_order(sequences)
    train_end = test_cut if valid_cut is None else valid_cut
    users, _ = _users(sequences)
    train, valid, test = _empty_sequences(), _empty_eval(), _empty_eval()
    for user in users:
        times = user.times or []
        end = bisect_left(times, train_end)
        if end > 0:
            _add_train(train, user, end)
        if valid_cut is not None:
            at = end  # first event at or after valid_cut
            if at >= min_history and at < len(user) and times[at] < test_cut:
                _add_eval(valid, user, at)
        at = bisect_left(times, test_cut)
        if at >= min_history and at < len(user) and (end_cut is None or times[at] < end_cut):
            _add_eval(test, user, at)
    test_period = (f"first event >= {_iso(test_cut)}" if end_cut is None
                   else f"first event in [{_iso(test_cut)}, {_iso(end_cut)})")
    if valid_cut is None:
        protocol = f"temporal: train < {_iso(test_cut)}; test = {test_period}"
    else:
        protocol = (f"temporal: train < {_iso(valid_cut)}; valid = first event in "
                    f"[{_iso(valid_cut)}, {_iso(test_cut)}); test = {test_period}")
    metadata = {
        "split": "temporal",
        "cutoff": test_cut,
        "valid_cutoff": valid_cut,
        "test_end": end_cut,
        "train_end": train_end,
        "min_history": min_history,
        "users": len(users),
        "train_events": sum(len(s) for s in train.items),
        "evaluated_users": len(test),
    }
    return SequenceSplits(train=train, valid=valid, test=test, protocol=protocol,
                          metadata=metadata)


def user_kfold(
    sequences: UserSequences, k: int, fold: int, seed: int = 0, min_length: int = 3
) -> SequenceSplits:
    """Hold out one fold of users entirely and evaluate them leave-one-out.

    The users with at least ``min_length`` events are sorted by id, shuffled with ``seed`` and
    dealt into ``k`` folds of near-equal size (``numpy.random.default_rng(seed)``; the folds
    depend only on the set of user ids, ``k`` and the seed, not on the input order). The
    users of fold ``fold`` are the held-out users: none of their events is trained on; the test
    target is their last event (history: every event before it) and the validation target the
    one before (history: the events before that). Training gets every other user's full
    sequence, in input order; users shorter than ``min_length`` always train. Over
    ``fold = 0 .. k-1`` every evaluable user is held out exactly once.

    Args:
        sequences: Each user's events in time order.
        k: Number of folds (>= 2).
        fold: The held-out fold, ``0 <= fold < k``.
        seed: Seed of the shuffle.
        min_length: Fewest events for a user to be evaluable (>= 3).

    Returns:
        The splits; ``protocol`` e.g. ``"user 5-fold (fold 0, seed 0): held-out users,
        leave-one-out targets"``; the held-out users are ``test.user_ids``.

    Raises:
        ValueError: ``k < 2``, ``fold`` out of range, ``min_length < 3`` or repeated user ids.
    """
    if k < 2:
        raise ValueError(f"user_kfold: k must be >= 2, got {k}")
    if not 0 <= fold < k:
        raise ValueError(f"user_kfold: fold must be in [0, {k}), got {fold}")
    if min_length < 3:
        raise ValueError("user_kfold needs min_length >= 3 (one history, valid, test event)")
    if len(set(sequences.user_ids)) != len(sequences.user_ids):
        raise ValueError("user_kfold: user ids repeat; expected one sequence per user")
    users, _ = _users(sequences)
    eligible = sorted(user.user for user in users if len(user) >= min_length)
    shuffled = np.random.default_rng(seed).permutation(len(eligible))
    held_out = {eligible[i] for i in np.array_split(shuffled, k)[fold]}
    train, valid, test = _empty_sequences(), _empty_eval(), _empty_eval()
    for user in users:
        if user.user in held_out:
            _add_eval(valid, user, len(user) - 2)
            _add_eval(test, user, len(user) - 1)
        else:
            _add_train(train, user, len(user))
    protocol = (f"user {k}-fold (fold {fold}, seed {seed}): held-out users, leave-one-out "
                "targets")
    metadata = {
        "split": "user-kfold",
        "k": k,
        "fold": fold,
        "seed": seed,
        "min_length": min_length,
        "users": len(users),
        "evaluable_users": len(eligible),
        "held_out_users": len(test),
    }
    return SequenceSplits(train=train, valid=valid, test=test, protocol=protocol,
                          metadata=metadata)


def sample_users(sequences: UserSequences, fraction: float, seed: int) -> UserSequences:
    """A seeded share of the users' sequences (at least one user), in their input order.

    Args:
        sequences: Sequences (usually ``splits.train``).
        fraction: Share of users kept, in ``(0, 1]``.
        seed: Seed of the choice.

    Raises:
        ValueError: ``fraction`` outside ``(0, 1]``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"data.train_users: expected a share in (0, 1], got {fraction}")
    if fraction == 1:
        return sequences
    count = max(1, round(len(sequences) * fraction))
    keep = sorted(np.random.default_rng(seed).choice(len(sequences), count, replace=False))
    return pick_sequences(sequences, keep)


def pick_sequences(sequences: UserSequences, keep: list[int]) -> UserSequences:
    """The sequences at the indices ``keep``, in that order."""
    has_times = len(sequences.timestamps) == len(sequences.items)
    return UserSequences(
        user_ids=[sequences.user_ids[i] for i in keep],
        items=[sequences.items[i] for i in keep],
        event_types=[sequences.event_types[i] for i in keep],
        timestamps=[sequences.timestamps[i] for i in keep] if has_times else [],
    )


def sliding_windows(sequences: UserSequences, window: int, stride: int) -> UserSequences:
    """Cut long (training) sequences into overlapping windows of at most ``window`` events.

    A sequence of ``L <= window`` events stays one window. A longer one gives full windows
    ending at ``L, L - stride, L - 2*stride, ...`` (the newest window is always included) as
    long as they fit, plus the oldest window ``[0, window)`` if the last of those does not
    start at 0 — so with ``stride <= window`` every event lies in some window. Windows of one
    user are listed oldest first; each carries the user's id (ids repeat). Empty sequences are
    dropped.

    Args:
        sequences: Sequences in time order (usually ``splits.train``).
        window: Most events per window (>= 1).
        stride: Step between window ends (>= 1).

    Returns:
        The windows, users in input order.

    Raises:
        ValueError: ``window`` or ``stride`` below 1.

    Example:
        ``L = 10, window = 4, stride = 3``: windows ``[6, 10)``, ``[3, 7)``, ``[0, 4)``, listed
        as ``[0, 4), [3, 7), [6, 10)``.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"sliding_windows: window and stride must be >= 1, got {window}, "
                         f"{stride}")
    has_times = len(sequences.timestamps) == len(sequences.items)
    out = _empty_sequences()
    for index, user in enumerate(sequences.user_ids):
        items = sequences.items[index]
        length = len(items)
        if length == 0:
            continue
        starts = list(range(length - window, 0, -stride)) if length > window else []
        if not starts or starts[-1] != 0:
            starts.append(0)
        for start in reversed(starts):
            end = min(start + window, length)
            out.user_ids.append(user)
            out.items.append(list(items[start:end]))
            out.event_types.append(list(sequences.event_types[index][start:end]))
            if has_times:
                out.timestamps.append(list(sequences.timestamps[index][start:end]))
    return out


def choose_cold_items(items: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded ``fraction`` of ``items`` to hold out from training (cold-start protocol).

    The items are sorted, shuffled with ``numpy.random.default_rng(seed)`` and the first
    ``round(fraction * len(items))`` are taken, so the choice depends only on the set of items,
    the fraction and the seed (not on their order).

    Args:
        items: The catalogue's item ids (repeats are ignored).
        fraction: Share of the items to hold out, ``0 <= fraction < 1``.
        seed: Seed of the shuffle.

    Returns:
        The cold item ids, sorted.

    Raises:
        ValueError: ``fraction`` outside ``[0, 1)``.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"cold items: the fraction must be in [0, 1), got {fraction}")
    ordered = sorted(set(items))
    count = int(round(fraction * len(ordered)))
    if count == 0:
        return []
    chosen = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return sorted(ordered[i] for i in chosen)


def hold_out_items(splits: SequenceSplits, cold: list[str], fraction: float,
                   seed: int) -> SequenceSplits:
    """Remove the events of ``cold`` items from the training sequences.

    Validation and test sets are kept as they are: cold items stay targets and stay in the
    histories the model reads at evaluation time. Training sequences left empty are dropped.

    Args:
        splits: The splits of any protocol.
        cold: The held-out item ids (:func:`choose_cold_items`).
        fraction: The configured share, recorded in ``metadata``.
        seed: The seed that chose them, recorded in ``metadata``.

    Returns:
        New splits; ``protocol`` gains ``", cold items 0.1 (seed 42)"`` and ``metadata`` a
        ``cold_items`` entry: ``{"fraction", "seed", "items", "train_events_removed",
        "valid_cold_targets", "test_cold_targets"}``.
    """
    held = set(cold)
    train = _empty_sequences()
    removed = 0
    source = splits.train
    has_times = len(source.timestamps) == len(source.items)
    for index, items in enumerate(source.items):
        keep = [i for i, item in enumerate(items) if item not in held]
        removed += len(items) - len(keep)
        if not keep:
            continue
        train.user_ids.append(source.user_ids[index])
        train.items.append([items[i] for i in keep])
        train.event_types.append([source.event_types[index][i] for i in keep])
        if has_times:
            train.timestamps.append([source.timestamps[index][i] for i in keep])
    metadata = {**splits.metadata, "cold_items": {
        "fraction": fraction,
        "seed": seed,
        "items": len(held),
        "train_events_removed": removed,
        "valid_cold_targets": sum(t in held for t in splits.valid.targets),
        "test_cold_targets": sum(t in held for t in splits.test.targets),
    }}
    protocol = f"{splits.protocol}, cold items {fraction:g} (seed {seed})"
    return SequenceSplits(train=train, valid=splits.valid, test=splits.test, protocol=protocol,
                          metadata=metadata, cold_items=sorted(held))
