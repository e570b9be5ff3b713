"""The ASGI middleware of ``recsft serve``: the body size limit, the ``Server-Timing``
header and the request metrics, around every request (:class:`Observed`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from recsft.serve.metrics import STAGES
from recsft.serve.schema import ENDPOINTS

if TYPE_CHECKING:
    from recsft.serve.service import Service

__all__ = ["Observed", "dumps"]

logger = logging.getLogger("recsft.serve")

class Observed:
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
    body = dumps(payload)
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


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes (NaN and infinities refused)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
