"""Items as text: frozen text vectors through an adaptor, fused with id embeddings.

With ``config.item_representation`` ``"text"`` or ``"id+text"``, every recsft model's item
vector (:class:`~recsft.modeling.layers.BehaviorEmbeddings.item_vectors`, read on the input side
and by the tied output layer alike) is built from

* the item's **text vector**: a frozen, pre-computed sentence embedding (``text_dim`` wide, from
  :mod:`recsft.text`), stored as the persistent buffer ``text_vectors`` ``(vocab_size,
  text_dim)`` so that it is saved in ``model.safetensors`` with the weights (a run folder reloads
  it, and :meth:`ItemText.grow` appends new items' rows without retraining);
* a **text adaptor** (:class:`TextAdaptor`): UniSRec's mixture of parametric-whitening experts
  (Hou et al., KDD 2022), mapping the text vector to the model's width;
* the item's **id embedding**, for items that had training interactions (``"id+text"``): the
  buffer ``id_mask`` ``(vocab_size,)`` is 1 for special tokens and for items with an id
  embedding, 0 for the others (every item under ``"text"``; under ``"id+text"`` the items
  without training interactions and those added later). An item without an id embedding is
  scored from its text alone, so it gets a real score the day it is added; a cold item's id row,
  which cross-entropy would only ever push down as a negative, is never read.

Fusion (``config.text_fusion``) of the id vector ``e`` (zero where masked) and the adapted
text vector ``t``: ``"sum"`` (``e + t``), ``"concat"`` (``W [e; t]``) or ``"gate"``
(``g ⊙ e + (1 - g) ⊙ t``, ``g = σ(W [e; t])``). See ``docs/text.md`` for the measurements that
chose the default.
"""

from __future__ import annotations

import torch
from torch import nn

from recsft.modeling.configuration_fields import ITEM_REPRESENTATIONS, TEXT_FUSIONS

__all__ = ["ITEM_REPRESENTATIONS", "TEXT_FUSIONS", "ItemText", "ItemTextMethods", "TextAdaptor"]


