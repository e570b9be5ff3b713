"""The ``recsft`` command line: one parser builder per command group, one error boundary.

Heavy libraries are imported inside each command, so ``recsft --help`` answers at once.

The error boundary (:func:`main`): a :class:`~recsft.errors.RecsftError` (bad input, a refused
operation) prints one line naming the file, line or field and exits 2; Ctrl-C prints one line
and exits 130; anything else is a bug: one line says so and gives the path of a file holding the
full traceback, exit 1. No input ever shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recsft.cli.boundary import guarded


def build_parser() -> argparse.ArgumentParser:
    """The whole ``recsft`` parser; each command's ``handler`` is set on its sub-parser."""
    from recsft.cli import data, evaluate, hub, recommend, run, train
    from recsft.tasks.cli import COMMANDS as TASK_COMMANDS
    from recsft.tasks.cli import add_commands as add_task_commands

    parser = argparse.ArgumentParser(
        prog="recsft",
        description="Pretrained-transformer representations of behaviour sequences: train, "
        "evaluate with full ranking, recommend with FAISS.",
    )
    from recsft import __version__

    parser.add_argument("--version", action="version", version=f"recsft {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (train, evaluate, recommend, hub, data, run):
        group.add_commands(commands)
    add_task_commands(commands)
    for name, handler in TASK_COMMANDS.items():
        commands.choices[name].set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recsft`` console script."""
    args = build_parser().parse_args(argv)
    verb = next((getattr(args, name) for name in ("data_command", "index_command", "run_command")
                 if getattr(args, name, None)), None)
    name = f"{args.command} {verb}" if verb else args.command
    return guarded(name, lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
