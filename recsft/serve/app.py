"""The HTTP app of ``recsft serve`` (FastAPI): :func:`create_app`.

Endpoints (JSON; the OpenAPI schema at ``/openapi.json``, its pages at ``/docs``):

* ``POST /recommend`` — ``{"user_id": "u1", "k": 10}`` (the user's stored history) or
  ``{"history": [...], "event_types": [...], "timestamps": [...], "k": 10}``, with optional
  ``exclude`` and ``filter`` (item ids): ``{"items": [{"item_id", "score"}], "model": "..."}``;
* ``POST /similar-items`` — ``{"item_id": "i1", "k": 10, "exclude", "filter"}``: the same
  answer, cosine similarities of the model's item vectors;
* ``POST /events`` — ``{"user_id": "u1", "events": [{"item_id", "event_type", "timestamp"}]}``
  appended to the user's state; answered once the store holds them durably (a missing
  ``timestamp`` is the time the server received the event);
* ``GET /users/{user_id}`` — the stored events; ``GET /healthz`` (the process answers),
  ``GET /readyz`` (a model is loaded and the store open; 503 otherwise), ``GET /metrics``
  (Prometheus text, :mod:`recsft.serve.metrics`);
* ``POST /admin/reload`` — ``Authorization: Bearer <RECSFT_ADMIN_TOKEN>``, optional body
  ``{"run": "path"}`` (default: the run served): load and check the run (manifest, digests,
  vocabulary), then swap it in between two micro-batches; a run that fails the checks is
  refused (422) and the old model keeps serving. Without a configured token the endpoint
  answers 403; without the header 401. SIGHUP to the server process reloads the same way.

Every refusal is JSON ``{"error": "...", "detail": ...}`` with a 4xx status: malformed JSON
(400), a body over ``max_body_bytes`` (413), schema errors listing each field (422), unknown
item ids listed (422), ``k`` outside ``1..min(max_k, catalogue)`` (422), a history or events
list longer than ``max_history`` (422), an unknown user (404). A bug is a 500 with one JSON
line and no traceback; the traceback is logged server-side.

Each answer has a ``Server-Timing`` header splitting its time (``parse``, ``queue``,
``state``, ``encode``, ``search``, ``serialize``, ``total``, in milliseconds, and the size of
its micro-batch), recorded in the metrics as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsft.errors import RecsftError
from recsft.serve.batching import BatchInfo, MicroBatcher
from recsft.serve.config import CONFIG_ENV, ServeConfig
from recsft.serve.engine import Engine, RecommendQuery, ServeError, SimilarQuery, set_threads
from recsft.serve.metrics import STAGES, ServeMetrics

if TYPE_CHECKING:
    from recsft.serve.state import StateStore

__all__ = ["create_app", "app_from_env", "prepare", "open_state", "Service", "log_to_stderr"]

logger = logging.getLogger("recsft.serve")

ItemId = Annotated[StrictStr, Field(min_length=1, max_length=256)]
UserId = Annotated[StrictStr, Field(min_length=1, max_length=256)]
EventType = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False)]
K = Annotated[StrictInt, Field(ge=1, description="number of items, 1..min(max_k, catalogue)")]


# ---------------------------------------------------------------------- request and answer bodies

class RecommendRequest(BaseModel):
    """A user id (its stored history) or a history, and what to return."""

    model_config = ConfigDict(extra="forbid")
    user_id: UserId | None = None
    history: list[ItemId] | None = Field(None, description="item ids, oldest first")
    event_types: list[EventType] | None = Field(None, description="parallel to history")
    timestamps: list[Seconds] | None = Field(None, description="seconds, parallel to history")
    k: K = 10
    exclude: list[ItemId] = Field(default_factory=list, description="never return these")
    filter: list[ItemId] | None = Field(None, description="only return these")

    @model_validator(mode="after")
    def _one_source(self) -> RecommendRequest:
        if (self.user_id is None) == (self.history is None):
            raise ValueError("give exactly one of user_id (the stored history) and history")
        for name in ("event_types", "timestamps"):
            rows = getattr(self, name)
            if rows is None:
                continue
            if self.history is None:
                raise ValueError(f"{name} goes with history, not with user_id")
            if len(rows) != len(self.history):
                raise ValueError(f"{name} has {len(rows)} entries for a history of "
                                 f"{len(self.history)}")
        return self


class SimilarRequest(BaseModel):
    """An item and what to return."""

    model_config = ConfigDict(extra="forbid")
    item_id: ItemId
    k: K = 10
    exclude: list[ItemId] = Field(default_factory=list)
    filter: list[ItemId] | None = None


class EventIn(BaseModel):
    """One behaviour event."""

    model_config = ConfigDict(extra="forbid")
    item_id: ItemId
    event_type: EventType | None = None
    timestamp: Seconds | None = Field(None, description="seconds; default: when received")


class EventsRequest(BaseModel):
    """Events of one user, oldest first."""

    model_config = ConfigDict(extra="forbid")
    user_id: UserId
    events: list[EventIn] = Field(min_length=1)


class ReloadRequest(BaseModel):
    """The run folder to serve next (default: the one served)."""

    model_config = ConfigDict(extra="forbid")
    run: StrictStr | None = Field(None, min_length=1, max_length=4096)


class Scored(BaseModel):
    item_id: str
    score: float


class ItemsAnswer(BaseModel):
    items: list[Scored]
    model: str = Field(description="the first 12 hex digits of the weights' SHA-256")


class EventsAnswer(BaseModel):
    user_id: str
    appended: int
    stored: int = Field(description="events the user has after trimming")


class EventOut(BaseModel):
    item_id: str
    event_type: str | None
    timestamp: float | None


class UserAnswer(BaseModel):
    user_id: str
    count: int
    events: list[EventOut]


class ErrorAnswer(BaseModel):
    error: str
    detail: Any = None


ERRORS = {status: {"model": ErrorAnswer} for status in (400, 404, 413, 422, 503)}
#: The fixed paths (a request refused before routing, e.g. 413, is counted under its path).
ENDPOINTS = frozenset({"/recommend", "/similar-items", "/events", "/healthz", "/readyz",
                       "/metrics", "/admin/reload"})


# ---------------------------------------------------------------------- the service

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


# ---------------------------------------------------------------------- ASGI middleware

class _Observed:
    """Pure ASGI middleware: the body size limit, the ``Server-Timing`` header and the
    request metrics.

    The body is read here (at most ``max_body_bytes``; a larger one is answered 413 before
    the app sees it) and replayed to the app; the time up to the endpoint is its ``parse``
    stage.
    """

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable],
                       send: Callable[[MutableMapping[str, Any]], Awaitable]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        stages: dict[str, float] = {}
        scope["recsft.start"], scope["recsft.stages"] = start, stages
        status, started = [500], [False]
        metrics = self.service.metrics

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((b"server-timing",
                                _server_timing(stages, time.perf_counter() - start)))
                message = {**message, "headers": headers}
            await send(message)

        metrics.in_flight.inc()
        try:
            replay = await self._read_body(scope, receive, timed_send)
            if replay is not None:
                await self.app(scope, replay, timed_send)
        except Exception as exc:  # a bug: one JSON line, the traceback in the log only
            logger.error("internal error answering %s %s", scope.get("method"),
                         scope.get("path"), exc_info=exc)
            if started[0]:  # the answer is half sent; the connection must close
                raise
            await _send_json(timed_send, 500, {"error": "internal error; the server logged it",
                                               "detail": None})
        finally:
            metrics.in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or (
                scope.get("path") if scope.get("path") in ENDPOINTS else "unmatched")
            stages.pop("batch", None)
            metrics.observe_request(endpoint, scope.get("method", ""), status[0],
                                    time.perf_counter() - start, stages)

    async def _read_body(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable],
                         send: Callable[[MutableMapping[str, Any]], Awaitable]
                         ) -> Callable[[], Awaitable] | None:
        """The body read (at most the limit) and a ``receive`` replaying it; ``None`` when
        the request was refused here."""
        limit = self.service.config.max_body_bytes
        declared = next((value for name, value in scope.get("headers", [])
                         if name == b"content-length"), None)
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "Content-Length is not a number",
                                             "detail": None})
                return None
            if size > limit:
                await _send_json(send, 413, _too_large(size, limit))
                return None
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _send_json(send, 413, _too_large(received, limit))
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _too_large(size: int, limit: int) -> dict[str, Any]:
    return {"error": f"request body too large: {size} bytes, at most {limit}",
            "detail": {"limit": limit}}


async def _send_json(send: Callable[[MutableMapping[str, Any]], Awaitable], status: int,
                     payload: Any) -> None:
    body = _dumps(payload)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _server_timing(stages: dict[str, float], total: float) -> bytes:
    """``parse;dur=0.081, ..., total;dur=1.93, batch;desc="8"`` (milliseconds)."""
    parts = [f"{name};dur={stages[name] * 1000:.3f}" for name in STAGES if name in stages]
    parts.append(f"total;dur={total * 1000:.3f}")
    if "batch" in stages:
        parts.append(f'batch;desc="{int(stages["batch"])}"')
    return ", ".join(parts).encode()


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


# ---------------------------------------------------------------------- the app

def _stages(request: Request) -> dict[str, float]:
    """The request's stage timings (the middleware's dict), ``parse`` set at the first call:
    the time from the first byte to the endpoint."""
    stages = request.scope.get("recsft.stages")
    if stages is None:  # not behind the middleware (never in create_app's app)
        stages = request.scope["recsft.stages"] = {}
    if "parse" not in stages and "recsft.start" in request.scope:
        stages["parse"] = time.perf_counter() - request.scope["recsft.start"]
    return stages


def _json(payload: Any, stages: dict[str, float], began: float | None = None) -> Response:
    """The JSON answer; its ``serialize`` stage from ``began`` (default: now)."""
    began = time.perf_counter() if began is None else began
    body = _dumps(payload)
    stages["serialize"] = time.perf_counter() - began
    return Response(body, media_type="application/json")


def _note_batch(stages: dict[str, float], info: BatchInfo) -> None:
    stages["queue"] = info.queued
    for name in ("state", "encode", "search"):
        if name in info.timings:
            stages[name] = info.timings[name]
    stages["batch"] = info.size


def _check_length(values: list[Any] | None, name: str, limit: int) -> None:
    if values is not None and len(values) > limit:
        raise ServeError(422, f"{name}: {len(values)} entries, at most {limit} "
                         f"(max_history)", {"field": name, "max": limit})


def create_app(config: ServeConfig, engine: Engine | None = None,
               store: StateStore | None = None) -> FastAPI:
    """The FastAPI app serving ``config.run``.

    Args:
        config: The settings.
        engine: An engine already loaded (default: loaded at start-up).
        store: A state store already open (default: opened from ``config.state`` at start-up
            and closed at shutdown; a given store is left open).

    Returns:
        The app; its :class:`Service` is ``app.state.service``.
    """
    from recsft import __version__

    service = Service(config, engine, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="recsft serve", version=__version__, lifespan=lifespan,
                  description="Next-item recommendations from a recsft run, user state, "
                  "metrics and hot reload.")
    app.state.service = service
    app.add_middleware(_Observed, service=service)
    _add_error_handlers(app)

    async def batched(query: Any, stages: dict[str, float]) -> tuple[Any, str]:
        try:
            (result, model), info = await service.batcher.submit(query)
        except ServeError as err:
            if hasattr(err, "batch_info"):
                _note_batch(stages, err.batch_info)
            raise
        except RuntimeError as err:
            if service.batcher.running:
                raise
            raise ServeError(503, f"not serving: {err}") from None
        _note_batch(stages, info)
        return result, model

    def scored(items: list[tuple[str, float]], model: str) -> dict[str, Any]:
        return {"items": [{"item_id": i, "score": s} for i, s in items], "model": model}

    @app.post("/recommend", response_model=ItemsAnswer, responses=ERRORS,
              summary="Top-k next items for a stored user or a given history")
    async def recommend(body: RecommendRequest, request: Request) -> Response:
        stages = _stages(request)
        _check_length(body.history, "history", config.max_history)
        query = RecommendQuery(body.user_id, body.history, body.event_types, body.timestamps,
                               body.k, body.exclude, body.filter)
        items, model = await batched(query, stages)
        began = time.perf_counter()
        return _json(scored(items, model), stages, began)

    @app.post("/similar-items", response_model=ItemsAnswer, responses=ERRORS,
              summary="The k items most similar to an item (cosine of the model's vectors)")
    async def similar_items(body: SimilarRequest, request: Request) -> Response:
        stages = _stages(request)
        query = SimilarQuery(body.item_id, body.k, body.exclude, body.filter)
        items, model = await batched(query, stages)
        began = time.perf_counter()
        return _json(scored(items, model), stages, began)

    @app.post("/events", response_model=EventsAnswer, responses=ERRORS,
              summary="Append a user's events; answered once they are stored durably")
    async def events(body: EventsRequest, request: Request) -> Response:
        from recsft.serve.state import Event

        stages = _stages(request)
        _check_length(body.events, "events", config.max_history)
        current = service.engine
        assert current is not None and service.store is not None
        current.check_items([event.item_id for event in body.events], "events")
        now = time.time()
        batch = [Event(e.item_id, e.event_type, now if e.timestamp is None else e.timestamp)
                 for e in body.events]
        start = time.perf_counter()
        stored = await run_in_threadpool(service.store.append, body.user_id, batch)
        stages["state"] = time.perf_counter() - start
        service.metrics.events.inc(len(batch))
        return _json({"user_id": body.user_id, "appended": len(batch), "stored": stored},
                     stages)

    @app.get("/users/{user_id}", response_model=UserAnswer, responses=ERRORS,
             summary="A user's stored events, oldest first")
    async def user(request: Request,
                   user_id: Annotated[str, Path(min_length=1, max_length=256)]) -> Response:
        stages = _stages(request)
        assert service.store is not None
        start = time.perf_counter()
        state = await run_in_threadpool(service.store.get, user_id)
        stages["state"] = time.perf_counter() - start
        if state is None:
            raise ServeError(404, f"unknown user {user_id!r}: no events stored",
                             {"field": "user_id", "user_id": user_id})
        events = [{"item_id": i, "event_type": t, "timestamp": s}
                  for i, t, s in zip(state.items, state.event_types, state.timestamps)]
        return _json({"user_id": user_id, "count": len(events), "events": events}, stages)

    @app.get("/healthz", summary="The process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A model is loaded and the state store open",
             responses={503: {"model": ErrorAnswer}})
    async def readyz() -> Response:
        if not service.ready or service.engine is None or service.store is None:
            return Response(_dumps({"error": "not ready", "detail": None}), status_code=503,
                            media_type="application/json")
        return Response(_dumps({"status": "ready", **service.engine.info(),
                                "state": type(service.store).__name__}),
                        media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics (text exposition format)",
             response_class=Response)
    async def metrics() -> Response:
        text, content_type = service.metrics.render()
        return Response(text, media_type=content_type)

    @app.post("/admin/reload", responses={401: {"model": ErrorAnswer},
                                          403: {"model": ErrorAnswer},
                                          409: {"model": ErrorAnswer},
                                          422: {"model": ErrorAnswer}},
              openapi_extra={"requestBody": {"required": False, "content": {
                  "application/json": {"schema": ReloadRequest.model_json_schema()}}}},
              summary="Load a run folder and swap it in (bearer token)")
    async def reload(request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> Response:
        stages = _stages(request)
        service.authorize(authorization)  # before the body is read: no hints without it
        raw = await request.body()
        try:
            body = ReloadRequest.model_validate_json(raw) if raw.strip() else ReloadRequest()
        except ValidationError as err:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                          for e in err.errors(include_url=False)]) from None
        if config.workers > 1:
            raise ServeError(409, f"{config.workers} workers: reload them all with SIGHUP to "
                             "the main process (uvicorn restarts them one by one)")
        return _json(await service.reload(body.run), stages)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal as ``{"error": ..., "detail": ...}`` (a bug becomes a 500 in
    :class:`_Observed`, which keeps the connection open)."""

    @app.exception_handler(ServeError)
    async def refused(request: Request, exc: ServeError) -> Response:
        return Response(_dumps(exc.body()), status_code=exc.status,
                        media_type="application/json", headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return Response(_dumps({"error": "the body is not valid JSON", "detail": None}),
                            status_code=400, media_type="application/json")
        detail = [{"field": ".".join(str(part) for part in e.get("loc", ())[1:]) or "body",
                   "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in errors[:50]]
        fields = ", ".join(dict.fromkeys(d["field"] for d in detail))
        return Response(_dumps({"error": f"invalid request: {fields}", "detail": detail}),
                        status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return Response(_dumps({"error": str(exc.detail), "detail": None}),
                        status_code=exc.status_code, media_type="application/json",
                        headers=getattr(exc, "headers", None))

    from recsft.serve.state_base import StateError

    @app.exception_handler(StateError)
    async def store_failed(request: Request, exc: StateError) -> Response:
        logger.error("the state store failed answering %s %s: %s", request.method,
                     request.url.path, exc)
        return Response(_dumps({"error": "the user-state store failed; the server logged it",
                                "detail": None}),
                        status_code=503, media_type="application/json")


def log_to_stderr(level: str) -> None:
    """Send the ``recsft.serve`` log (reloads, refusals, internal errors with their
    traceback) to stderr at ``level``."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def app_from_env() -> FastAPI:
    """The app of a uvicorn worker process (``--workers N``): its config from
    :data:`~recsft.serve.config.CONFIG_ENV`."""
    import os

    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    log_to_stderr(config.log_level)
    return create_app(config)
