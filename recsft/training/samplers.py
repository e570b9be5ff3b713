"""Batch samplers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Random batches of sequences of similar length.

    Behaviour data is long-tailed (Beauty: mean 9 events, max 50 after truncation), so random
    batches are padded to ~45 positions for ~9 real ones. This sampler shuffles, cuts the
    shuffled order into windows of ``window_batches * batch_size`` sequences, sorts each window
    by length, cuts it into batches and shuffles the batches: every epoch differs, and padding
    almost disappears.

    Args:
        lengths: Length of every sequence.
        batch_size: Sequences per batch.
        window_batches: Batches per sorting window (larger: less padding, less randomness).
        seed: Base seed; the order of an epoch depends only on ``seed + epoch`` (call
            :meth:`set_epoch` before each epoch), so every process, and a resumed run, sees
            the same order. Without a seed, each pass draws from torch's global generator.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        window_batches: int = 50,
        seed: int | None = None,
    ) -> None:
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.window = window_batches * batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        if self.seed is None:
            generator.manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        else:
            generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        batches = []
        for start in range(0, len(order), self.window):
            window = order[start:start + self.window]
            window = window[self.lengths[window].argsort(descending=True, stable=True)]
            batches.extend(window.split(self.batch_size))
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i].tolist()
