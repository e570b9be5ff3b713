"""``recsft serve``: the HTTP service of a run (FastAPI on uvicorn, :mod:`recsft.serve`).

One worker (default): the run is loaded and the state store opened here, then uvicorn serves
the app in this process; SIGHUP reloads the run folder (as ``POST /admin/reload``). Several
workers (``--workers N``): uvicorn starts N processes sharing the socket, each loading the run;
their user state must be shared, so ``--state`` must be a Redis URL or an SQLite file (the
default is a file); SIGHUP makes uvicorn replace the workers one by one, a new one serving
before an old one stops (a run that fails its checks keeps the old workers). The admin token
comes from the environment (``RECSFT_ADMIN_TOKEN``), never from the command line.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from recsft.errors import RecsftError

#: How long uvicorn waits for a new worker (it loads the run first) before it gives up and
#: keeps the old one (a SIGHUP restart).
WORKER_START_SECONDS = 300


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``recsft serve``."""
    serve = commands.add_parser(
        "serve", help="serve a run over HTTP: recommendations, user events, metrics, reload")
    serve.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes; more than one needs --state redis://... or an "
                       "SQLite file, and reloads by SIGHUP")
    serve.add_argument("--backend", choices=["eager", "onnx"], default="eager",
                       help="user vectors from PyTorch, or from the run's encoder.onnx "
                       "('recsft export onnx') run by onnxruntime")
    serve.add_argument("--state", default=None,
                       help="user-state store: sqlite:///abs/path.db, a file path, or "
                       "redis://host:port/db (default sqlite:///<cwd>/recsft-state.db)")
    serve.add_argument("--seed-state", action="store_true",
                       help="load every user's sequence of the run's data into the store first")
    serve.add_argument("--max-batch", type=int, default=64,
                       help="most requests answered by one model call")
    serve.add_argument("--max-wait-ms", type=float, default=0.0,
                       help="longest a request waits for others to join its batch (default 0: "
                       "a batch starts when the worker is free, with every request waiting)")
    serve.add_argument("--max-k", type=int, default=1000, help="largest k accepted")
    serve.add_argument("--max-history", type=int, default=1000,
                       help="longest history or events list in one request")
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000,
                       help="largest request body (larger: 413)")
    serve.add_argument("--state-length", type=int, default=None,
                       help="events kept per user (default: 200, or the model's window + 1)")
    serve.add_argument("--threads", type=int, default=1,
                       help="CPU threads of the model and the index search per worker")
    serve.add_argument("--log-level", default="warning",
                       choices=["critical", "error", "warning", "info", "debug"],
                       help="server log level (info: one line per request)")
    serve.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                       help="event loop (auto: uvloop when installed)")
    serve.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto",
                       help="HTTP parser (auto: httptools when installed)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from recsft.serve.config import ServeConfig, default_state_url

    config = ServeConfig.from_env(
        run=args.run, host=args.host, port=args.port, workers=args.workers,
        backend=args.backend, state=args.state or default_state_url(),
        seed_state=args.seed_state, state_length=args.state_length,
        max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_k=args.max_k,
        max_history=args.max_history, max_body_bytes=args.max_body_bytes,
        threads=args.threads, log_level=args.log_level, loop=args.loop, http=args.http)
    serve(config)
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``.

    Raises:
        RecsftError: the address cannot be bound (in use, not this machine's, no right).
    """
    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                 proto=socket.IPPROTO_TCP)[0][:3]
        # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets that say so,
        # and without it every answer written in two parts waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise RecsftError(f"--host {host}: not an address of this machine ({err})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError as err:
        sock.close()
        raise RecsftError(f"--host {host} --port {port}: cannot listen there "
                          f"({err.strerror or err})") from None
    return sock


def serve(config: object) -> None:
    """Serve until SIGINT or SIGTERM.

    Args:
        config: A :class:`~recsft.serve.config.ServeConfig`.

    Raises:
        RecsftError: the run, the store or the address cannot be used (before serving).
    """
    import dataclasses

    import uvicorn

    from recsft import progress
    from recsft.serve.app import create_app, log_to_stderr, prepare
    from recsft.serve.config import CONFIG_ENV, ServeConfig

    assert isinstance(config, ServeConfig)
    log_to_stderr(config.log_level)
    engine, store = prepare(config)  # checks the run and the store before binding
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    progress.note(f"recsft serve: http://{host}:{port} (model {engine.model}, "
                  f"{engine.num_items:,} items, {engine.backend} backend, {config.workers} "
                  f"worker{'s' if config.workers > 1 else ''}, state {_safe_url(config.state)})")
    sys.stderr.flush()
    options = dict(host=config.host, port=port, log_level=config.log_level,
                   access_log=config.log_level in ("info", "debug"), lifespan="on",
                   timeout_graceful_shutdown=10, loop=config.loop, http=config.http)
    try:
        if config.workers == 1:
            app = create_app(config, engine, store)
            server = uvicorn.Server(uvicorn.Config(app, **options))
            server.run(sockets=[sock])
            return
        # Each worker loads the run and opens the store itself; seeding was done here, once.
        store.close()
        store = None
        del engine
        os.environ[CONFIG_ENV] = dataclasses.replace(config, seed_state=False).to_json()
        import inspect

        from uvicorn.supervisors import Multiprocess

        if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
            # A new worker loads the run before it answers uvicorn's health check.
            options["timeout_worker_healthcheck"] = WORKER_START_SECONDS
        settings = uvicorn.Config("recsft.serve.app:app_from_env", factory=True,
                                  workers=config.workers, **options)
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.55
            supervisor = Multiprocess(settings, target=uvicorn.Server(settings).run,
                                      sockets=[sock])
        else:
            supervisor = Multiprocess(settings, sockets=[sock])
        supervisor.run()
    finally:
        if store is not None:
            store.close()
        sock.close()


def _safe_url(url: str) -> str:
    from recsft.serve.state_base import hide_password

    return hide_password(url)
