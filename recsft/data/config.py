"""The ``data`` section of a run config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataConfig:
    """Where the events come from and how sequences are cut.

    Attributes:
        source: ``"synthetic"`` for the embedded generator, a named dataset of
            :mod:`recsft.data.registry` (e.g. ``amazon-beauty``), or a path to an event file.
        path: Local copy of a named dataset (its folder or event file); without it the
            dataset is downloaded into the cache.
        format: Reader for a path (``auto``, ``csv``, ``tsv``, ``parquet``, ``sasrec``,
            ``s3rec``).
        columns: Column mapping for tables, canonical name -> name in the file.
        synthetic: Overrides of :class:`recsft.data.synthetic.SyntheticConfig` fields.
        collapse_repeats: Collapse consecutive events on the same item (view → cart → buy).
        max_length: Longest token sequence given to the model (the appended [MASK] included).
        split: Split protocol; ``leave-one-out``.
    """

    source: str = "synthetic"
    path: str | None = None
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    collapse_repeats: bool = False
    max_length: int = 50
    split: str = "leave-one-out"
