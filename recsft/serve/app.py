"""The HTTP app of ``recsft serve`` (FastAPI): :func:`create_app`.

Endpoints (JSON; the OpenAPI schema at ``/openapi.json``, its pages at ``/docs``):

* ``POST /recommend`` — ``{"user_id": "u1", "k": 10}`` (the user's stored history) or
  ``{"history": [...], "event_types": [...], "timestamps": [...], "k": 10}``, with optional
  ``exclude`` and ``filter`` (item ids): ``{"items": [{"item_id", "score"}], "model": "..."}``;
* ``POST /search`` — ``{"query": "navy hoodie", "user_id": "u1"}`` or ``{"query": ...,
  "history": [...], "event_types": [...]}`` with ``k``, ``exclude``, ``filter``: the same
  answer, from the run's search index (:meth:`Recommender.search
  <recsft.retrieval.recommender.Recommender.search>`); 409 when the run has none;
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

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import (
    ValidationError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsft.serve.batching import BatchInfo
from recsft.serve.config import CONFIG_ENV, ServeConfig
from recsft.serve.engine import (
    LISTED,
    Engine,
    RecommendQuery,
    SearchQuery,
    ServeError,
    SimilarQuery,
)
from recsft.serve.middleware import Observed, dumps
from recsft.serve.schema import (
    ERRORS,
    SEARCH_ERRORS,
    ErrorAnswer,
    EventsAnswer,
    EventsRequest,
    ItemsAnswer,
    RecommendRequest,
    ReloadRequest,
    SearchRequest,
    SimilarRequest,
    UserAnswer,
)
from recsft.serve.service import Service, open_state, prepare

if TYPE_CHECKING:
    from recsft.serve.state import StateStore

__all__ = ["create_app", "app_from_env", "prepare", "open_state", "Service", "log_to_stderr"]

logger = logging.getLogger("recsft.serve")

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
    body = dumps(payload)
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
    app.add_middleware(Observed, service=service)
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

    @app.post("/search", response_model=ItemsAnswer, responses=SEARCH_ERRORS,
              summary="Personalised search: top-k items for a query and a user or history")
    async def search(body: SearchRequest, request: Request) -> Response:
        stages = _stages(request)
        _check_length(body.history, "history", config.max_history)
        query = SearchQuery(body.query, body.user_id, body.history, body.event_types, body.k,
                            body.exclude, body.filter)
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
        # Items the model does not know yet are stored (a shop's newest products are viewed
        # before they are added to the run) and read as [UNK] until a reload knows them.
        unknown = current.unknown([event.item_id for event in body.events])
        now = time.time()
        batch = [Event(e.item_id, e.event_type, now if e.timestamp is None else e.timestamp)
                 for e in body.events]
        start = time.perf_counter()
        stored = await run_in_threadpool(service.store.append, body.user_id, batch)
        stages["state"] = time.perf_counter() - start
        service.metrics.events.inc(len(batch))
        return _json({"user_id": body.user_id, "appended": len(batch), "stored": stored,
                      "unknown_items": unknown[:LISTED]}, stages)

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
            return Response(dumps({"error": "not ready", "detail": None}), status_code=503,
                            media_type="application/json")
        return Response(dumps({"status": "ready", **service.engine.info(),
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
    :class:`Observed`, which keeps the connection open)."""

    @app.exception_handler(ServeError)
    async def refused(request: Request, exc: ServeError) -> Response:
        return Response(dumps(exc.body()), status_code=exc.status,
                        media_type="application/json", headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return Response(dumps({"error": "the body is not valid JSON", "detail": None}),
                            status_code=400, media_type="application/json")
        detail = [{"field": ".".join(str(part) for part in e.get("loc", ())[1:]) or "body",
                   "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in errors[:50]]
        fields = ", ".join(dict.fromkeys(d["field"] for d in detail))
        return Response(dumps({"error": f"invalid request: {fields}", "detail": detail}),
                        status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return Response(dumps({"error": str(exc.detail), "detail": None}),
                        status_code=exc.status_code, media_type="application/json",
                        headers=getattr(exc, "headers", None))

    from recsft.serve.state_base import StateError

    @app.exception_handler(StateError)
    async def store_failed(request: Request, exc: StateError) -> Response:
        logger.error("the state store failed answering %s %s: %s", request.method,
                     request.url.path, exc)
        return Response(dumps({"error": "the user-state store failed; the server logged it",
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
