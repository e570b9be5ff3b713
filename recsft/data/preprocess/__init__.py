"""Cleaning steps applied to an event log before splitting.

Every step is a function ``EventLog -> EventLog``. It never modifies its input; it returns a new
log whose ``steps`` list is the input's plus one record::

    {"name": "k_core", "params": {"user_k": 5, "item_k": 5},
     "events_before": 1000, "events_after": 712, "users_after": 80, "items_after": 41,
     ...step-specific counts, e.g. "iterations": 3}

All steps are vectorised (pandas / numpy, no Python loop over events). Row order: the surviving
rows keep the input's order (so later stable sorts keep breaking timestamp ties by file order),
except :func:`collapse_repeats`, which returns rows ordered by user id, then time, then file
position, as it always has. Wherever a step needs each user's events in time order, **ties in
timestamp keep the file's order** (a stable sort with the row position as the last key), as in
:meth:`recsft.data.events.EventLog.sequences`. This matters for logs whose order carries
information the timestamps do not (MovieLens ratings share a second; order-only formats such as
the SASRec text files use the position as the timestamp).

:func:`preprocess` applies the steps switched on in a :class:`PreprocessConfig` in this fixed
order (:data:`STEP_ORDER`):

1. :func:`time_window` — keep ``start <= timestamp < end``;
2. :func:`filter_event_types` — keep the listed behaviour types;
3. :func:`drop_duplicates` — remove exact duplicate events;
4. :func:`remove_abnormal_users` — drop users with bursts of more than N events a minute;
5. :func:`split_sessions` — one sequence per session (user ids become ``user#session``);
6. :func:`collapse_repeats` — consecutive events on one item become one event;
7. :func:`k_core` — iterative user / item k-core to a fixed point;
8. :func:`filter_sequence_length` — minimum / maximum events per user (drop or truncate);
9. :func:`weight_event_types` — a ``weight`` column from the event type.


Modules: :mod:`~recsft.data.preprocess.config` (:class:`PreprocessConfig`, :data:`STEP_ORDER`),
:mod:`~recsft.data.preprocess.pipeline` (:func:`preprocess`),
:mod:`~recsft.data.preprocess.cleaning` (steps 1-4 and :func:`to_unix_seconds`),
:mod:`~recsft.data.preprocess.sessions` (step 5 and :func:`session_table`),
:mod:`~recsft.data.preprocess.repeats` (step 6), :mod:`~recsft.data.preprocess.kcore` (step 7),
:mod:`~recsft.data.preprocess.lengths` (step 8), :mod:`~recsft.data.preprocess.weights`
(step 9), and :mod:`~recsft.data.preprocess.view`, the selection of rows and step records they
all run on.

Example:
    >>> import pandas as pd
    >>> from recsft.data.events import EventLog
    >>> from recsft.data.preprocess import PreprocessConfig, preprocess
    >>> log = EventLog(pd.DataFrame({
    ...     "user_id": ["a", "a", "a", "b"], "item_id": ["x", "x", "y", "y"],
    ...     "timestamp": [1, 1, 5, 3], "event_type": ["view", "view", "buy", "view"]}))
    >>> config = PreprocessConfig(drop_duplicates=True, user_k=2, item_k=2)
    >>> clean = preprocess(log, config)
    >>> [step["name"] for step in clean.steps]
    ['drop_duplicates', 'k_core']
"""

from recsft.data.preprocess.cleaning import (
    drop_duplicates,
    filter_event_types,
    remove_abnormal_users,
    time_window,
    to_unix_seconds,
)
from recsft.data.preprocess.config import STEP_ORDER, PreprocessConfig
from recsft.data.preprocess.kcore import k_core
from recsft.data.preprocess.lengths import filter_sequence_length
from recsft.data.preprocess.pipeline import preprocess
from recsft.data.preprocess.repeats import collapse_repeats
from recsft.data.preprocess.sessions import SESSION_SEPARATOR, session_table, split_sessions
from recsft.data.preprocess.weights import weight_event_types

__all__ = [
    "SESSION_SEPARATOR",
    "STEP_ORDER",
    "PreprocessConfig",
    "collapse_repeats",
    "drop_duplicates",
    "filter_event_types",
    "filter_sequence_length",
    "k_core",
    "preprocess",
    "remove_abnormal_users",
    "session_table",
    "split_sessions",
    "time_window",
    "to_unix_seconds",
    "weight_event_types",
]
