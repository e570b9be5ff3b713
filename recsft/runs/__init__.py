"""Run folders: the folder ``recsft train`` writes, as an object (:class:`Run`), its file
names (:mod:`recsft.runs.files`), its manifest, the rules for where a training may write
(:mod:`recsft.runs.guard`), and what is computed from a saved run (evaluation, transitions,
comparison)."""

from recsft.runs.run import Run

__all__ = ["Run"]
