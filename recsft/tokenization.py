"""BehaviorTokenizer: serializes behaviour sequences to token streams.

A user's events become two parallel id streams:

* ``input_ids`` — one token per event: its item, from a word-level vocabulary of special tokens
  (``[PAD]``, ``[UNK]``, ``[MASK]``, ``[CLS]``) followed by the item tokens;
* ``token_type_ids`` — the event type (view / cart / fav / buy / ...) of each event, from a small
  vocabulary that starts with the same special tokens;
* ``time_gap_ids`` (when timestamps are given) — the log-scaled time since the previous event,
  from :func:`time_gap_ids`: ``0`` padding, ``1`` no previous event or time unknown, then
  ``2 + floor(log2(1 + seconds))`` up to ``TIME_GAP_BUCKETS - 1`` (about 17 years).

Sequences are truncated to the newest ``max_length`` events and padded on the left, so the newest
event is always the last position. The item vocabulary is a Hugging Face ``tokenizers``
``WordLevel`` model (whitespace-split, no normalizer) wrapped in
:class:`transformers.PreTrainedTokenizerFast`, so ``save_pretrained`` / ``from_pretrained`` /
``AutoTokenizer`` / ``push_to_hub`` and every standard call (``tok("i1 i2")``, ``encode``,
``decode``, ``tokenize``, ``is_split_into_words=True``, padding, ``return_tensors``) work as for
any tokenizer.

Loading: transformers 5 hands a tokenizer class that defines ``__init__`` the ``vocab`` read from
``tokenizer.json`` (not the file) and expects the class to build its own pipeline from it; a
class that leaves that to the base class gets a BPE model with no merges, which splits nothing
and encodes every string to ``[]``. :class:`BehaviorTokenizer` therefore builds its
``WordLevel`` + ``WhitespaceSplit`` pipeline from ``vocab`` itself, the same pipeline
:meth:`BehaviorTokenizer.from_sequences` builds, so folders written by any recsft version load
alike.

Example:
    >>> tok = BehaviorTokenizer.from_sequences([["a", "b"], ["b", "c"]], event_types=["view"])
    >>> enc = tok.encode_histories([["a", "b"]], append_mask=True, return_tensors="pt")
    >>> enc["input_ids"].shape
    torch.Size([1, 3])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from recsft.errors import RecsftError

PAD, UNK, MASK, CLS = "[PAD]", "[UNK]", "[MASK]", "[CLS]"
SPECIAL_TOKENS = (PAD, UNK, MASK, CLS)

#: Size of the time-gap vocabulary: padding, "unknown", then 30 log2-second buckets.
TIME_GAP_BUCKETS = 32
#: Time-gap id of an event with no previous event, a ``[MASK]`` or an unknown time.
NO_GAP = 1


def time_gap_ids(timestamps: Sequence[int | float]) -> list[int]:
    """Log-scaled bucket of the time since the previous event, for each event.

    Args:
        timestamps: One user's event times in seconds, oldest first (length ``n``).

    Returns:
        ``n`` ids: :data:`NO_GAP` for the first event, else ``2 + floor(log2(1 + gap))`` with the
        gap in whole seconds (negative gaps count as 0), capped at ``TIME_GAP_BUCKETS - 1``.

    Example:
        >>> time_gap_ids([0, 0, 1, 60, 86_460])
        [1, 2, 3, 7, 18]
    """
    out, previous, top = [], None, TIME_GAP_BUCKETS - 1
    for stamp in timestamps:
        if previous is None:
            out.append(NO_GAP)
        else:
            gap = max(int(stamp - previous), 0)
            out.append(min(2 + (gap + 1).bit_length() - 1, top))
        previous = stamp
    return out


class BehaviorTokenizer(PreTrainedTokenizerFast):
    """Word-level tokenizer over item ids, with a parallel event-type vocabulary.

    Args:
        vocab: Token -> id: the special tokens at ids ``0..3`` in :data:`SPECIAL_TOKENS` order,
            then the items at ``4..n-1`` (what ``from_pretrained`` reads from
            ``tokenizer.json``). Default: the special tokens only.
        event_types: Known event types; ids ``len(SPECIAL_TOKENS) + i`` in ``token_type_ids``.
        **kwargs: Passed to :class:`~transformers.PreTrainedTokenizerFast`; a
            ``tokenizer_object`` or ``tokenizer_file`` given there replaces the pipeline built
            from ``vocab``.

    Raises:
        RecsftError: ``vocab`` does not start with the special tokens or its ids are not
            ``0..n-1``.
    """

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(
        self,
        *args: Any,
        vocab: dict[str, int] | None = None,
        event_types: Sequence[str] | None = None,
        **kwargs: Any,
    ):
        self.event_types = list(event_types or [])
        for name, token in (
            ("pad_token", PAD), ("unk_token", UNK), ("mask_token", MASK), ("cls_token", CLS)
        ):
            kwargs.setdefault(name, token)
        kwargs.setdefault("bos_token", None)
        kwargs.setdefault("eos_token", None)
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("truncation_side", "left")
        if kwargs.get("tokenizer_object") is None and kwargs.get("tokenizer_file") is None:
            self._tokenizer = build_backend(
                vocab if vocab is not None else {t: i for i, t in enumerate(SPECIAL_TOKENS)},
                source=(f"{kwargs['name_or_path']}/tokenizer.json" if kwargs.get("name_or_path")
                        else "vocab"),
            )
        super().__init__(*args, event_types=self.event_types, **kwargs)
        self._type_to_id = {t: i + len(SPECIAL_TOKENS) for i, t in enumerate(self.event_types)}
        self._item_vocab = self.get_vocab()

    @classmethod
    def from_sequences(
        cls, sequences: Iterable[Iterable[str]], event_types: Iterable[str] = ()
    ) -> BehaviorTokenizer:
        """Build the vocabulary from item sequences, items in order of first appearance.

        Args:
            sequences: Item-id sequences (or any iterables of item ids).
            event_types: The event types to know.

        Raises:
            ValueError: an item id contains whitespace or clashes with a special token.
        """
        vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
        for sequence in sequences:
            for item in sequence:
                if item not in vocab:
                    vocab[item] = len(vocab)
        bad = [
            t for t in vocab
            if t not in SPECIAL_TOKENS and (not t or any(c.isspace() for c in t))
        ]
        if bad:
            raise ValueError(f"item ids must be non-empty and contain no whitespace: {bad[:5]!r}")
        return cls(vocab=vocab, event_types=sorted(set(event_types)))

    @property
    def first_item_id(self) -> int:
        """Token id of the first item; item index ``i`` is token ``first_item_id + i``."""
        return len(SPECIAL_TOKENS)

    @property
    def num_items(self) -> int:
        return len(self._item_vocab) - len(SPECIAL_TOKENS)

    @property
    def num_token_types(self) -> int:
        return len(SPECIAL_TOKENS) + len(self.event_types)

    @property
    def item_ids(self) -> list[str]:
        """External item ids in item-index order (length ``num_items``)."""
        ordered = sorted(self._item_vocab.items(), key=lambda kv: kv[1])
        return [token for token, _ in ordered[len(SPECIAL_TOKENS):]]

    def add_items(self, item_ids: Sequence[str]) -> list[int]:
        """Append new item tokens at the end of the vocabulary; existing ids stay as they are.

        The backend's ``WordLevel`` vocabulary is extended in place of a rebuild of the whole
        pipeline (its special tokens and pre-tokenizer are kept), so ``save_pretrained`` writes
        the new items and ``from_pretrained`` reads them back.

        Args:
            item_ids: ``n`` new, distinct item ids (no whitespace, not already known).

        Returns:
            The ``n`` new token ids, ``len(self)`` before the call onwards.

        Raises:
            RecsftError: an id is empty, contains whitespace, is already known (a special token
                included) or repeated.
        """
        import json

        new = list(item_ids)
        vocab = self.get_vocab()
        seen: set[str] = set()
        for item in new:
            if not isinstance(item, str) or not item or any(c.isspace() for c in item):
                raise RecsftError(f"item id {item!r}: must be a non-empty string without "
                                  "whitespace")
            if item in vocab or item in seen:
                raise RecsftError(f"item id {item!r}: already in the vocabulary")
            seen.add(item)
        first = len(self)
        state = json.loads(self._tokenizer.to_str())
        state["model"]["vocab"].update({item: first + n for n, item in enumerate(new)})
        self._tokenizer = Tokenizer.from_str(json.dumps(state))
        self._item_vocab = self.get_vocab()
        return list(range(first, first + len(new)))

    def known_positions(self, histories: Sequence[Sequence[str]]) -> list[list[int]]:
        """The positions of each history whose items this tokenizer knows, oldest first (the
        ``unknown="drop"`` policy of :func:`recsft.scoring.inputs.model_inputs`)."""
        vocab = self._item_vocab
        return [[i for i, item in enumerate(history) if item in vocab] for history in histories]

    def items_to_ids(self, items: Sequence[str]) -> list[int]:
        """Token ids of items; unknown items map to the ``[UNK]`` id."""
        vocab, unk = self._item_vocab, self.unk_token_id
        return [vocab.get(item, unk) for item in items]

    def types_to_ids(self, types: Sequence[str]) -> list[int]:
        """Event-type ids; unknown types map to the ``[UNK]`` id."""
        mapping, unk = self._type_to_id, SPECIAL_TOKENS.index(UNK)
        return [mapping.get(t, unk) for t in types]

    def encode_histories(
        self,
        histories: Sequence[Sequence[str]],
        event_types: Sequence[Sequence[str]] | None = None,
        max_length: int | None = None,
        append_mask: bool = False,
        padding: bool = True,
        return_tensors: str | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
    ) -> dict[str, Any]:
        """Serialize histories (oldest first) to ``input_ids``, ``token_type_ids``, masks.

        This is the bare serializer: what a model reads (how many events, ``[MASK]``, time
        gaps, unknown items) is decided by :func:`recsft.scoring.inputs.model_inputs`, which
        calls it.

        Args:
            histories: ``n`` item-id sequences, oldest first.
            event_types: Parallel event types (default: ``[UNK]`` type everywhere).
            max_length: Keep at most this many tokens, the newest (the [MASK] included).
            append_mask: Append a ``[MASK]`` to ask the model for the next item.
            padding: Pad on the left to the longest sequence.
            return_tensors: ``"pt"`` for torch tensors of shape ``(n, L)``, else lists.
            timestamps: Parallel event times in seconds; adds ``time_gap_ids`` (the first kept
                event's gap is measured to its predecessor in the full history; an appended
                ``[MASK]`` gets :data:`NO_GAP`). An empty list for a user means unknown times.

        Returns:
            A dict with ``input_ids``, ``token_type_ids`` and ``attention_mask`` (and
            ``time_gap_ids`` when ``timestamps`` are given).
        """
        budget = None if max_length is None else max_length - int(append_mask)
        if budget is not None and budget < 0:
            raise ValueError("max_length must leave room for the appended [MASK]")
        ids, types, gaps = [], [], []
        for index, history in enumerate(histories):
            # The newest ``budget`` events (all of them when the history is shorter).
            start = 0 if budget is None else max(0, len(history) - budget)
            kept = list(history)[start:]
            row_types = (
                list(event_types[index])[len(history) - len(kept):]
                if event_types is not None
                else [UNK] * len(kept)
            )
            row_ids = self.items_to_ids(kept)
            row_type_ids = self.types_to_ids(row_types)
            if timestamps is not None:
                times = timestamps[index]
                row_gaps = (time_gap_ids(times) if len(times) == len(history)
                            else [NO_GAP] * len(history))
                gaps.append(row_gaps[len(history) - len(kept):] + [NO_GAP] * int(append_mask))
            if append_mask:
                row_ids.append(self.mask_token_id)
                row_type_ids.append(SPECIAL_TOKENS.index(MASK))
            ids.append(row_ids)
            types.append(row_type_ids)
        return pad_left(ids, types, pad_id=self.pad_token_id, padding=padding,
                        return_tensors=return_tensors,
                        time_gaps=gaps if timestamps is not None else None)


def build_backend(vocab: dict[str, int], source: str = "vocab") -> Tokenizer:
    """The ``tokenizers`` pipeline of a :class:`BehaviorTokenizer`: whitespace split, then
    word-level lookup with ``[UNK]`` for unknown words; no normalizer, no decoder.

    Args:
        vocab: Token -> id, the special tokens first (ids ``0..3``), ids ``0..n-1``.
        source: Where ``vocab`` came from (a folder, a repo id), for the error message.

    Raises:
        RecsftError: The special tokens are not at ids ``0..3`` or the ids are not ``0..n-1``.
    """
    if not isinstance(vocab, dict):
        raise RecsftError(f"{source}: expected a WordLevel vocabulary (token -> id), got "
                          f"{type(vocab).__name__}")
    if [vocab.get(t) for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        raise RecsftError(f"{source}: the vocabulary must start with "
                          f"{', '.join(SPECIAL_TOKENS)} at ids 0-{len(SPECIAL_TOKENS) - 1}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise RecsftError(f"{source}: the vocabulary ids must be 0..{len(vocab) - 1}, each once")
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return backend


def pad_left(
    ids: list[list[int]],
    types: list[list[int]],
    pad_id: int = 0,
    padding: bool = True,
    return_tensors: str | None = None,
    time_gaps: list[list[int]] | None = None,
) -> dict[str, Any]:
    """Left-pad parallel id lists to the longest row.

    Returns:
        ``input_ids``, ``token_type_ids``, ``attention_mask`` (and ``time_gap_ids`` when
        ``time_gaps`` are given), each ``(n, L)``; padding is 0 except ``pad_id`` for items.
    """
    masks = [[1] * len(row) for row in ids]
    if padding or return_tensors:
        width = max((len(row) for row in ids), default=0)
        ids = [[pad_id] * (width - len(r)) + r for r in ids]
        types = [[0] * (width - len(r)) + r for r in types]
        masks = [[0] * (width - len(r)) + r for r in masks]
        if time_gaps is not None:
            time_gaps = [[0] * (width - len(r)) + r for r in time_gaps]
    out = {"input_ids": ids, "token_type_ids": types, "attention_mask": masks}
    if time_gaps is not None:
        out["time_gap_ids"] = time_gaps
    if return_tensors == "pt":
        import torch

        out = {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}
    elif return_tensors is not None:
        raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")
    return out
