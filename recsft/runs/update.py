"""Changing a complete run (new index, transitions, model card) without ever breaking it.

:func:`updating` builds the changed run as a hard-linked copy beside it
(``.tmp-<name>-*``), lets the caller write the new files there (atomic writes replace a link,
never the shared file), records the new manifest and exchanges the two folders in one atomic
step. A process killed at any point leaves the old run whole and checked; the copy is a
``.tmp-`` folder that nothing reads.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from recsft.fileio import linked_copy, swap_in, temporary_folder
from recsft.runs.manifest import Manifest
from recsft.runs.run import Run


@contextlib.contextmanager
def updating(run: Run, *names: str, info: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """Yield a linked copy of ``run``'s folder to write ``names`` into; swap it in when the
    block ends.

    The new manifest keeps the old entries and records ``names`` afresh (files a user put in
    the folder stay there, unlisted). Afterwards ``run`` holds the new manifest.

    Args:
        run: An opened (checked) run.
        names: Files, relative to the run folder, the block writes.
        info: Manifest info fields the change updates (``vocab_size`` and ``num_items`` of a
            run that gained items); the others are kept.

    Example:
        >>> with updating(Run.open("runs/demo"), "transitions.safetensors") as folder:
        ...     chain.save(folder)                                   # doctest: +SKIP
    """
    work = temporary_folder(run.path.parent, run.path.name)
    try:
        linked_copy(run.path, work)
        yield work
        written = [name for name in names if (work / name).is_file()]
        files = {**run.manifest.files, **Manifest.build(work, "recsft-run", {}, written).files}
        manifest = Manifest("recsft-run", files, {**run.manifest.info, **(info or {})})
        manifest.save(work)
        swap_in(work, run.path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    run.manifest = manifest
