"""The settings of ``recsft serve`` (:class:`ServeConfig`), checked once, passed to the workers.

The admin token is never a command-line argument (other users of the machine can read a
process's arguments): it comes from the environment variable :data:`TOKEN_ENV`, and without it
the admin endpoints are disabled.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsft.errors import RecsftError, shorten

__all__ = ["ServeConfig", "BACKENDS", "TOKEN_ENV", "CONFIG_ENV", "default_state_url"]

#: How the user vectors are computed: the PyTorch model, or its ONNX export
#: (``recsft export onnx``) run by onnxruntime.
BACKENDS: tuple[str, ...] = ("eager", "onnx")
#: The environment variable holding the admin bearer token.
TOKEN_ENV = "RECSFT_ADMIN_TOKEN"
#: The environment variable that hands the config to uvicorn's worker processes.
CONFIG_ENV = "RECSFT_SERVE_CONFIG"


#: uvicorn event loops and HTTP parsers (``auto``: the fast one when installed).
LOOPS = ("auto", "asyncio", "uvloop")
HTTP_PARSERS = ("auto", "h11", "httptools")


def default_state_url() -> str:
    """``sqlite:///<cwd>/recsft-state.db``: an embedded store that needs no server."""
    return f"sqlite:///{Path.cwd().resolve() / 'recsft-state.db'}"


@dataclass
class ServeConfig:
    """Everything ``recsft serve`` is told.

    Attributes:
        run: The run folder served (and reloaded by default).
        host: Address to bind; ``127.0.0.1`` (this machine only) unless told otherwise.
        port: TCP port.
        workers: uvicorn worker processes; more than one needs a shared state store (Redis,
            or one SQLite file) and reloads by SIGHUP to the main process.
        backend: ``"eager"`` (PyTorch) or ``"onnx"`` (the run's ``encoder.onnx``).
        state: User-state store URL: ``sqlite:///abs/path.db`` (or a path) or
            ``redis://host:port/db``.
        seed_state: Load every user's sequence of the run's data into the store at start.
        state_length: Events kept per user; ``None``: 200, or the model's window plus one if
            that is longer (the event before the window gives the first time gap).
        max_batch: Most requests answered by one model call.
        max_wait_ms: Longest a request waits for others to join its batch. ``0`` (default):
            a batch starts as soon as the worker is free, with every request waiting by then
            (batches still grow with load, as requests queue while a batch runs); a wait
            helps only where one call costs far less per request in a larger batch.
        max_k: Largest ``k`` accepted (and never more than the catalogue).
        max_history: Longest history (or events list) a request may carry.
        max_body_bytes: Largest request body; larger bodies get 413.
        threads: CPU threads of the model (torch) and of the index search (FAISS); ``None``
            leaves the libraries' defaults.
        admin_token: Bearer token of ``POST /admin/reload`` (from :data:`TOKEN_ENV`);
            ``None`` disables the admin endpoints.
        log_level: uvicorn's log level.
        loop: uvicorn's event loop: ``"auto"`` (uvloop when installed, as with the
            ``recsft[serve]`` extra), ``"asyncio"`` or ``"uvloop"``.
        http: uvicorn's HTTP parser: ``"auto"`` (httptools when installed), ``"h11"`` or
            ``"httptools"``.
    """

    run: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    backend: str = "eager"
    state: str = field(default_factory=default_state_url)
    seed_state: bool = False
    state_length: int | None = None
    max_batch: int = 64
    max_wait_ms: float = 0.0
    max_k: int = 1000
    max_history: int = 1000
    max_body_bytes: int = 1_000_000
    threads: int | None = 1
    admin_token: str | None = field(default=None, repr=False)
    log_level: str = "warning"
    loop: str = "auto"
    http: str = "auto"

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def from_env(cls, **fields: Any) -> ServeConfig:
        """A config of ``fields``, its admin token read from :data:`TOKEN_ENV` (an empty
        value counts as none)."""
        token = os.environ.get(TOKEN_ENV) or None
        return cls(**{"admin_token": token, **fields})

    def check(self) -> None:
        """Check every field.

        Raises:
            RecsftError: naming the field, the value and what was expected.
        """
        def positive(name: str, value: Any, allow_zero: bool = False) -> None:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or value < 0 or (value == 0 and not allow_zero):
                bound = "a number >= 0" if allow_zero else "a positive number"
                raise RecsftError(f"serve config: {name} must be {bound}, got {shorten(value)}")

        if not isinstance(self.run, str) or not self.run:
            raise RecsftError(f"serve config: run must be a run folder, got {shorten(self.run)}")
        if self.backend not in BACKENDS:
            raise RecsftError(f"serve config: backend must be one of {', '.join(BACKENDS)}, "
                              f"got {shorten(self.backend)}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 0 <= self.port <= 65535:
            raise RecsftError(f"serve config: port must be an integer from 0 to 65535, got "
                              f"{shorten(self.port)}")
        for name in ("workers", "max_batch", "max_k", "max_history", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RecsftError(f"serve config: {name} must be a positive integer, got "
                                  f"{shorten(value)}")
        positive("max_wait_ms", self.max_wait_ms, allow_zero=True)
        for name, allowed in (("loop", LOOPS), ("http", HTTP_PARSERS)):
            if getattr(self, name) not in allowed:
                raise RecsftError(f"serve config: {name} must be one of {', '.join(allowed)}, "
                                  f"got {shorten(getattr(self, name))}")
        for name in ("state_length", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                raise RecsftError(f"serve config: {name} must be a positive integer or unset, "
                                  f"got {shorten(value)}")
        if not isinstance(self.state, str) or not self.state:
            raise RecsftError(f"serve config: state must be a store URL, got "
                              f"{shorten(self.state)}")
        if self.workers > 1 and not self.shared_state:
            raise RecsftError(f"serve config: {self.workers} workers need a state store they "
                              f"share (redis://host:port/db or a SQLite file), not "
                              f"{shorten(self.state)}")
        if not isinstance(self.host, str) or not self.host:
            raise RecsftError(f"serve config: host must be an address, got {shorten(self.host)}")

    @property
    def shared_state(self) -> bool:
        """Whether several processes can share the store (Redis, or a SQLite file; not an
        in-memory database)."""
        return ":memory:" not in self.state and "mode=memory" not in self.state

    def model_state_length(self, window: int) -> int:
        """Events kept per user for a model reading ``window`` events."""
        if self.state_length is not None:
            return self.state_length
        return max(200, window + 1)

    def to_json(self) -> str:
        """The config as JSON, the admin token left out (workers read it from the
        environment)."""
        fields = dataclasses.asdict(self)
        fields.pop("admin_token")
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """The config :meth:`to_json` wrote, the admin token from :data:`TOKEN_ENV`.

        Raises:
            RecsftError: not JSON of the config's fields.
        """
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecsftError(f"{CONFIG_ENV}: not JSON ({err.msg})") from None
        known = {f.name for f in dataclasses.fields(cls)} - {"admin_token"}
        if not isinstance(fields, dict) or set(fields) - known:
            raise RecsftError(f"{CONFIG_ENV}: expected an object of the fields "
                              f"{', '.join(sorted(known))}")
        return cls.from_env(**fields)
