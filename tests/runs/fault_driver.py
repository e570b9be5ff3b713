"""Run one ``recsft`` command and kill it (SIGKILL) at its N-th rename or folder exchange.

Usage: ``python fault_driver.py N recsft-arguments...``. Exit status 137-like (killed) when the
N-th rename was reached, the command's own status otherwise. Every ``os.replace`` /
``os.rename`` and every atomic folder exchange counts as one point: they are exactly where a
crash can leave a write half done.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    target = int(sys.argv[1])
    seen = [0]

    def point() -> None:
        seen[0] += 1
        if seen[0] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    real_replace, real_rename = os.replace, os.rename

    def replace(*args, **kwargs):
        point()
        return real_replace(*args, **kwargs)

    def rename(*args, **kwargs):
        point()
        return real_rename(*args, **kwargs)

    os.replace, os.rename = replace, rename
    import recsft.fileio as fileio

    real_exchange = fileio.exchange

    def exchange(a, b):
        point()
        return real_exchange(a, b)

    fileio.exchange = exchange
    from recsft.cli import main as recsft

    return recsft(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
