"""The micro-batcher: batches of at most max_batch, a lone request waits at most max_wait_ms,
one batch at a time in one worker thread, per-request errors."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from recsft.serve.batching import MicroBatcher


class Recorder:
    """A handler doubling numbers that records its batches, threads and overlap."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.running = 0
        self.overlap = False
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, payloads, timings):
        with self.lock:
            self.running += 1
            self.overlap |= self.running > 1
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        self.batches.append(list(payloads))
        timings["encode"] = self.delay
        results = [ValueError(f"bad {p}") if p < 0 else p * 2 for p in payloads]
        with self.lock:
            self.running -= 1
        return results


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_batches_of_at_most_max_batch() -> None:
    handler = Recorder(delay=0.01)

    async def main():
        batcher = MicroBatcher(handler, max_batch=8, max_wait_ms=5)
        await batcher.start()
        try:
            answers = await asyncio.gather(*(batcher.submit(n) for n in range(50)))
        finally:
            await batcher.stop()
        return answers

    answers = run(main())
    assert [result for result, _ in answers] == [2 * n for n in range(50)]
    assert all(len(batch) <= 8 for batch in handler.batches)
    assert sorted(p for batch in handler.batches for p in batch) == list(range(50))
    assert len(handler.batches) < 50 and max(len(b) for b in handler.batches) == 8
    assert len(handler.threads) == 1 and not handler.overlap
    sizes = {info.size for _, info in answers}
    assert sizes <= {len(b) for b in handler.batches}
    assert all(info.timings == {"encode": 0.01} for _, info in answers)


def test_a_lone_request_waits_at_most_max_wait_and_a_full_batch_goes_at_once() -> None:
    async def lone():
        batcher = MicroBatcher(Recorder(), max_batch=8, max_wait_ms=60)
        await batcher.start()
        start = time.perf_counter()
        result, info = await batcher.submit(1)
        took = time.perf_counter() - start
        await batcher.stop()
        return result, info, took

    result, info, took = run(lone())
    assert result == 2 and info.size == 1
    assert 0.05 <= took < 1.0 and info.queued >= 0.05

    async def full():
        batcher = MicroBatcher(Recorder(), max_batch=4, max_wait_ms=30_000)
        await batcher.start()
        start = time.perf_counter()
        answers = await asyncio.gather(*(batcher.submit(n) for n in range(4)))
        took = time.perf_counter() - start
        await batcher.stop()
        return answers, took

    answers, took = run(full())
    assert [r for r, _ in answers] == [0, 2, 4, 6] and took < 5


def test_zero_wait_batches_only_what_queued_while_the_worker_was_busy() -> None:
    handler = Recorder(delay=0.02)

    async def main():
        batcher = MicroBatcher(handler, max_batch=64, max_wait_ms=0)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.005)  # the first batch is running alone
        rest = await asyncio.gather(*(batcher.submit(n) for n in range(1, 6)))
        await first
        await batcher.stop()
        return rest

    run(main())
    assert handler.batches[0] == [0] and handler.batches[1] == [1, 2, 3, 4, 5]


def test_an_error_fails_its_request_alone_and_a_broken_handler_fails_its_batch() -> None:
    async def main():
        batcher = MicroBatcher(Recorder(), max_batch=8, max_wait_ms=5)
        await batcher.start()
        answers = await asyncio.gather(*(batcher.submit(n) for n in (1, -1, 2)),
                                       return_exceptions=True)
        await batcher.stop()
        return answers

    good, bad, other = run(main())
    assert good[0] == 2 and other[0] == 4
    assert isinstance(bad, ValueError) and str(bad) == "bad -1"
    assert bad.batch_info.size == 3 and bad.batch_info.timings == {"encode": 0.0}

    def broken(payloads, timings):
        raise KeyError("a bug")

    async def failing():
        batcher = MicroBatcher(broken, max_batch=8, max_wait_ms=5)
        await batcher.start()
        answers = await asyncio.gather(batcher.submit(1), batcher.submit(2),
                                       return_exceptions=True)
        await batcher.stop()
        return answers

    assert all(isinstance(a, KeyError) for a in run(failing()))


def test_submit_refuses_when_not_running_and_bad_settings_are_refused() -> None:
    async def main():
        batcher = MicroBatcher(Recorder())
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit(1)

    run(main())
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(Recorder(), max_batch=0)
