"""SASRec: a causal (left-to-right) transformer trained to predict the next item at every step.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018. Built like
:mod:`recsft.modeling.bert4rec`: recsft's item + position (+ event-type) embeddings, transformers'
own ``BertLayer`` stack, and next-item scores as the dot product of an (optionally transformed)
hidden state with the item embedding matrix (a tied output layer, so a FAISS inner-product index
over :meth:`SASRecModel.item_embeddings` ranks exactly as the model does). What differs from
BERT4Rec is the attention mask: position ``t`` attends only to positions ``<= t``, so the hidden
state of the newest event is the query for the next item and no ``[MASK]`` token is needed.

Deviations from the paper: the blocks are BERT's post-LayerNorm layers by default (the paper
normalises before each sub-layer: ``config.norm_first``), the embeddings are LayerNorm-ed (the
paper scales them by the square root of the width), and the loss is chosen by
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
from transformers.masking_utils import create_causal_mask

from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.layers import TransformerSequenceModel


class SASRecModel(TransformerSequenceModel):
    """SASRec encoder with the next-item objective at every position and a tied output layer.

    Args:
        config: The model configuration.
    """

    config_class = SASRecConfig
    base_model_prefix = "sasrec"

    def _causal_mask(
        self, embedded: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """The causal mask combined with the ``(batch, length)`` padding mask.

        For SDPA it is boolean ``(batch, 1, length, length)`` (:func:`_sdpa_causal_mask`; ``None``
        without padding, where SDPA's ``is_causal`` applies); for the other implementations
        transformers builds it (additive float for eager). With left padding, the row of a padding
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
        if self.config._attn_implementation == "sdpa":
            return _sdpa_causal_mask(attention_mask)
        # No key/value cache: every forward pass encodes whole histories. ``cache`` is the
        # name transformers gives this argument since 5.24 (``past_key_values`` before; that
        # name is deprecated and goes in 5.40).
        mask = create_causal_mask(
            config=self.config,
            inputs_embeds=embedded,
            attention_mask=attention_mask,
            cache=None,
        )
        if isinstance(mask, torch.Tensor) and mask.ndim == 4:
            length = embedded.shape[1]
            diagonal = torch.eye(length, dtype=torch.bool, device=mask.device)
            # Boolean masks keep True entries; additive float masks keep 0 entries.
            is_bool = mask.dtype == torch.bool
            mask = mask | diagonal if is_bool else mask.masked_fill(diagonal, 0.0)
        return mask

    def _attention_mask(self, embedded: torch.Tensor, attention_mask: torch.Tensor):
        """Causal: position ``t`` sees only positions ``<= t`` (see :meth:`_causal_mask`)."""
        return self._causal_mask(embedded, attention_mask)


def _sdpa_causal_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """The boolean ``(batch, 1, length, length)`` mask of :meth:`SASRecModel._causal_mask` for
    SDPA, built with two broadcast operations: causal and real key, or the diagonal.

    The same mask transformers' ``create_causal_mask`` gives (plus the diagonal), without its
    per-element mask functions, which took about a fifth of SASRec's evaluation of MovieLens
    100K on the CPU. ``None`` without padding: SDPA then applies ``is_causal`` (the layers'
    ``config.is_decoder``).

    Args:
        attention_mask: ``(batch, length)``, 1 for real tokens.
    """
    if bool(attention_mask.all()):
        return None
    length = attention_mask.shape[1]
    device = attention_mask.device
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    mask = causal & attention_mask.bool()[:, None, None, :]
    return mask | torch.eye(length, dtype=torch.bool, device=device)
