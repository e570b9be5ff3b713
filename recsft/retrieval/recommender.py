"""Recommender: a trained run folder as a next-item recommendation service.

It encodes a history with the run's model (the tokenizer appends a ``[MASK]``; the model's
vector for it is the query) and searches the run's FAISS item index, never returning an item of
the history.

Example:
    >>> from recsft import Recommender
    >>> rec = Recommender.from_pretrained("runs/demo")
    >>> rec.recommend(["i0042", "i0107", "i0311"], k=10)
    [('i0312', 9.71), ...]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from recsft.retrieval.index import ItemIndex
from recsft.tokenization import BehaviorTokenizer


class Recommender:
    """Next-item recommendations from a trained model and its item index.

    Args:
        model: A sequence model with ``encode_sequences`` and ``item_embeddings``.
        tokenizer: The run's tokenizer.
        index: FAISS index over ``model.item_embeddings()`` (built if not given).
        max_length: Model input length (the appended ``[MASK]`` included).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: BehaviorTokenizer,
        index: ItemIndex | None = None,
        max_length: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length or model.config.max_position_embeddings
        self.append_mask = bool(getattr(model.config, "uses_mask_token", True))
        if index is None:
            items = model.item_embeddings().detach().float().cpu().numpy()
            index = ItemIndex(items, tokenizer.item_ids, metric="ip")
        self.index = index

    @classmethod
    def from_pretrained(cls, run_dir: str | os.PathLike) -> Recommender:
        """Load the model, tokenizer and FAISS index saved in a run folder."""
        from transformers import AutoModel

        from recsft.modeling import register_auto_classes

        register_auto_classes()

        run_dir = str(run_dir)
        if not os.path.isdir(run_dir):
            raise FileNotFoundError(f"{run_dir}: no such run folder")
        model = AutoModel.from_pretrained(run_dir)
        tokenizer = BehaviorTokenizer.from_pretrained(run_dir)
        index = ItemIndex.load(run_dir)
        return cls(model, tokenizer, index)

    def unknown_items(self, history: Sequence[str]) -> list[str]:
        """Items of ``history`` the model does not know (they are skipped)."""
        known = self.tokenizer.get_vocab()
        return [item for item in history if item not in known]

    @torch.no_grad()
    def encode(
        self,
        histories: Sequence[Sequence[str]],
        event_types: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[int | float]] | None = None,
    ) -> np.ndarray:
        """User vectors ``(n, hidden)`` float32 for histories (oldest first).

        Items unknown to the model are dropped from the history before encoding. A model
        trained with time gaps reads them from ``timestamps`` (seconds); without timestamps
        every gap is "unknown", the input of a history whose times are not known.
        """
        known = self.tokenizer.get_vocab()
        kept_items, kept_types, kept_times = [], [], []
        for row, history in enumerate(histories):
            keep = [i for i, item in enumerate(history) if item in known]
            kept_items.append([history[i] for i in keep])
            if event_types is not None:
                kept_types.append([event_types[row][i] for i in keep])
            if timestamps is not None:
                kept_times.append([timestamps[row][i] for i in keep])
        uses_gaps = bool(getattr(self.model.config, "use_time_gaps", False))
        batch = self.tokenizer.encode_histories(
            kept_items, kept_types if event_types is not None else None,
            max_length=self.max_length, append_mask=self.append_mask, return_tensors="pt",
            timestamps=(kept_times if timestamps is not None else [[] for _ in kept_items])
            if uses_gaps else None,
        )
        device = next(self.model.parameters()).device
        users = self.model.encode_sequences(**{k: v.to(device) for k, v in batch.items()})
        return users.float().cpu().numpy()

    def recommend(
        self,
        history: Sequence[str],
        k: int = 10,
        event_types: Sequence[str] | None = None,
        timestamps: Sequence[int | float] | None = None,
    ) -> list[tuple[str, float]]:
        """Top-``k`` next items for one history, never an item of the history.

        Args:
            history: External item ids, oldest first.
            k: Number of recommendations.
            event_types: Optional parallel event types.
            timestamps: Optional parallel event times in seconds (read by models trained
                with time gaps).

        Returns:
            ``[(item_id, score), ...]``, best first.
        """
        queries = self.encode([list(history)], [list(event_types)] if event_types else None,
                              [list(timestamps)] if timestamps is not None else None)
        scores, ids = self.index.search(queries, k, exclude=[list(history)])
        return [(i, float(s)) for i, s in zip(ids[0], scores[0]) if i is not None]
