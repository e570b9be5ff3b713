"""The ``recsft`` command line: one parser builder per command group, one error boundary.

Heavy libraries are imported inside each command, so ``recsft --help`` answers at once.

The error boundary (:func:`main`): a :class:`~recsft.errors.RecsftError` (bad input, a refused
operation) prints one line naming the file, line or field and exits 2; Ctrl-C prints one line
and exits 130; anything else is a bug: one line says so and gives the path of a file holding the
full traceback, exit 1. No input ever shows a traceback.

What the terminal shows (:mod:`recsft.progress`): results on stdout; on stderr recsft's own
progress bars (only on a terminal, or with ``RECSFT_PROGRESS=1``) and notes, and nothing from
the libraries underneath (transformers' "Loading weights" / "Writing model shards" bars,
huggingface_hub and datasets bars and advisory logging: :func:`recsft.progress.silence_libraries`).
``--quiet`` (before or after the command) leaves results and errors only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recsft.cli.boundary import deferred_interrupts, guarded, interrupted, watch_interrupts


def build_parser() -> argparse.ArgumentParser:
    """The whole ``recsft`` parser; each command's ``handler`` is set on its sub-parser."""
    from recsft.cli import data, evaluate, export, hub, recommend, run, search, serve, train, tune
    from recsft.tasks.cli import COMMANDS as TASK_COMMANDS
    from recsft.tasks.cli import add_commands as add_task_commands

    parser = argparse.ArgumentParser(
        prog="recsft",
        description="Pretrained-transformer representations of behaviour sequences: train, "
        "evaluate with full ranking, recommend with FAISS.",
    )
    from recsft import __version__

    parser.add_argument("--version", action="version", version=f"recsft {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=_QUIET)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (train, tune, evaluate, recommend, search, hub, data, run, serve, export):
        group.add_commands(commands)
    add_task_commands(commands)
    for name, handler in TASK_COMMANDS.items():
        commands.choices[name].set_defaults(handler=handler)
    _add_quiet(commands)
    return parser


_QUIET = "print results and errors only: no progress bars, no notes"


def _add_quiet(commands: argparse._SubParsersAction) -> None:
    """``--quiet`` after any command too (``recsft train --quiet ...``); SUPPRESS keeps a
    command's parser from resetting a ``--quiet`` given before the command."""
    for sub in commands.choices.values():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _add_quiet(nested[0])
        else:
            sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                             help=_QUIET)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsft`` console script.

    Args:
        argv: The arguments; ``None``: this process's command line, and then this call owns
            the process (after Ctrl-C it ends it: :func:`recsft.cli.boundary.interrupted`).
    """
    from recsft import progress

    owns_process = argv is None
    if owns_process:
        watch_interrupts()
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        return interrupted("", owns_process)
    progress.set_quiet(args.quiet)
    progress.silence_libraries()
    verb = next((getattr(args, name) for name in ("data_command", "index_command", "run_command",
                                                 "export_command", "search_command")
                 if getattr(args, name, None)), None)
    name = f"{args.command} {verb}" if verb else args.command
    return guarded(name, lambda: _run(args), owns_process)


#: Commands that train or load a model: torch is imported first, with a Ctrl-C during its
#: native start-up held until the import is over (raised there, it aborts the process instead
#: of ending it). ``serve`` imports it in its workers; the others never need it.
_TORCH_COMMANDS = frozenset({"train", "tune", "windows", "cv", "evaluate", "transitions",
                             "recommend", "index", "search", "export", "finetune-task",
                             "cluster"})


def _run(args: argparse.Namespace) -> int:
    if args.command in _TORCH_COMMANDS:
        with deferred_interrupts():
            import torch  # noqa: F401
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