class TextAdaptor(nn.Module):
    """Mixture of parametric-whitening experts: ``Σ_k softmax(x W_g)_k · ((x - b_k) W_k)``.

    Each expert centres the text vector with a learned bias and projects it (UniSRec's
    "parametric whitening"); a softmax gate over the experts mixes them. Dropout applies to the
    text vector before both.

    Args:
        text_dim: Width of the text vectors.
        dim: Width of the output (the model's item vectors).
        experts: Number of experts.
        dropout: Dropout on the input text vectors.
    """

    def __init__(self, text_dim: int, dim: int, experts: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.bias = nn.Parameter(torch.zeros(experts, text_dim))
        self.experts = nn.Linear(text_dim, experts * dim, bias=False)
        self.gate = nn.Linear(text_dim, experts, bias=False)
        self.num_experts = experts
        self.dim = dim

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """``(..., text_dim)`` text vectors → ``(..., dim)``."""
        x = self.dropout(vectors)
        weights = torch.softmax(self.gate(x), dim=-1)  # (..., experts)
        # (x - b_k) W_k = x W_k - b_k W_k, for all experts in one product.
        projected = self.experts(x).unflatten(-1, (self.num_experts, self.dim))
        shift = (self.bias[:, None, :] @ self.experts.weight.view(
            self.num_experts, self.dim, -1).transpose(1, 2)).squeeze(1)  # (experts, dim)
        return ((projected - shift) * weights[..., None]).sum(-2)


class ItemText(nn.Module):
    """An item's vector from its text vector, fused with its id embedding.

    Args:
        vocab_size: Token vocabulary (special tokens included).
        text_dim: Width of the text vectors.
        dim: Width of the item vectors.
        representation: ``"text"`` or ``"id+text"``.
        fusion: One of :data:`TEXT_FUSIONS`.
        experts: Experts of the :class:`TextAdaptor`.
        dropout: Its input dropout.
        first_item_id: Ids below it are special tokens (they keep their id embedding and have
            no text).
        id_dropout: In training, the probability that an item's id embedding is left out
            where it is read.
    """

    def __init__(self, vocab_size: int, text_dim: int, dim: int, representation: str,
                 fusion: str, experts: int, dropout: float, first_item_id: int,
                 id_dropout: float = 0.0) -> None:
        super().__init__()
        self.id_dropout = id_dropout
        self.adaptor = TextAdaptor(text_dim, dim, experts, dropout)
        self.fusion = fusion
        self.first_item_id = first_item_id
        self.fuse = (nn.Linear(2 * dim, dim) if fusion in ("concat", "gate") else None)
        self.register_buffer("text_vectors", torch.zeros(vocab_size, text_dim))
        mask = torch.zeros(vocab_size)
        mask[:first_item_id] = 1.0
        if representation == "id+text":
            mask[first_item_id:] = 1.0
        self.register_buffer("id_mask", mask)

    def forward(self, ids: torch.Tensor, id_vectors: torch.Tensor) -> torch.Tensor:
        """Fuse ``(..., dim)`` id vectors of ``(...)`` token ids with their text.

        Returns:
            ``(..., dim)`` item vectors.
        """
        keep = self.id_mask[ids]
        if self.training and self.id_dropout > 0:
            # Special tokens (mask 1 below first_item_id) always keep their id.
            dropped = torch.rand(ids.shape, device=ids.device) < self.id_dropout
            keep = keep * (~dropped | (ids < self.first_item_id)).to(keep.dtype)
        ids_part = id_vectors * keep[..., None]
        text_part = self.adaptor(self.text_vectors[ids])
        if self.fusion == "sum":
            return ids_part + text_part
        both = torch.cat([ids_part, text_part], dim=-1)
        if self.fusion == "concat":
            return self.fuse(both)
        gate = torch.sigmoid(self.fuse(both))
        return gate * ids_part + (1 - gate) * text_part

    @torch.no_grad()
    def set_texts(self, vectors: torch.Tensor, has_id: torch.Tensor | None = None) -> None:
        """Fill the text vectors of every token and, optionally, which items keep an id.

        Args:
            vectors: ``(vocab_size, text_dim)`` text vectors (zero rows for special tokens and
                items without text).
            has_id: ``(vocab_size,)`` booleans: tokens whose id embedding is read. Special
                tokens always keep theirs.

        Raises:
            ValueError: a shape that does not fit.
        """
        vectors = torch.as_tensor(vectors, dtype=self.text_vectors.dtype)
        if vectors.shape != self.text_vectors.shape:
            raise ValueError(f"text vectors of shape {tuple(vectors.shape)}, expected "
                             f"{tuple(self.text_vectors.shape)}")
        self.text_vectors.copy_(vectors.to(self.text_vectors.device))
        if has_id is not None:
            has_id = torch.as_tensor(has_id).bool().to(self.id_mask.device)
            if has_id.shape != self.id_mask.shape:
                raise ValueError(f"has_id of shape {tuple(has_id.shape)}, expected "
                                 f"{tuple(self.id_mask.shape)}")
            keep = self.id_mask.bool() & has_id
            keep[: self.first_item_id] = True
            self.id_mask.copy_(keep.to(self.id_mask.dtype))

    @torch.no_grad()
    def grow(self, vectors: torch.Tensor) -> None:
        """Append ``(n, text_dim)`` text vectors of new items, without an id embedding."""
        vectors = torch.as_tensor(vectors, dtype=self.text_vectors.dtype,
                                  device=self.text_vectors.device)
        self.text_vectors = torch.cat([self.text_vectors, vectors])
        self.id_mask = torch.cat([self.id_mask, self.id_mask.new_zeros(len(vectors))])


class ItemTextMethods:
    """The item-text methods of :class:`~recsft.modeling.layers.RecsftPreTrainedModel` (a
    model with ``embeddings.text``, ``embeddings.items`` and a recsft config)."""

    def _item_text(self, refusal: str) -> ItemText:
        """The model's :class:`ItemText`.

        Raises:
            ValueError: ``refusal`` when the model reads no text.
        """
        if self.embeddings.text is None:
            raise ValueError(f"{refusal} (config.item_representation is 'id')")
        return self.embeddings.text

    def set_item_text(self, vectors: torch.Tensor, has_id: torch.Tensor | None = None) -> None:
        """Fill the items' text vectors (``config.item_representation`` ``"text"`` /
        ``"id+text"``, see :class:`~recsft.modeling.item_text.ItemText`).

        Args:
            vectors: ``(num_items, text_dim)`` text vectors in token order from
                ``first_item_id`` (zero rows for items without text).
            has_id: ``(num_items,)`` booleans, the items whose id embedding is read (those
                with training interactions); ``None`` keeps the current mask.

        Raises:
            ValueError: the model reads no text, or a shape does not fit.
        """
        text = self._item_text("this model reads no item text")
        first = self.config.first_item_id
        vectors = torch.as_tensor(vectors, dtype=torch.float32)
        full = torch.zeros(self.config.vocab_size, vectors.shape[-1])
        if vectors.ndim != 2 or len(vectors) != self.config.vocab_size - first:
            raise ValueError(f"text vectors of shape {tuple(vectors.shape)}, expected "
                             f"({self.config.vocab_size - first}, {self.config.text_dim})")
        full[first:] = vectors
        mask = None
        if has_id is not None:
            mask = torch.ones(self.config.vocab_size, dtype=torch.bool)
            mask[first:] = torch.as_tensor(has_id).bool()
        text.set_texts(full, mask)

    @torch.no_grad()
    def add_items(self, text_vectors: torch.Tensor) -> None:
        """Append new items at the end of the vocabulary, scored from their text alone.

        The id embedding (and category table, if any) gets zero rows for them, never read:
        their id mask is 0 (:meth:`~recsft.modeling.item_text.ItemText.grow`). Existing ids and
        every other weight stay as they are, so the model ranks old items exactly as before.

        Args:
            text_vectors: ``(n, text_dim)`` the new items' text vectors.

        Raises:
            ValueError: the model reads no text, or the width does not fit.
        """
        text = self._item_text("only a model that reads item text can take new items "
                               "without retraining")
        text_vectors = torch.as_tensor(text_vectors, dtype=torch.float32)
        if text_vectors.ndim != 2 or text_vectors.shape[1] != self.config.text_dim:
            raise ValueError(f"new items' text vectors of shape {tuple(text_vectors.shape)}, "
                             f"expected (n, {self.config.text_dim})")
        n = len(text_vectors)
        items = self.embeddings.items
        grown = nn.Embedding(items.num_embeddings + n, items.embedding_dim, items.padding_idx,
                             device=items.weight.device, dtype=items.weight.dtype)
        grown.weight.zero_()
        grown.weight[: items.num_embeddings] = items.weight
        self.embeddings.items = grown
        categories = self.embeddings.categories
        if categories is not None:
            categories.table = torch.cat(
                [categories.table, categories.table.new_zeros(n, categories.table.shape[1])])
        text.grow(text_vectors)
        self.config.vocab_size += n
