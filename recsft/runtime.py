"""Process-wide settings that recsft's entry points apply: glibc malloc's heap top pad.

A CPU forward pass of a small sequence model allocates and frees activations of a few
megabytes hundreds of times a second. glibc returns freed memory at the top of the heap to the
system as soon as more than its trim threshold is free, so the next allocation of the same size
faults its pages in again, zero-filled by the kernel: about 1.6 µs per 4 KiB page on the
project's machine. A full-ranking evaluation of MovieLens 100K (SASRec, length 50, 943 users)
took 5,000–6,400 faults and 13–15 ms of system CPU time; keeping 64 MiB at the heap top
(``M_TOP_PAD``) leaves 20–50 faults and 0.2–0.4 ms, and the median evaluation went from
0.094–0.118 s to 0.083–0.089 s (three alternating pairs of processes, 30 evaluations each).
The memory stays with the process once used (at most the pad above its peak heap).

The ``recsft`` command and ``scripts/finetune.py`` call :func:`keep_heap_top` at start.
Python users may call it themselves; ``RECSFT_MALLOC_TOP_PAD=0`` (bytes) turns it off, and
glibc's own ``MALLOC_TOP_PAD_`` (read by glibc at process start) takes precedence.
"""

from __future__ import annotations

import os
import platform
import sys

#: glibc's ``mallopt`` parameter number of the heap top pad.
M_TOP_PAD = -2
#: Bytes kept at the heap top by default.
DEFAULT_TOP_PAD = 64 << 20
#: Environment variable overriding the pad (bytes; 0 leaves malloc alone).
TOP_PAD_VARIABLE = "RECSFT_MALLOC_TOP_PAD"


def keep_heap_top(pad: int | None = None) -> bool:
    """Let glibc keep ``pad`` bytes free at the top of the heap instead of returning them.

    Args:
        pad: Bytes to keep (default: ``RECSFT_MALLOC_TOP_PAD`` or :data:`DEFAULT_TOP_PAD`).

    Returns:
        Whether the setting was applied: ``False`` off Linux/glibc, with a pad of 0, or where
        glibc's own ``MALLOC_TOP_PAD_`` is set.

    Raises:
        ValueError: ``RECSFT_MALLOC_TOP_PAD`` is not a whole number of bytes.
    """
    if pad is None:
        text = os.environ.get(TOP_PAD_VARIABLE, str(DEFAULT_TOP_PAD))
        try:
            pad = int(text)
        except ValueError:
            raise ValueError(f"{TOP_PAD_VARIABLE}={text!r}: expected a whole number of bytes "
                             "(0 leaves malloc alone)") from None
    if pad <= 0 or "MALLOC_TOP_PAD_" in os.environ:
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    return bool(libc.mallopt(M_TOP_PAD, ctypes.c_int(min(pad, 2**31 - 1))))
