"""Building blocks shared by recsft's sequence models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN

from recsft.modeling.bert_layer import LayerProjections, _bert_layer, _pre_norm_layer
from recsft.modeling.item_text import ItemTextMethods


class ItemCategories(nn.Module):
    """Mean of an item's category embeddings, from a fixed item → categories table.

    The table ``(vocab_size, max_item_categories)`` holds category ids from 1 (0 pads rows of
    items with fewer categories, special tokens and items without any). It is a persistent
    buffer, so it is saved in ``model.safetensors`` with the weights.

    Args:
        vocab_size: Item vocabulary size, special tokens included.
        num_categories: Number of categories (ids ``1..num_categories``).
        max_item_categories: Categories kept per item.
        dim: Embedding width.
    """

    def __init__(self, vocab_size: int, num_categories: int, max_item_categories: int,
                 dim: int) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(num_categories + 1, dim, padding_idx=0)
        self.register_buffer(
            "table", torch.zeros(vocab_size, max_item_categories, dtype=torch.long)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``(...)`` token ids → ``(..., dim)`` mean category embedding (zero without any)."""
        flat = self.table[ids.reshape(-1)]
        pooled = nn.functional.embedding_bag(
            flat, self.embeddings.weight, mode="mean", padding_idx=0
        )
        return pooled.reshape(*ids.shape, -1)


class BehaviorEmbeddings(nn.Module):
    """The sum of an event's embeddings: item (+ its categories) (+ event type) (+ time gap).

    Each extra input is switched by the config, for ablations: ``use_event_types``,
    ``use_time_gaps`` (buckets of :func:`recsft.tokenization.time_gap_ids`) and
    ``num_categories > 0`` (see :class:`ItemCategories`). The categories are part of the item's
    vector wherever it appears, in the input and in the tied output layer
    (:meth:`item_matrix`), so items that share categories share signal.

    Args:
        config: A model config of the family.
        dim: Embedding width.
    """

    def __init__(self, config: PretrainedConfig, dim: int) -> None:
        super().__init__()
        from recsft.tokenization import TIME_GAP_BUCKETS

        self.items = nn.Embedding(config.vocab_size, dim, config.pad_token_id)
        self.event_types = (
            nn.Embedding(config.num_token_types, dim, 0) if config.use_event_types else None
        )
        self.time_gaps = (
            nn.Embedding(TIME_GAP_BUCKETS, dim, 0)
            if getattr(config, "use_time_gaps", False) else None
        )
        num_categories = getattr(config, "num_categories", 0)
        self.categories = (
            ItemCategories(config.vocab_size, num_categories,
                           getattr(config, "max_item_categories", 1), dim)
            if num_categories else None
        )
        #: With ``config.item_representation`` ``"text"`` / ``"id+text"``: the items' text
        #: vectors, their adaptor and the fusion with the id embedding.
        self.text = None
        if getattr(config, "item_representation", "id") != "id":
            from recsft.modeling.item_text import ItemText

            if not getattr(config, "text_dim", 0):
                raise ValueError(f"item_representation {config.item_representation!r} needs "
                                 "text vectors (config.text_dim is 0)")
            self.text = ItemText(
                config.vocab_size, config.text_dim, dim, config.item_representation,
                config.text_fusion, config.text_experts, config.text_dropout,
                config.first_item_id, getattr(config, "id_dropout", 0.0))

    def item_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """``(...)`` token ids → ``(..., dim)`` item vectors (categories and text included)."""
        vectors = self.items(ids)
        if self.text is not None:
            vectors = self.text(ids, vectors)
        if self.categories is not None:
            vectors = vectors + self.categories(ids)
        return vectors

    def item_matrix(self) -> torch.Tensor:
        """Every token's item vector ``(vocab_size, dim)``."""
        if self.categories is None and self.text is None:
            return self.items.weight
        ids = torch.arange(self.items.num_embeddings, device=self.items.weight.device)
        return self.item_vectors(ids)

    def events(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sum of the switched-on embeddings of ``(batch, length)`` events: ``(batch, length,
        dim)``. Inputs a model uses but a batch lacks are left out."""
        hidden = self.item_vectors(input_ids)
        if self.event_types is not None and token_type_ids is not None:
            hidden = hidden + self.event_types(token_type_ids)
        if self.time_gaps is not None and time_gap_ids is not None:
            hidden = hidden + self.time_gaps(time_gap_ids)
        return hidden


class SequenceEmbeddings(BehaviorEmbeddings):
    """Event embeddings (:class:`BehaviorEmbeddings`) + positions, LayerNorm and dropout.

    Positions count back from the newest event: with left padding, the last position of every
    sequence gets embedding ``max_position_embeddings - 1`` whatever the padded length.
    """

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config, config.hidden_size)
        self.positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embed ``(batch, length)`` ids into ``(batch, length, hidden)``."""
        length = input_ids.shape[1]
        if length > self.max_positions:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings {self.max_positions}"
            )
        positions = torch.arange(
            self.max_positions - length, self.max_positions, device=input_ids.device
        )
        hidden = self.events(input_ids, token_type_ids, time_gap_ids)
        hidden = hidden + self.positions(positions)[None]
        return self.dropout(self.LayerNorm(hidden))


