"""Event weights: a ``weight`` column computed from each event's type.

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import weight_event_types
    >>> weight_event_types(log, {"view": 1.0, "buy": 4.0}).frame["weight"].tolist()
    [1.0, 4.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from recsft.data.events import EventLog
from recsft.data.preprocess.view import _run_transform, _View


def weight_event_types(
    log: EventLog, weights: Mapping[str, float], default: float | None = None
) -> EventLog:
    """Add a ``weight`` column (float64) from each event's type.

    Every step of this module keeps the column (:func:`collapse_repeats` takes the weight of
    the last event, like the type); constructing a new ``EventLog`` from the frame drops it
    (the event log keeps only the canonical columns).

    Args:
        log: The events.
        weights: Event type -> weight, e.g. ``{"view": 1.0, "cart": 2.0, "buy": 4.0}``.
        default: Weight of types missing from ``weights``; ``None`` makes a missing type an
            error.

    Returns:
        A new log with a ``weight`` column; no event is removed.

    Raises:
        ValueError: Some event type has no weight and no default was given.
    """
    table = {str(k): float(v) for k, v in weights.items()}
    return _run_transform(
        log, "weight_event_types", {"weights": table, "default": default}, _weights, table,
        default,
    )


def _weights(
    view: _View, table: dict[str, float], default: float | None
) -> tuple[pd.DataFrame, dict, dict]:
    codes, uniques = view.codes("event_type")
    per_type = np.array([table.get(str(t), np.nan) for t in uniques], dtype=np.float64)
    weight = per_type[codes]
    missing = np.isnan(weight)
    if missing.any():
        if default is None:
            unknown = sorted({str(uniques[c]) for c in np.unique(codes[missing])})
            raise ValueError(
                f"weight_event_types: no weight for event type(s) {unknown}; add them to "
                "weights or pass default="
            )
        weight[missing] = float(default)
    return view.materialize().assign(weight=weight), view.carry(), {}
