"""The one rule that turns histories into a model's inputs.

Training, evaluation, the recommender, explanations, the tasks and clustering all call
:func:`model_inputs` (and :func:`read_positions` where they need to know which events were
read), so that a history means the same to the model wherever it comes from:

* **Settings from the model's config only.** ``max_position_embeddings`` (``L``, an appended
  ``[MASK]`` included), ``uses_mask_token`` and ``use_time_gaps`` are read from the model's own
  config (``model.config``, its ``config.json`` as a dict, or an :class:`InputConfig` where no
  model is at hand), never from a run config.
* **What the inputs are for** (``use``) fixes how many of the newest events are kept and
  whether ``[MASK]`` is appended:

  ==========  ==============================================  ================================
  ``use``     events kept                                     appended
  ==========  ==============================================  ================================
  ``query``   ``L - 1`` (models with ``[MASK]``), else ``L``  ``[MASK]`` when the model uses it
  ``events``  ``L``                                           nothing
  ``train``   ``L`` (the collator masks), ``L + 1`` (causal:  nothing
              inputs and next-item labels)
  ==========  ==============================================  ================================

  ``query`` gives the model's next-item query vector (evaluation, recommendations,
  explanations, fine-tuning); ``events`` the states of the events themselves (mean-pooled user
  vectors of clustering and contrastive fine-tuning); ``train`` the training sequences.
* **Time gaps** are added exactly when the model was trained with them: from the timestamps
  (seconds) when given, else every gap "unknown" (the input of a history whose times are not
  known). A row of timestamps may be empty (that user's times are unknown). The gap of the
  oldest kept event is measured to its predecessor in the full history.
* **Unknown items** (not in the tokenizer's vocabulary) follow one policy, ``unknown``:

  - ``"unk"`` (:data:`DEFAULT_UNKNOWN`, used everywhere): the event stays and its item is read
    as ``[UNK]``, with its event type and time. Training and evaluation have always read
    unknown items this way (a run evaluated on another dataset sharing item ids, see
    ``recsft evaluate --data-config``), so the numbers evaluation measures are those of the
    inputs served;
  - ``"drop"``: the event is removed before the newest events are kept, with its event type
    and time (the next older known event moves into the window).

  The recommender answers a history holding no item the model knows with the most popular
  items, whatever the policy (:class:`~recsft.retrieval.recommender.Recommender`).

Example:
    >>> inputs = model_inputs(tokenizer, model.config, [["i1", "i7", "i3"]],
    ...                       timestamps=[[0, 60, 3600]])
    >>> model.encode_sequences(**inputs)               # (1, hidden) user vectors
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsft.errors import RecsftError, shorten

if TYPE_CHECKING:
    from recsft.tokenization import BehaviorTokenizer

__all__ = ["InputConfig", "UNKNOWN_POLICIES", "DEFAULT_UNKNOWN", "USES", "input_config",
           "event_budget", "read_positions", "model_inputs", "check_parallel"]

#: What :func:`model_inputs` does with an item the tokenizer does not know.
UNKNOWN_POLICIES: tuple[str, ...] = ("unk", "drop")
#: The policy every caller in recsft uses: unknown items are read as ``[UNK]``.
DEFAULT_UNKNOWN = "unk"
#: What the inputs are for (see the module docstring).
USES: tuple[str, ...] = ("query", "events", "train")


@dataclass(frozen=True)
class InputConfig:
    """The three fields of a model config that :func:`model_inputs` reads, for callers with no
    model at hand (an evaluator built before its model, tests, benchmarks).

    Attributes:
        max_position_embeddings: ``L``, the longest input (an appended ``[MASK]`` included).
        uses_mask_token: Whether the model reads a history with an appended ``[MASK]``.
        use_time_gaps: Whether the model reads ``time_gap_ids``.
    """

    max_position_embeddings: int
    uses_mask_token: bool = False
    use_time_gaps: bool = False


def input_config(config: Any) -> InputConfig:
    """The input settings of a model config: a recsft model's ``config``, its ``config.json``
    as a dict (e.g. :attr:`recsft.runs.Run.model_config`, no model loaded), or an
    :class:`InputConfig`.

    Raises:
        TypeError: ``config`` has no ``max_position_embeddings`` or ``uses_mask_token``.
        RecsftError: ``max_position_embeddings`` is not a positive integer.
    """
    if isinstance(config, InputConfig):
        settings = config
    else:
        absent = object()

        def field(name: str, default: Any = absent) -> Any:
            value = (config.get(name, default) if isinstance(config, Mapping)
                     else getattr(config, name, default))
            if value is absent:
                raise TypeError(f"{type(config).__name__} is not a recsft model config: it has "
                                f"no {name}")
            return value

        settings = InputConfig(field("max_position_embeddings"), bool(field("uses_mask_token")),
                               bool(field("use_time_gaps", False)))
    length = settings.max_position_embeddings
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise RecsftError(f"max_position_embeddings: expected a positive integer, got "
                          f"{shorten(length)}")
    return settings


def event_budget(config: Any, use: str = "query") -> int:
    """How many of the newest events the model reads for ``use`` (see the module docstring).

    Raises:
        RecsftError: an unknown ``use``.
    """
    if use not in USES:
        raise RecsftError(f"use: expected one of {', '.join(USES)}, got {shorten(use)}")
    settings = input_config(config)
    length, masked = settings.max_position_embeddings, settings.uses_mask_token
    if use == "query":
        return length - int(masked)
    if use == "train":
        return length + int(not masked)
    return length


def _check_unknown(unknown: str) -> None:
    if unknown not in UNKNOWN_POLICIES:
        raise RecsftError(f"unknown: expected one of {', '.join(UNKNOWN_POLICIES)}, got "
                          f"{shorten(unknown)}")


def check_parallel(histories: Sequence[Sequence[str]],
                   event_types: Sequence[Sequence[Any]] | None = None,
                   timestamps: Sequence[Sequence[Any]] | None = None, *,
                   empty_times: bool = True) -> None:
    """Check that the event types and timestamps have one row per history, each as long as its
    history.

    Args:
        histories: ``n`` item-id sequences.
        event_types: Optional rows of event types.
        timestamps: Optional rows of times.
        empty_times: Also accept an empty row of timestamps (that user's times are unknown).

    Raises:
        RecsftError: a row count or a row length that does not match, naming the row.
    """
    for name, rows, may_be_empty in (("event_types", event_types, False),
                                     ("timestamps", timestamps, empty_times)):
        if rows is None:
            continue
        if len(rows) != len(histories):
            raise RecsftError(f"{name}: expected one row per history ({len(histories)}), got "
                              f"{len(rows)}")
        for row, (values, history) in enumerate(zip(rows, histories)):
            if len(values) != len(history) and not (may_be_empty and len(values) == 0):
                raise RecsftError(f"{name}[{row}]: expected {len(history)} entries, one per "
                                  f"history item, got {len(values)}")


def read_positions(tokenizer: BehaviorTokenizer, config: Any,
                   histories: Sequence[Sequence[str]], *, use: str = "query",
                   unknown: str = DEFAULT_UNKNOWN) -> list[list[int]]:
    """The positions of each history whose events the model reads, oldest first.

    Args:
        tokenizer: The model's tokenizer.
        config: The model's config (see :func:`input_config`).
        histories: ``n`` item-id sequences, oldest first.
        use: What the inputs are for (see the module docstring).
        unknown: ``"unk"`` or ``"drop"`` (see the module docstring).

    Returns:
        ``n`` lists of indices into the histories: the events :func:`model_inputs` keeps, in
        the same order.
    """
    _check_unknown(unknown)
    budget = event_budget(config, use)
    if unknown == "drop":
        candidates = tokenizer.known_positions(histories)
    else:
        candidates = [list(range(len(history))) for history in histories]
    return [rows[len(rows) - budget:] if budget < len(rows) else rows
            for rows in candidates] if budget > 0 else [[] for _ in histories]


def model_inputs(tokenizer: BehaviorTokenizer, config: Any,
                 histories: Sequence[Sequence[str]],
                 event_types: Sequence[Sequence[str]] | None = None,
                 timestamps: Sequence[Sequence[int | float]] | None = None, *,
                 use: str = "query", unknown: str = DEFAULT_UNKNOWN, padding: bool = True,
                 return_tensors: str | None = "pt") -> dict[str, Any]:
    """A model's inputs for histories, by the one rule of this module.

    Args:
        tokenizer: The model's tokenizer.
        config: The model's config: ``max_position_embeddings``, ``uses_mask_token`` and
            ``use_time_gaps`` are read from it (see :func:`input_config`).
        histories: ``n`` item-id sequences, oldest first.
        event_types: Optional, one row of event types per history (default: ``[UNK]`` type).
        timestamps: Optional, one row of event times (seconds) per history, or an empty row
            for unknown times; read only by a model with ``use_time_gaps``.
        use: ``query``, ``events`` or ``train`` (see the module docstring).
        unknown: ``"unk"`` (default, see :data:`DEFAULT_UNKNOWN`) or ``"drop"``.
        padding: Pad on the left to the longest row (always with tensors).
        return_tensors: ``"pt"`` for ``(n, W)`` torch tensors, ``None`` for lists.

    Returns:
        ``input_ids``, ``token_type_ids``, ``attention_mask`` (and ``time_gap_ids`` when the
        model uses time gaps), each ``(n, W)`` with ``W <= event_budget(config, use) + 1``,
        padded on the left.

    Raises:
        RecsftError: an unknown ``use`` or ``unknown``, or rows not parallel to ``histories``
            (see :func:`check_parallel`).
    """
    _check_unknown(unknown)
    budget = event_budget(config, use)
    settings = input_config(config)
    check_parallel(histories, event_types, timestamps)
    if unknown == "drop":
        kept = tokenizer.known_positions(histories)

        def pick(rows: Sequence[Sequence[Any]] | None) -> list[list[Any]] | None:
            return None if rows is None else [[row[i] for i in k] if len(row) else []
                                              for row, k in zip(rows, kept)]

        histories, event_types, timestamps = pick(histories), pick(event_types), pick(timestamps)
    append_mask = use == "query" and settings.uses_mask_token
    if settings.use_time_gaps:
        times = timestamps if timestamps is not None else [[] for _ in histories]
    else:
        times = None
    return tokenizer.encode_histories(
        histories, event_types, max_length=budget + int(append_mask), append_mask=append_mask,
        padding=padding, return_tensors=return_tensors, timestamps=times)
