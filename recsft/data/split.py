"""Train / validation / test splits of user sequences.

Leave-one-out (the protocol of the published SASRec / BERT4Rec / S3-Rec figures): for each user
with at least three events, the last event is the test target, the second-to-last the validation
target, and the rest is training data. The validation input is the training sequence; the test
input is the training sequence plus the validation item. Users with fewer than three events are
kept for training only and are never evaluated.

Example:
    >>> from recsft.data.split import leave_one_out
    >>> splits = leave_one_out(log.sequences())
    >>> splits.test.targets[:3]
"""

from __future__ import annotations

from dataclasses import dataclass

from recsft.data.events import UserSequences


@dataclass
class EvalSet:
    """Histories and their next-item targets, one row per evaluated user.

    Attributes:
        user_ids: External user ids.
        histories: Item ids seen before the target, oldest first.
        history_event_types: Parallel event types.
        targets: The held-out next item of each user.
    """

    user_ids: list[str]
    histories: list[list[str]]
    history_event_types: list[list[str]]
    targets: list[str]

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass
class SequenceSplits:
    """Training sequences and the validation and test sets.

    Attributes:
        train: Training sequences (every user; evaluated users lose their last two events).
        valid: Validation set (input = training sequence, target = second-to-last event).
        test: Test set (input = all but the last event, target = last event).
        protocol: A description recorded beside every metric.
    """

    train: UserSequences
    valid: EvalSet
    test: EvalSet
    protocol: str


def leave_one_out(sequences: UserSequences, min_length: int = 3) -> SequenceSplits:
    """Split each user's sequence: last → test, second-to-last → validation, rest → train.

    Args:
        sequences: Each user's events in time order.
        min_length: Users with fewer events are used for training only.

    Returns:
        The splits; ``protocol == "leave-one-out"``.
    """
    if min_length < 3:
        raise ValueError("leave-one-out needs min_length >= 3 (one train, valid, test event)")
    train = UserSequences(user_ids=[], items=[], event_types=[], timestamps=[])
    valid = EvalSet([], [], [], [])
    test = EvalSet([], [], [], [])
    has_times = len(sequences.timestamps) == len(sequences.items)
    for index, user in enumerate(sequences.user_ids):
        items = sequences.items[index]
        types = sequences.event_types[index]
        times = sequences.timestamps[index] if has_times else [0] * len(items)
        if len(items) < min_length:
            _append(train, user, items, types, times)
            continue
        _append(train, user, items[:-2], types[:-2], times[:-2])
        valid.user_ids.append(user)
        valid.histories.append(items[:-2])
        valid.history_event_types.append(types[:-2])
        valid.targets.append(items[-2])
        test.user_ids.append(user)
        test.histories.append(items[:-1])
        test.history_event_types.append(types[:-1])
        test.targets.append(items[-1])
    return SequenceSplits(train=train, valid=valid, test=test, protocol="leave-one-out")


def _append(
    sequences: UserSequences, user: str, items: list, types: list, times: list
) -> None:
    sequences.user_ids.append(user)
    sequences.items.append(list(items))
    sequences.event_types.append(list(types))
    sequences.timestamps.append(list(times))
