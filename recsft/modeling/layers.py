"""Building blocks shared by recsft's sequence models."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN


class SequenceEmbeddings(nn.Module):
    """Item + position (+ event type) embeddings, LayerNorm and dropout.

    Positions count back from the newest event: with left padding, the last position of every
    sequence gets embedding ``max_position_embeddings - 1`` whatever the padded length.
    """

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.items = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.event_types = (
            nn.Embedding(config.num_token_types, config.hidden_size, 0)
            if config.use_event_types
            else None
        )
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
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
        hidden = self.items(input_ids) + self.positions(positions)[None]
        if self.event_types is not None and token_type_ids is not None:
            hidden = hidden + self.event_types(token_type_ids)
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


class RecsftPreTrainedModel(PreTrainedModel):
    """Weight initialisation shared by recsft's sequence models.

    Every model of the family has item embeddings ``embeddings.items`` whose rows from
    ``config.first_item_id`` on are the item matrix (special tokens before), and
    ``encode_sequences`` returning one vector per user; next-item scores are their dot products.
    """

    _supports_sdpa = True
    _supports_attention_backend = True

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
        """The item matrix ``(num_items, hidden)`` (special tokens excluded)."""
        return self.embeddings.items.weight[self.config.first_item_id:]

    def set_item_popularity(self, counts: torch.Tensor, alpha: float = 1.0) -> None:
        """Training counts ``(num_items,)`` for popularity-sampled negatives (not saved).

        Stored as the log sampling probabilities read by
        :func:`recsft.modeling.losses.item_loss` when ``negative_sampling="popularity"``.
        """
        from recsft.modeling.losses import popularity_log_probs

        log_probs = popularity_log_probs(torch.as_tensor(counts), alpha=alpha)
        self.register_buffer("item_log_probs", log_probs.to(self.item_embeddings().device),
                             persistent=False)

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
        targets = labels[selected] - self.config.first_item_id
        if targets.numel() == 0:
            logits = chosen @ self.item_embeddings().T  # (0, num_items)
            return MaskedItemOutput(loss=logits.sum(), logits=logits, last_hidden_state=hidden)
        loss, logits = self._item_loss(chosen, targets)
        return MaskedItemOutput(loss=loss, logits=logits, last_hidden_state=hidden)

    def _item_loss(self, queries: torch.Tensor, targets: torch.Tensor):
        """``item_loss`` against this model's item matrix, with its popularity if set."""
        from recsft.modeling.losses import item_loss

        return item_loss(queries, self.item_embeddings(), targets, self.config,
                         item_log_probs=getattr(self, "item_log_probs", None))


class TransformerSequenceModel(RecsftPreTrainedModel):
    """Embeddings → transformers' ``BertEncoder`` → output transform, tied to the item matrix.

    BERT4Rec and SASRec differ only in their attention mask (:meth:`_attention_mask`:
    bidirectional or causal) and in what the last position holds (an appended ``[MASK]`` or
    the newest event).
    """

    def __init__(self, config: PretrainedConfig) -> None:
        from transformers.models.bert.modeling_bert import BertEncoder

        super().__init__(config)
        self.embeddings = SequenceEmbeddings(config)
        self.encoder = BertEncoder(config)
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
        **kwargs,
    ):
        """Encode sequences and, given labels, compute the item loss at labelled positions.

        Args:
            input_ids: ``(batch, length)`` token ids, left-padded.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens.
            labels: ``(batch, length)`` target token ids (the masked item for BERT4Rec, the
                next item for SASRec), ``-100`` elsewhere. Only labelled positions are scored.

        Returns:
            :class:`~recsft.modeling.outputs.MaskedItemOutput`; ``logits`` is
            ``(n_labelled, num_items)`` (``None`` for sampled losses).
        """
        hidden = self.encode(input_ids, token_type_ids, attention_mask)
        return self._labelled_output(
            hidden, labels, lambda selected: self.output_transform(hidden[selected])
        )

    def encode(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states ``(batch, length, hidden)`` of the encoder."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embedded = self.embeddings(input_ids, token_type_ids)
        mask = self._attention_mask(embedded, attention_mask)
        return self.encoder(embedded, attention_mask=mask).last_hidden_state

    def encode_sequences(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One vector per user: the transformed hidden state of the last position.

        That position holds the appended ``[MASK]`` when ``config.uses_mask_token`` (BERT4Rec:
        ``encode_histories(..., append_mask=True)``), else the newest event (SASRec).

        Args:
            input_ids: ``(batch, length)`` left-padded ids.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``.

        Returns:
            ``(batch, hidden)`` user vectors; ``users @ item_embeddings().T`` are next-item scores.
        """
        hidden = self.encode(input_ids, token_type_ids, attention_mask)
        return self.output_transform(hidden[:, -1])
