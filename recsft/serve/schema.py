"""The request and answer bodies of ``recsft serve`` (pydantic v2 models) and the fixed
paths of its endpoints; the OpenAPI schema at ``/openapi.json`` is built from them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

ItemId = Annotated[StrictStr, Field(min_length=1, max_length=256)]
UserId = Annotated[StrictStr, Field(min_length=1, max_length=256)]
EventType = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False)]
K = Annotated[StrictInt, Field(ge=1, description="number of items, 1..min(max_k, catalogue)")]

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


class SearchRequest(BaseModel):
    """A query, a user id (its stored history) or a history, and what to return."""

    model_config = ConfigDict(extra="forbid")
    query: StrictStr = Field(min_length=1, max_length=1024, description="the search text")
    user_id: UserId | None = None
    history: list[ItemId] | None = Field(None, description="item ids, oldest first")
    event_types: list[EventType] | None = Field(None, description="parallel to history")
    k: K = 10
    exclude: list[ItemId] = Field(default_factory=list, description="never return these")
    filter: list[ItemId] | None = Field(None, description="only return these")

    @model_validator(mode="after")
    def _one_source(self) -> SearchRequest:
        if not self.query.strip():
            raise ValueError("query is blank; expected search text")
        if (self.user_id is None) == (self.history is None):
            raise ValueError("give exactly one of user_id (the stored history) and history")
        if self.event_types is not None:
            if self.history is None:
                raise ValueError("event_types goes with history, not with user_id")
            if len(self.event_types) != len(self.history):
                raise ValueError(f"event_types has {len(self.event_types)} entries for a "
                                 f"history of {len(self.history)}")
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
    unknown_items: list[str] = Field(
        default_factory=list,
        description="item ids of these events the model does not know yet (stored all the "
                    "same, read as [UNK] until a reloaded run knows them)")


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
SEARCH_ERRORS = {status: {"model": ErrorAnswer} for status in (400, 404, 409, 413, 422, 503)}
ENDPOINTS = frozenset({"/recommend", "/search", "/similar-items", "/events", "/healthz", "/readyz",
                       "/metrics", "/admin/reload"})
