"""What a ``recsft serve`` process serves: :class:`Service` holds the engine (swapped by
reloads), the user-state store, the micro-batcher and the metrics; :func:`prepare` and
:func:`open_state` load a run and open its store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import signal
import threading
from typing import TYPE_CHECKING, Any

from recsft.errors import RecsftError
from recsft.serve.batching import MicroBatcher
from recsft.serve.config import ServeConfig
from recsft.serve.engine import Engine, ServeError, set_threads
from recsft.serve.metrics import ServeMetrics

if TYPE_CHECKING:
    from recsft.serve.state import StateStore

__all__ = ["Service", "open_state", "prepare"]

logger = logging.getLogger("recsft.serve")

def prepare(config: ServeConfig) -> tuple[Engine, StateStore]:
    """Load the run and open (and with ``seed_state`` seed) the state store.

    Raises:
        RecsftError: the run or the store cannot be opened (one line).
    """
    engine = Engine.load(config.run, config.backend, config.max_k, config.threads)
    return engine, open_state(config, engine)


def open_state(config: ServeConfig, engine: Engine) -> StateStore:
    """Open the state store for ``engine``'s model (events kept: see
    :meth:`ServeConfig.model_state_length`), seeded from the run with ``seed_state``.

    Raises:
        RecsftError: the store cannot be opened.
    """
    from recsft.serve.state import open_store, seed_from_run

    store = open_store(config.state, config.model_state_length(engine.window))
    try:
        if config.seed_state:
            from recsft.runs import Run

            users = seed_from_run(store, Run.open(engine.run, verify=False))
            logger.info("seeded the state of %d users from %s", users, engine.run)
    except BaseException:
        store.close()
        raise
    return store


class Service:
    """What the app serves: the current engine (swapped by reloads), the store, the
    micro-batcher and the metrics.

    Args:
        config: The settings.
        engine: A loaded engine (default: loaded at start-up).
        store: An open store (default: opened at start-up; then it is closed at shutdown).
    """

    def __init__(self, config: ServeConfig, engine: Engine | None = None,
                 store: StateStore | None = None) -> None:
        self.config = config
        self.engine = engine
        self.store = store
        self._owns_store = store is None
        self.source = config.run
        self.metrics = ServeMetrics()
        self.batcher: MicroBatcher = MicroBatcher(
            self._answer, config.max_batch, config.max_wait_ms,
            initializer=lambda: set_threads(config.threads),
            on_batch=self.metrics.observe_batch)
        self._reloading = asyncio.Lock()
        self._sighup = False
        self._tasks: set[asyncio.Task] = set()
        self.ready = False

    async def start(self) -> None:
        """Load what was not given, start the batcher, listen for SIGHUP (main thread, one
        worker)."""
        config = self.config
        if self.engine is None:
            self.engine = await asyncio.to_thread(Engine.load, config.run, config.backend,
                                                  config.max_k, config.threads)
        if self.store is None:
            self.store = await asyncio.to_thread(open_state, config, self.engine)
        self.metrics.set_model(self.engine.info())
        await self.batcher.start()
        if (self.config.workers == 1 and hasattr(signal, "SIGHUP")
                and threading.current_thread() is threading.main_thread()):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._sighup = True
        self.ready = True
        logger.info("serving model %s of %s (%s backend, %d items)", self.engine.model,
                    self.engine.run, self.engine.backend, self.engine.num_items)

    async def stop(self) -> None:
        """Stop the batcher and close the store this service opened."""
        self.ready = False
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        await self.batcher.stop()
        if self._owns_store and self.store is not None:
            self.store.close()
            self.store = None

    def _answer(self, queries: list[Any], timings: dict[str, float]) -> list[Any]:
        """The batch handler (worker thread): one engine for the whole batch."""
        engine = self.engine
        assert engine is not None
        results = engine.answer(queries, self.store, timings)
        return [r if isinstance(r, Exception) else (r, engine.model) for r in results]

    # ------------------------------------------------------------------ reloads

    async def reload(self, run: str | None = None) -> dict[str, Any]:
        """Load ``run`` (default: the run served) and swap it in.

        Raises:
            ServeError: 409 while another reload runs; 422 when the run fails the checks
                (the old model keeps serving).
        """
        if self._reloading.locked():
            raise ServeError(409, "a reload is already running")
        async with self._reloading:
            source = run or self.source
            config = self.config
            try:
                engine = await asyncio.to_thread(Engine.load, source, config.backend,
                                                 config.max_k, config.threads)
            except RecsftError as err:
                self.metrics.reloads.labels("refused").inc()
                logger.warning("reload of %s refused, still serving %s: %s", source,
                               self.engine.model if self.engine else "nothing", err)
                raise ServeError(422, f"reload refused; still serving the old model: {err}",
                                 {"run": source}) from None
            previous = self.engine
            self.engine = engine  # the next batch answers with it
            self.source = source
            self.metrics.set_model(engine.info())
            self.metrics.reloads.labels("ok").inc()
            if self.store is not None and engine.window + 1 > self.store.max_length:
                logger.warning("the store keeps %d events per user, the model reads %d",
                               self.store.max_length, engine.window)
            logger.info("reloaded: serving model %s of %s (was %s)", engine.model, engine.run,
                        previous.model if previous else "none")
            return {"model": engine.model, "previous": previous.model if previous else None,
                    "run": engine.run, "items": engine.num_items}

    def _on_sighup(self) -> None:
        async def reload() -> None:
            with contextlib.suppress(ServeError):  # refusals are logged and counted
                await self.reload()

        task = asyncio.get_running_loop().create_task(reload())
        self._tasks.add(task)  # the loop keeps weak references only
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ admin

    def authorize(self, authorization: str | None) -> None:
        """Check the admin bearer token in constant time.

        Raises:
            ServeError: 403 when no token is configured (admin disabled) or the token is
                wrong; 401 without a bearer token.
        """
        token = self.config.admin_token
        if not token:
            raise ServeError(403, "admin endpoints are disabled: no admin token is configured "
                             "(set RECSFT_ADMIN_TOKEN before starting the server)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ServeError(401, "admin endpoints need 'Authorization: Bearer <token>'",
                             headers={"WWW-Authenticate": "Bearer"})
        expected = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), expected):
            raise ServeError(403, "wrong admin token")
