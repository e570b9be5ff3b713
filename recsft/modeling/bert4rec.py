"""BERT4Rec: a bidirectional transformer trained to fill in masked items (Cloze).

Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from
Transformer", CIKM 2019. The encoder layers are transformers' own ``BertLayer``; embeddings and
the output layer are recsft's: item + position (+ event-type) embeddings, and next-item scores as
the dot product of an (optionally transformed) hidden state with the item embedding matrix, so
the output layer is tied to the item embeddings and a FAISS inner-product index over
:meth:`Bert4RecModel.item_embeddings` ranks exactly as the model does.

Example:
    >>> config = Bert4RecConfig(vocab_size=104, hidden_size=32, num_attention_heads=2)
    >>> model = Bert4RecModel(config)
    >>> users = model.encode_sequences(input_ids)          # (batch, 32)
    >>> scores = users @ model.item_embeddings().T          # (batch, 100)
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.bert.modeling_bert import BertEncoder

from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.layers import OutputTransform, RecsftPreTrainedModel, SequenceEmbeddings
from recsft.modeling.outputs import MaskedItemOutput


class Bert4RecPreTrainedModel(RecsftPreTrainedModel):
    """Weight initialisation and loading for the BERT4Rec family."""

    config_class = Bert4RecConfig
    base_model_prefix = "bert4rec"


class Bert4RecModel(Bert4RecPreTrainedModel):
    """BERT4Rec encoder with the masked-item objective and a tied output layer.

    Args:
        config: The model configuration.
    """

    def __init__(self, config: Bert4RecConfig) -> None:
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
        """Encode sequences and, given labels, compute the Cloze loss.

        Args:
            input_ids: ``(batch, length)`` token ids, left-padded, masked positions ``[MASK]``.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens.
            labels: ``(batch, length)`` original token ids at masked positions, ``-100``
                elsewhere. Only labelled positions are scored against the catalogue.

        Returns:
            :class:`MaskedItemOutput`; ``logits`` is ``(n_labelled, num_items)``.
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
        mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=embedded, attention_mask=attention_mask
        )
        return self.encoder(embedded, attention_mask=mask).last_hidden_state

    def encode_sequences(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One vector per user: the transformed hidden state of the last position.

        The tokenizer's ``encode_histories(..., append_mask=True)`` puts a ``[MASK]`` there, so
        this is the model's query for the next item.

        Args:
            input_ids: ``(batch, length)`` left-padded ids ending with ``[MASK]``.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``.

        Returns:
            ``(batch, hidden)`` user vectors; ``users @ item_embeddings().T`` are next-item scores.
        """
        hidden = self.encode(input_ids, token_type_ids, attention_mask)
        return self.output_transform(hidden[:, -1])
