"""Prometheus metrics of ``recsft serve``, one registry per app (``GET /metrics``).

Names (all prefixed ``recsft_``):

* ``requests_total{endpoint, method, status}``: answered requests, by route template;
* ``request_duration_seconds{endpoint}``: latency from the first byte read to the response,
  with buckets from 0.25 ms (fine enough for a millisecond-level p99);
* ``request_stage_seconds{stage}``: the split of a request's time: ``parse`` (body read and
  validated), ``queue`` (waiting for its micro-batch), ``state`` (user state read), ``encode``
  (model inputs and user vectors), ``search`` (index search, popularity fallback),
  ``serialize`` (JSON answer); the stages a batch shares are counted for each request of it;
* ``batch_size``: requests per micro-batch, and ``batch_duration_seconds``;
* ``model_info{model, run, backend}``: 1 for the model being served;
  ``model_items``: its catalogue size; ``model_loaded_timestamp_seconds``;
* ``reloads_total{outcome}``: ``ok`` or ``refused``;
* ``events_total``: events appended through ``POST /events``;
* ``requests_in_flight``.

With several workers every process has its own registry: a scrape reads one worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ServeMetrics", "LATENCY_BUCKETS", "STAGE_BUCKETS", "STAGES"]

#: Request latency buckets (seconds): 0.25 ms steps up to 2 ms, 1 ms steps to 10 ms, then
#: coarser to 10 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00025, 0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.00175, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.04, 0.05,
    0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Stage buckets (seconds): from 20 µs.
STAGE_BUCKETS: tuple[float, ...] = (
    0.00002, 0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
    0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0)
#: The stages of a request, in order.
STAGES: tuple[str, ...] = ("parse", "queue", "state", "encode", "search", "serialize")


class ServeMetrics:
    """The collectors of one app, in their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("recsft_requests", "HTTP requests answered",
                                ["endpoint", "method", "status"], registry=registry)
        self.latency = Histogram("recsft_request_duration_seconds",
                                 "Request latency, first byte read to response",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.stages = Histogram("recsft_request_stage_seconds",
                                "Request latency split by stage", ["stage"],
                                buckets=STAGE_BUCKETS, registry=registry)
        self.batch_size = Histogram("recsft_batch_size", "Requests per micro-batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                                    registry=registry)
        self.batch_seconds = Histogram("recsft_batch_duration_seconds",
                                       "Time of one micro-batch in the worker thread",
                                       buckets=STAGE_BUCKETS, registry=registry)
        self.model_info = Gauge("recsft_model_info", "The model being served (value 1)",
                                ["model", "run", "backend"], registry=registry)
        self.model_items = Gauge("recsft_model_items", "Items in the served catalogue",
                                 registry=registry)
        self.model_loaded = Gauge("recsft_model_loaded_timestamp_seconds",
                                  "When the served model was loaded", registry=registry)
        self.reloads = Counter("recsft_reloads", "Model reloads, by outcome", ["outcome"],
                               registry=registry)
        self.events = Counter("recsft_events", "Events appended through POST /events",
                              registry=registry)
        self.in_flight = Gauge("recsft_requests_in_flight", "Requests being answered",
                               registry=registry)
        self._model_labels: tuple[str, str, str] | None = None

    def set_model(self, info: Mapping[str, Any]) -> None:
        """Record the model now served (the previous one's info series is removed)."""
        labels = (str(info["model"]), str(info["run"]), str(info["backend"]))
        if self._model_labels is not None and self._model_labels != labels:
            self.model_info.remove(*self._model_labels)
        self.model_info.labels(*labels).set(1)
        self._model_labels = labels
        self.model_items.set(info["items"])
        self.model_loaded.set(info["loaded_at"])

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float,
                        stages: Mapping[str, float]) -> None:
        """Record one answered request and its stages."""
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        for stage, value in stages.items():
            if stage in STAGES:
                self.stages.labels(stage).observe(value)

    def observe_batch(self, size: int, timings: Mapping[str, float]) -> None:
        """Record one micro-batch."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(sum(timings.values()))

    def render(self) -> tuple[bytes, str]:
        """``(Prometheus text exposition, its content type)``."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