class OutputTransform(nn.Module):
    """Dense → activation → LayerNorm, applied before scoring against item embeddings."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(hidden)))


class RecsftPreTrainedModel(ItemTextMethods, PreTrainedModel):
    """Weight initialisation shared by recsft's sequence models.

    Every model of the family has item embeddings ``embeddings.items`` whose rows from
    ``config.first_item_id`` on are the item matrix (special tokens before), and
    ``encode_sequences`` returning one vector per user; next-item scores are their dot products.
    """

    _supports_sdpa = True
    _supports_attention_backend = True

    def post_init(self) -> None:
        """transformers' initialisation, then every dropout module drawing its masks as
        :mod:`recsft.modeling.dropout` does (a quarter of a random draw per element on the CPU)."""
        from recsft.modeling.dropout import use_cheap_dropout

        super().post_init()
        use_cheap_dropout(self)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def item_embeddings(self) -> torch.Tensor:
        """The item matrix ``(num_items, hidden)`` (special tokens excluded; item categories
        and text included when the model has them; unit rows under ``similarity: cosine``)."""
        items = self.embeddings.item_matrix()[self.config.first_item_id:]
        if getattr(self.config, "similarity", "dot") == "cosine":
            items = nn.functional.normalize(items, dim=-1)
        return items

    def set_item_categories(self, table: torch.Tensor) -> None:
        """Fill the item → categories table ``(vocab_size, max_item_categories)``.

        Ids run from 1 (0 pads); rows follow token ids, so special tokens' rows are zero.

        Raises:
            ValueError: the model has no categories (``config.num_categories == 0``), or the
                table's shape or ids do not fit the config.
        """
        categories = self.embeddings.categories
        if categories is None:
            raise ValueError("this model has no item categories (config.num_categories is 0)")
        table = torch.as_tensor(table, dtype=torch.long)
        if table.shape != categories.table.shape:
            raise ValueError(f"category table of shape {tuple(table.shape)}, expected "
                             f"{tuple(categories.table.shape)}")
        limit = self.config.num_categories
        if table.numel() and (int(table.min()) < 0 or int(table.max()) > limit):
            raise ValueError(f"category ids must be in 0..{self.config.num_categories}")
        categories.table.copy_(table.to(categories.table.device))

    def set_item_popularity(self, counts: torch.Tensor, alpha: float = 1.0) -> None:
        """Training counts ``(num_items,)`` for popularity-sampled negatives (not saved).

        Stored as the log sampling probabilities read by
        :func:`recsft.modeling.losses.item_loss` when ``negative_sampling="popularity"``.
        """
        from recsft.modeling.losses import popularity_log_probs

        log_probs = popularity_log_probs(torch.as_tensor(counts), alpha=alpha)
        self.register_buffer("item_log_probs", log_probs.to(self.item_embeddings().device),
                             persistent=False)

    def set_training_items(self, known: torch.Tensor) -> None:
        """Restrict the training loss to the items known at training time (not saved).

        The cold-start protocol holds items out of training entirely: they must not even be
        negatives of the softmax, or the model learns "never" for them (for a model that reads
        text: for their texts) before they are evaluated. In training mode the loss then ranks
        each target among the known items only; evaluation and serving score every item.

        Args:
            known: ``(num_items,)`` booleans, the items with training interactions.

        Raises:
            ValueError: the mask does not cover the items.
        """
        known = torch.as_tensor(known).bool()
        if known.shape != (self.config.vocab_size - self.config.first_item_id,):
            raise ValueError(f"training items mask of shape {tuple(known.shape)}, expected "
                             f"({self.config.vocab_size - self.config.first_item_id},)")
        device = self.item_embeddings().device
        rows = known.nonzero().squeeze(1)
        position = torch.full((len(known),), -1, dtype=torch.long)
        position[rows] = torch.arange(len(rows))
        self.register_buffer("training_item_rows", rows.to(device), persistent=False)
        self.register_buffer("training_item_position", position.to(device), persistent=False)

    def _labelled_output(
        self,
        hidden: torch.Tensor,
        labels: torch.Tensor | None,
        queries: Callable[[torch.Tensor], torch.Tensor],
    ):
        """The model output, with loss and logits at the labelled positions only.

        Args:
            hidden: ``(batch, length, hidden)`` encoder states (returned as is).
            labels: ``(batch, length)`` target token ids, ``-100`` where there is none.
            queries: Maps the boolean ``(batch, length)`` selection of labelled positions to
                their query vectors ``(n_labelled, dim)``.

        Returns:
            :class:`~recsft.modeling.outputs.MaskedItemOutput`. A batch without any labelled
            position gets a zero loss (still connected to the graph) and empty logits.
        """
        from recsft.modeling.outputs import MaskedItemOutput

        if labels is None:
            return MaskedItemOutput(last_hidden_state=hidden)
        selected = labels != -100
        chosen = queries(selected)
        if getattr(self.config, "similarity", "dot") == "cosine":
            chosen = nn.functional.normalize(chosen, dim=-1) / self.config.temperature
        targets = labels[selected] - self.config.first_item_id
        if targets.numel() == 0:
            logits = chosen @ self.item_embeddings().T  # (0, num_items)
            return MaskedItemOutput(loss=logits.sum(), logits=logits, last_hidden_state=hidden)
        loss, logits = self._item_loss(chosen, targets)
        return MaskedItemOutput(loss=loss, logits=logits, last_hidden_state=hidden)

    def _item_loss(self, queries: torch.Tensor, targets: torch.Tensor):
        """``item_loss`` against this model's item matrix, with its popularity if set (in
        training, over the items of :meth:`set_training_items` when set)."""
        from recsft.modeling.losses import item_loss

        items = self.item_embeddings()
        log_probs = getattr(self, "item_log_probs", None)
        rows = getattr(self, "training_item_rows", None)
        if self.training and rows is not None:
            items, targets = items[rows], self.training_item_position[targets]
            log_probs = None if log_probs is None else log_probs[rows]
        return item_loss(queries, items, targets, self.config, item_log_probs=log_probs)


class TransformerSequenceModel(RecsftPreTrainedModel):
    """Embeddings → transformers' ``BertEncoder`` → output transform, tied to the item matrix.

    BERT4Rec and SASRec differ only in their attention mask (:meth:`_attention_mask`:
    bidirectional or causal) and in what the last position holds (an appended ``[MASK]`` or
    the newest event).

    The blocks are BERT's post-LayerNorm layers (``LayerNorm(x + sublayer(x))``), or with
    ``config.norm_first`` pre-LayerNorm blocks (``x + sublayer(LayerNorm(x))``, a final
    LayerNorm after the last block), as in the original SASRec and GPT-2: the same modules and
    parameter names, each ``BertLayer``'s two LayerNorms moved before their sub-layers
    (:func:`_pre_norm_layer`).
    """

    def __init__(self, config: PretrainedConfig) -> None:
        from transformers.models.bert.modeling_bert import BertEncoder

        super().__init__(config)
        self.embeddings = SequenceEmbeddings(config)
        self.encoder = BertEncoder(config)
        #: With ``config.norm_first``: the LayerNorm after the last pre-LayerNorm block.
        self.final_layer_norm = (
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            if getattr(config, "norm_first", False) else None
        )
        self.output_transform = (
            OutputTransform(config) if config.use_output_transform else nn.Identity()
        )
        self.post_init()

    def _attention_mask(self, embedded: torch.Tensor, attention_mask: torch.Tensor):
        """The encoder's mask from ``(batch, length, hidden)`` inputs and a padding mask."""
        raise NotImplementedError

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
        **kwargs,
    ):
        """Encode sequences and, given labels, compute the item loss at labelled positions.

        Args:
            input_ids: ``(batch, length)`` token ids, left-padded.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens.
            labels: ``(batch, length)`` target token ids (the masked item for BERT4Rec, the
                next item for SASRec), ``-100`` elsewhere. Only labelled positions are scored.
            time_gap_ids: ``(batch, length)`` time-gap buckets (read when
                ``config.use_time_gaps``).

        Returns:
            :class:`~recsft.modeling.outputs.MaskedItemOutput`; ``logits`` is
            ``(n_labelled, num_items)`` (``None`` for sampled losses).
        """
        hidden = self.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        return self._labelled_output(
            hidden, labels, lambda selected: self.output_transform(hidden[selected])
        )

    def encode(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states ``(batch, length, hidden)`` of the encoder."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embedded = self.embeddings(input_ids, token_type_ids, time_gap_ids)
        mask = self._attention_mask(embedded, attention_mask)
        norm_first = self.final_layer_norm is not None
        hidden = embedded
        if self.training:
            # The layers as _bert_layer restates them: one matrix product for the query, key
            # and value projections, and attention dropout with recsft's cheaper CPU masks.
            for layer in self.encoder.layer:
                hidden = _bert_layer(layer, hidden, mask, norm_first=norm_first)
        elif not norm_first:
            return self.encoder(embedded, attention_mask=mask).last_hidden_state
        else:
            for layer in self.encoder.layer:
                hidden = _pre_norm_layer(layer, hidden, mask)
        return self.final_layer_norm(hidden) if norm_first else hidden

    def encode_sequences(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
        projections: Sequence[LayerProjections] | None = None,
    ) -> torch.Tensor:
        """One vector per user: the transformed hidden state of the last position.

        That position holds the appended ``[MASK]`` when ``config.uses_mask_token`` (BERT4Rec:
        ``encode_histories(..., append_mask=True)``), else the newest event (SASRec).

        Args:
            input_ids: ``(batch, length)`` left-padded ids.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``.
            time_gap_ids: ``(batch, length)`` time-gap buckets.
            projections: One :class:`LayerProjections` per layer (default: the eager ones;
                :func:`recsft.modeling.packed.packed_projections` for CPU inference).

        Returns:
            ``(batch, hidden)`` user vectors; ``users @ item_embeddings().T`` are next-item scores.

        Only the last position's state is needed, so the last layer is run for that one query
        (its keys and values still come from every position), and every layer goes through
        :func:`_bert_layer` (fused projections): the same vectors as ``encode(...)[:, -1]`` for
        a fraction of the last layer's work.
        """
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embedded = self.embeddings(input_ids, token_type_ids, time_gap_ids)
        mask = self._attention_mask(embedded, attention_mask)
        hidden = embedded
        layers = list(self.encoder.layer)
        if projections is None:
            projections = [LayerProjections(layer) for layer in layers]
        elif len(projections) != len(layers):
            raise ValueError(f"{len(projections)} projections for {len(layers)} layers")
        norm_first = self.final_layer_norm is not None
        for index, (layer, maps) in enumerate(zip(layers, projections)):
            last_only = index == len(layers) - 1
            hidden = _bert_layer(layer, hidden, mask, last_only=last_only,
                                 norm_first=norm_first, projections=maps)
        hidden = hidden[:, 0]
        if norm_first:
            hidden = self.final_layer_norm(hidden)
        return self.output_transform(hidden)
