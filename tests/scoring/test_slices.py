import pytest
import torch

import recsft.scoring.slices as slices_module
from recsft.scoring.slices import cpu_slices, encode_side_by_side


def test_slices_encoded_side_by_side_come_back_in_order_and_threads_are_restored():
    seen_threads = []

    def encode(start, stop, first):
        seen_threads.append(torch.get_num_threads())
        return torch.arange(start, stop, dtype=torch.float32)[:, None] + first

    slices = [(0, 3, 1), (3, 4, 0), (4, 9, 2), (9, 10, 5)]
    before = torch.get_num_threads()
    expected = [encode(*piece) for piece in slices]
    seen_threads.clear()
    for workers in (1, 2, 8):
        got = encode_side_by_side(encode, slices, workers=workers)
        assert all(torch.equal(a, b) for a, b in zip(got, expected))
        assert torch.get_num_threads() == before
    # Two or more workers encode with one intra-op thread each; one worker keeps the usual.
    assert seen_threads[:4] == [before] * 4 and set(seen_threads[4:]) == {1}


def test_an_error_in_a_side_by_side_slice_reaches_the_caller():
    def encode(start, stop, first):
        if start == 2:
            raise ValueError("slice 2 failed")
        return torch.zeros(stop - start, 1)

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="slice 2 failed"):
        encode_side_by_side(encode, [(0, 2, 0), (2, 3, 0), (3, 5, 0)], workers=2)
    assert torch.get_num_threads() == before


def test_encoding_threads_are_kept_and_a_forked_child_starts_its_own():
    import os
    import signal

    def encode(start, stop, first):
        return (start, stop, first)

    slices = [(0, 2, 0), (2, 3, 1), (3, 5, 0)]
    assert slices_module.encode_side_by_side(encode, slices, workers=2) == slices
    pool = slices_module._encode_pool(2)
    assert slices_module.encode_side_by_side(encode, slices, workers=2) == slices
    assert slices_module._encode_pool(2) is pool
    pid = os.fork()
    if pid == 0:  # the child: the parent's threads are not here
        ok = False
        try:
            signal.alarm(30)  # a pool without threads would wait forever
            ok = (slices_module.encode_side_by_side(encode, slices, workers=2) == slices
                  and slices_module._encode_pool(2) is not pool)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_cpu_slices_fit_the_budget_at_each_slice_longest_row():
    lengths = torch.tensor([1, 2, 2, 3, 5, 8, 8, 8, 10, 10])
    slices = cpu_slices(lengths, 10, 16)
    assert slices[0][0] == 0 and slices[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    for start, stop, first in slices:
        longest = int(lengths[start:stop].max())
        assert first == 10 - longest
        assert (stop - start) * longest <= 16 or stop - start == 1
    assert cpu_slices(torch.tensor([4, 4]), 4, 1) == [(0, 1, 0), (1, 2, 0)]
