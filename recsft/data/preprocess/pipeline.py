"""The cleaning pipeline: the steps a :class:`PreprocessConfig` switches on, in the fixed order
:data:`~recsft.data.preprocess.STEP_ORDER`, run on one selection of rows.

Filters only narrow the selection and each column is factorised at most once for the whole
chain, so the frame is materialised once at the end (and after each transforming step).

Example:
    >>> from recsft.data.preprocess.config import example_log
    >>> log = example_log()  # a: view x (t=1), buy x (2), view y (9000); b: view y (3)
    >>> from recsft.data.preprocess import PreprocessConfig, preprocess
    >>> clean = preprocess(log, PreprocessConfig(drop_duplicates=True, user_k=2, item_k=2))
    >>> [step["name"] for step in clean.steps]
    ['drop_duplicates', 'k_core']
"""

from __future__ import annotations

from recsft.data.events import EventLog
from recsft.data.preprocess.cleaning import (
    _abnormal_keep,
    _abnormal_params,
    _duplicates_keep,
    _event_types_keep,
    _kept_types,
    _time_window_keep,
    _window_bounds,
)
from recsft.data.preprocess.config import PreprocessConfig
from recsft.data.preprocess.kcore import _check_k, _k_core_keep
from recsft.data.preprocess.lengths import _length_keep, _length_params
from recsft.data.preprocess.repeats import _collapse
from recsft.data.preprocess.sessions import _session_params, _sessions
from recsft.data.preprocess.view import _filter_step, _finish, _transform_step, _View
from recsft.data.preprocess.weights import _weights


def preprocess(log: EventLog, config: PreprocessConfig) -> EventLog:
    """Apply the steps ``config`` switches on, in the fixed order :data:`STEP_ORDER`.

    The order: time window → event-type filter → exact duplicates → abnormal users →
    sessions → collapse repeats → k-core → sequence length → event weights. Filters that
    define the data's scope come first; duplicates go before the burst detector so that double
    logging does not flag a user; abnormal users are judged on whole users before sessions;
    repeats are collapsed inside sessions; k-core runs on the final events; the length bounds
    come last so that the model's inputs respect them (dropping or truncating users after the
    k-core can leave an item below ``item_k``; ``user_k >= min_length`` makes the minimum
    redundant); weights last, on the final event types.

    Args:
        log: The events (not modified).
        config: The steps to apply.

    Returns:
        The cleaned log; ``steps`` gains one record per applied step, in order. With every
        step off, a new log holding the same events and steps.
    """
    c = config
    # Check every option before any work.
    window = _window_bounds(c.start, c.end) if c.start is not None or c.end is not None else None
    kept = _kept_types(c.keep_event_types) if c.keep_event_types is not None else None
    abnormal = (
        _abnormal_params(c.max_events_per_minute, 60)
        if c.max_events_per_minute is not None else None
    )
    sessions = (
        _session_params(c.session_gap_seconds) if c.session_gap_seconds is not None else None
    )
    core = _check_k(c.user_k, c.item_k) if c.user_k > 1 or c.item_k > 1 else None
    lengths = (
        _length_params(c.min_length, c.max_length, c.truncate)
        if c.min_length is not None or c.max_length is not None else None
    )
    weights = (
        {str(k): float(v) for k, v in c.event_weights.items()}
        if c.event_weights is not None else None
    )

    view = _View(log.frame)
    records: list[dict] = []
    if window is not None:
        records.append(_filter_step(
            view, "time_window", {"start": window[0], "end": window[1]}, _time_window_keep,
            *window,
        ))
    if kept is not None:
        records.append(_filter_step(
            view, "filter_event_types", {"keep": kept}, _event_types_keep, kept
        ))
    if c.drop_duplicates:
        records.append(_filter_step(view, "drop_duplicates", {}, _duplicates_keep))
    if abnormal is not None:
        records.append(_filter_step(
            view, "remove_abnormal_users", abnormal, _abnormal_keep,
            abnormal["max_events_per_minute"], abnormal["window_seconds"],
        ))
    if sessions is not None:
        view, record = _transform_step(
            view, "split_sessions", sessions, _sessions, sessions["gap_seconds"]
        )
        records.append(record)
    if c.collapse_repeats:
        view, record = _transform_step(view, "collapse_repeats", {}, _collapse)
        records.append(record)
    if core is not None:
        records.append(_filter_step(
            view, "k_core", {"user_k": core[0], "item_k": core[1]}, _k_core_keep, *core
        ))
    if lengths is not None:
        records.append(_filter_step(
            view, "filter_sequence_length", lengths, _length_keep, lengths["min_length"],
            lengths["max_length"], lengths["truncate"],
        ))
    if weights is not None:
        view, record = _transform_step(
            view, "weight_event_types", {"weights": weights, "default": c.default_weight},
            _weights, weights, c.default_weight,
        )
        records.append(record)
    return _finish(log, view.materialize(), records)
