"""The command line's one error boundary (see :mod:`recsft.cli`).

Ctrl-C: the ``KeyboardInterrupt`` unwinds the command (a training removes its unfinished work
folder, releases its lock; checkpoints stay for ``--resume``), then one line says
``recsft <command>: interrupted`` and the status is 130. When the boundary owns the process
(the ``recsft`` command itself, not a caller of :func:`recsft.cli.main` with arguments), a
further Ctrl-C is ignored and the process ends at once after that line: an interpreter
shutting down with half-imported native libraries (an interrupt during ``import torch``) can
otherwise die of the signal or abort, and threads still joining print their own tracebacks.

The ``recsft`` process also watches for interrupts that Python would lose
(:func:`watch_interrupts`): a ``KeyboardInterrupt`` raised inside a callback (importlib's
module-lock callback, during an import) is "ignored" by Python, which prints its traceback and
carries on training; and an interrupt that a library caught halfway through an import leaves
a broken module that fails later with an unrelated error. The first is raised again at once,
the second is reported as Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
_PACKAGE = str(Path(__file__).resolve().parents[1])


def guarded(command: str, call: Callable[[], int], owns_process: bool = False) -> int:
    """Run one command; turn every failure into one line on stderr and an exit status.

    Args:
        command: The command's name, for the message prefix.
        call: The command.
        owns_process: This is the ``recsft`` process itself: after Ctrl-C, exit at once
            (:func:`interrupted`) instead of returning.

    Returns:
        The command's status, 2 for an anticipated failure, 130 for Ctrl-C, 1 for a bug.
    """
    from recsft.errors import RecsftError

    prefix = f"recsft {command}: error:"
    try:
        try:
            return call()
        except Exception:
            if _SIGINT["received"]:
                # A library caught the KeyboardInterrupt (an import half done) and failed
                # later because of it: still Ctrl-C.
                raise KeyboardInterrupt from None
            raise
    except KeyboardInterrupt:
        return interrupted(command, owns_process)
    except RecsftError as err:
        print(f"{prefix} {_one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader of our output went away (``recsft recommend ... | head``): not an error.
        sys.stderr.close()
        return 0
    except MemoryError:
        print(f"{prefix} out of memory; make the job smaller (evaluation.batch_size, "
              "training.batch_size, model.hidden_size, --k, or fewer users per file)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, FileNotFoundError, KeyError, NotADirectoryError, IsADirectoryError,
            PermissionError) as err:
        if _raised_by_recsft(err) or isinstance(err, OSError) and err.filename:
            print(f"{prefix} {_one_line(err)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return _report_bug(command, err)
    except OSError as err:
        if err.filename:
            print(f"{prefix} {err.filename}: {err.strerror}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return _report_bug(command, err)
    except Exception as err:  # noqa: BLE001 (the boundary: everything else is a bug)
        return _report_bug(command, err)


_SIGINT = {"received": False, "deferred": False}


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold a Ctrl-C that lands inside the block (remembered, not raised) and raise it once
    the block is over: for native imports (torch), where a ``KeyboardInterrupt`` raised from a
    Python callback inside C++ start-up code aborts the process (SIGABRT) instead of ending
    it as Ctrl-C. Only in the ``recsft`` process (:func:`watch_interrupts` in place)."""
    if _SIGINT["deferred"] or signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        yield
        return
    held = _SIGINT["received"]
    _SIGINT["deferred"] = True
    try:
        yield
    finally:
        _SIGINT["deferred"] = False
    if _SIGINT["received"] and not held:
        raise KeyboardInterrupt


def watch_interrupts() -> None:
    """In the ``recsft`` process: remember Ctrl-C (raising ``KeyboardInterrupt`` as Python
    does), and raise it again where Python swallowed it in a callback.

    Only where Python's own handler is in place (not inside a program that set its own)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def received(signum: int, frame: object) -> None:
        _SIGINT["received"] = True
        if not _SIGINT["deferred"]:
            raise KeyboardInterrupt

    def unraisable(hook_args: Any) -> None:
        if isinstance(hook_args.exc_value, KeyboardInterrupt):
            # Python would print "Exception ignored in ..." and go on: deliver it again a
            # moment later, from another thread, so that it is raised in ordinary code once
            # this callback is over (if it lands in a callback again, this repeats).
            import _thread
            import threading

            timer = threading.Timer(0.05, _thread.interrupt_main, (signal.SIGINT,))
            timer.daemon = True
            timer.start()
            return
        previous(hook_args)

    previous = sys.unraisablehook
    signal.signal(signal.SIGINT, received)
    sys.unraisablehook = unraisable


def interrupted(command: str, owns_process: bool = False) -> int:
    """Ctrl-C: one line on stderr; status 130 (see the module docstring).

    Args:
        command: The command's name (``"train"``), or ``""`` before one was parsed.
        owns_process: Ignore further Ctrl-C and end the process now, skipping the interpreter's
            shutdown (nothing recsft writes depends on it: files are complete or absent).
    """
    if owns_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    name = f"recsft {command}" if command else "recsft"
    with contextlib.suppress(OSError, ValueError):   # a closed stderr
        print(f"\n{name}: interrupted", file=sys.stderr, flush=True)
    if owns_process:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def _raised_by_recsft(err: BaseException) -> bool:
    """Whether the innermost frame that raised ``err`` is recsft's own code (a message written
    for users), rather than a library's."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(_PACKAGE)


def _one_line(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    elif isinstance(err, OSError) and err.filename and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err)
    text = " ".join(text.split())
    return text if len(text) <= 2000 else text[:1997] + "..."


def _report_bug(command: str, err: BaseException) -> int:
    """Write the traceback to a file and print one line pointing at it."""
    folder = os.environ.get("RECSFT_CRASH_DIR") or tempfile.gettempdir()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    where = "(could not be written)"
    try:
        handle, path = tempfile.mkstemp(dir=folder, prefix=f"recsft-crash-{stamp}-",
                                        suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(f"recsft {command} ({' '.join(sys.argv)})\n\n")
            traceback.print_exception(type(err), err, err.__traceback__, file=out)
        where = path
    except OSError:
        pass
    name = type(err).__name__
    print(f"recsft {command}: internal error, a bug in recsft ({name}: "
          f"{_one_line(err)[:300]}); the traceback is in {where}; please report it",
          file=sys.stderr)
    return EXIT_BUG
