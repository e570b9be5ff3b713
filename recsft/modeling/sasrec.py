"""SASRec: a causal (left-to-right) transformer trained to predict the next item at every step.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. Built like
:mod:`recsft.modeling.bert4rec`: recsft's item + position (+ event-type) embeddings, transformers'
own ``BertLayer`` stack, and next-item scores as the dot product of an (optionally transformed)
hidden state with the item embedding matrix (a tied output layer, so a FAISS inner-product index
over :meth:`SASRecModel.item_embeddings` ranks exactly as the model does). What differs from
BERT4Rec is the attention mask: position ``t`` attends only to positions ``<= t``, so the hidden
state of the newest event is the query for the next item and no ``[MASK]`` token is needed.

Deviations from the paper: the blocks are BERT's post-LayerNorm layers (the paper normalises
before each sub-layer), the embeddings are LayerNorm-ed, and the loss is chosen by
``config.loss`` (full cross-entropy by default, not the paper's one-negative binary
cross-entropy).

Example:
    >>> config = SASRecConfig(vocab_size=104, hidden_size=32)
    >>> model = SASRecModel(config)
    >>> users = model.encode_sequences(input_ids)          # (batch, 32), histories without [MASK]
    >>> scores = users @ model.item_embeddings().T          # (batch, 100)
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_causal_mask
from transformers.models.bert.modeling_bert import BertEncoder

from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.layers import OutputTransform, RecsftPreTrainedModel, SequenceEmbeddings
from recsft.modeling.outputs import MaskedItemOutput


class SASRecPreTrainedModel(RecsftPreTrainedModel):
    """Weight initialisation and loading for the SASRec family."""

    config_class = SASRecConfig
    base_model_prefix = "sasrec"


class SASRecModel(SASRecPreTrainedModel):
    """SASRec encoder with the next-item objective at every position and a tied output layer.

    Args:
        config: The model configuration.
    """

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__(config)
        self.embeddings = SequenceEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.output_transform = (
            OutputTransform(config) if config.use_output_transform else nn.Identity()
        )
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedItemOutput:
        """Encode sequences causally and, given labels, compute the next-item loss.

        Args:
            input_ids: ``(batch, length)`` token ids, left-padded, oldest first.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens.
            labels: ``(batch, length)`` token id of the item that follows each position,
                ``-100`` where there is none (padding, the newest event of a window). Only
                labelled positions are scored against the catalogue.

        Returns:
            :class:`MaskedItemOutput`; ``logits`` is ``(n_labelled, num_items)``. A batch without
            any labelled position gets a zero loss (connected to the graph) and empty logits.
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
        """Hidden states ``(batch, length, hidden)``; position ``t`` depends only on ``<= t``."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embedded = self.embeddings(input_ids, token_type_ids)
        mask = self._causal_mask(embedded, attention_mask)
        return self.encoder(embedded, attention_mask=mask).last_hidden_state

    def _causal_mask(
        self, embedded: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """The causal mask combined with the ``(batch, length)`` padding mask.

        transformers builds it for the configured attention implementation: boolean
        ``(batch, 1, length, length)`` for SDPA (or ``None`` without padding, where SDPA's
        ``is_causal`` applies), additive float for eager. With left padding, the row of a padding
        query is then empty (no earlier real key): depending on the kernel such a row comes out as
        NaN, zeros or an average of everything, and a NaN leaks into real rows of the next layer
        through their zero attention weights (0 · NaN = NaN).
        Letting every query attend to itself fills those rows and changes no real row (a real
        query already sees itself).

        Args:
            embedded: ``(batch, length, hidden)`` input embeddings (shape, dtype and device).
            attention_mask: ``(batch, length)``, 1 for real tokens.

        Returns:
            The mask to pass to :class:`~transformers.models.bert.modeling_bert.BertEncoder`.
        """
        mask = create_causal_mask(
            config=self.config,
            inputs_embeds=embedded,
            attention_mask=attention_mask,
            past_key_values=None,
        )
        if isinstance(mask, torch.Tensor) and mask.ndim == 4:
            length = embedded.shape[1]
            diagonal = torch.eye(length, dtype=torch.bool, device=mask.device)
            # Boolean masks keep True entries; additive float masks keep 0 entries.
            is_bool = mask.dtype == torch.bool
            mask = mask | diagonal if is_bool else mask.masked_fill(diagonal, 0.0)
        return mask

    def encode_sequences(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One vector per user: the (transformed) hidden state of the newest event.

        Histories are given as they are, without a ``[MASK]`` token (the tokenizer's
        ``encode_histories(..., append_mask=False)``); ``config.uses_mask_token`` is ``False``.

        Args:
            input_ids: ``(batch, length)`` left-padded ids, the newest event last.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``.

        Returns:
            ``(batch, hidden)`` user vectors; ``users @ item_embeddings().T`` are next-item scores.
        """
        hidden = self.encode(input_ids, token_type_ids, attention_mask)
        return self.output_transform(hidden[:, -1])
