"""Run folders: the folder ``recsft train`` writes, as an object (:class:`Run`), its file
names (:mod:`recsft.runs.files`), its manifest, the rules for where a training may write
(:mod:`recsft.runs.guard`), and what is computed from a saved run (evaluation, transitions,
comparison, new items without retraining: :mod:`recsft.runs.items`)."""

from recsft.runs.items import add_recommender_items, add_run_items
from recsft.runs.run import Run

__all__ = ["Run", "add_recommender_items", "add_run_items"]
