"""An asyncio micro-batcher: concurrent requests answered by one call in one worker thread.

A request is put on a queue and awaits its future. A collector task takes the oldest waiting
request, then gathers more until ``max_batch`` are waiting or ``max_wait_ms`` have passed
since that oldest request arrived, and runs the handler on the batch in a single worker
thread (so the model sees one batch at a time, its thread settings made once by
``initializer``). While a batch runs, new requests queue up; when it ends, the next batch
starts at once with what is waiting if the oldest request already waited ``max_wait_ms``.
Under light load a request therefore waits at most ``max_wait_ms``; under heavy load batches
grow up to ``max_batch`` and throughput grows with them.

The handler gets the list of payloads and returns one result per payload, in order; a result
that is an :class:`Exception` is raised to that request's caller alone, with the
:class:`BatchInfo` as its ``batch_info`` attribute. If the handler itself raises, every request
of the batch gets the exception.

Example:
    >>> batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=32, max_wait_ms=2)
    >>> await batcher.start()                                           # doctest: +SKIP
    >>> await batcher.submit(21)                                        # doctest: +SKIP
    42
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["MicroBatcher", "BatchInfo"]

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")


@dataclass
class BatchInfo:
    """What a request learns about the batch that answered it.

    Attributes:
        size: Requests in the batch.
        queued: Seconds the request waited before its batch started.
        timings: Seconds of the batch's stages, as the handler recorded them.
    """

    size: int
    queued: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Waiting(Generic[P]):
    payload: P
    future: asyncio.Future
    arrived: float


class MicroBatcher(Generic[P, R]):
    """Micro-batches of at most ``max_batch`` requests, run by ``handler`` in one thread.

    Args:
        handler: ``(payloads, timings) -> results``: one result (or exception) per payload;
            it may record seconds per stage in the ``timings`` dict.
        max_batch: Most requests in a batch.
        max_wait_ms: Longest wait for a batch to fill, from its oldest request's arrival.
        initializer: Run once in the worker thread before the first batch (thread settings).
        on_batch: Called in the event loop with each batch's size and timings (metrics).
    """

    def __init__(self, handler: Callable[[Sequence[P], dict[str, float]], Sequence[R | Exception]],
                 max_batch: int = 64, max_wait_ms: float = 2.0,
                 initializer: Callable[[], None] | None = None,
                 on_batch: Callable[[int, dict[str, float]], None] | None = None) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch} "
                             f"and {max_wait_ms}")
        self.handler = handler
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._initializer = initializer
        self._queue: asyncio.Queue[_Waiting[P]] | None = None
        self._task: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        """Whether the collector is running."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the worker thread and the collector task (in the running loop)."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="recsft-batch", initializer=self._initializer)
        self._task = asyncio.get_running_loop().create_task(self._collect(),
                                                            name="recsft-batcher")

    async def stop(self) -> None:
        """Stop collecting, fail the requests still waiting, end the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                waiting = self._queue.get_nowait()
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, payload: P) -> tuple[R, BatchInfo]:
        """Queue ``payload`` and wait for its result.

        Returns:
            ``(result, BatchInfo)``.

        Raises:
            Exception: the handler's exception for this payload (or for its batch).
            RuntimeError: the batcher is not running.
        """
        if not self.running or self._queue is None:
            raise RuntimeError("the micro-batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Waiting(payload, future, time.perf_counter()))
        return await future

    async def _collect(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            batch = [await queue.get()]
            deadline = batch[0].arrived + self.max_wait
            while len(batch) < self.max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            await self._run(batch)

    async def _run(self, batch: list[_Waiting[P]]) -> None:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        try:
            results: Sequence[Any] = await loop.run_in_executor(
                self._executor, self.handler, [w.payload for w in batch], timings)
            if len(results) != len(batch):
                raise RuntimeError(f"the batch handler returned {len(results)} results for "
                                   f"{len(batch)} requests")
        except Exception as err:  # a bug in the handler: every request of the batch fails
            logger.exception("a batch of %d requests failed", len(batch))
            results = [err] * len(batch)
        if self.on_batch is not None:
            try:
                self.on_batch(len(batch), timings)
            except Exception:  # metrics must never fail a request
                logger.exception("recording a batch failed")
        for waiting, result in zip(batch, results):
            if waiting.future.done():  # its caller went away
                continue
            info = BatchInfo(len(batch), started - waiting.arrived, dict(timings))
            if isinstance(result, BaseException):
                if len(batch) == 1 or results.count(result) == 1:  # its own exception
                    with contextlib.suppress(AttributeError):
                        result.batch_info = info  # type: ignore[attr-defined]
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result((result, info))
