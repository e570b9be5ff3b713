"""Configuration of the SASRec-style causal (left-to-right) next-item model."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from recsft.modeling.configuration_fields import SASRecFields


class SASRecConfig(SASRecFields, PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.sasrec.SASRecModel`.

    The fields are BERT4Rec's (the transformer fields of
    :class:`~recsft.modeling.configuration_fields.TransformerFields`), so the two models are
    built, trained and evaluated through the same code; the defaults follow Kang & McAuley
    (2018), see :class:`~recsft.modeling.configuration_fields.SASRecFields`. There is no
    appended ``[MASK]``: the query for the next item is the hidden state of the newest event,
    and ``uses_mask_token`` is always ``False``. Any other keyword is handed to transformers'
    ``PretrainedConfig``.

    Raises:
        ValueError: ``hidden_size`` is not a multiple of ``num_attention_heads``, or
            ``uses_mask_token`` is true.
    """

    model_type = "recsft_sasrec"

    def __post_init__(self, **kwargs: Any) -> None:
        self.check_fields()
        # Read by transformers' BertLayer, which this model reuses: ``is_decoder`` makes its
        # self-attention causal (SDPA's ``is_causal`` when no explicit mask is needed); the model
        # always passes a causal mask combined with the padding mask otherwise.
        kwargs.pop("is_decoder", None)
        kwargs.pop("add_cross_attention", None)
        self.is_decoder = True
        self.add_cross_attention = False
        super().__post_init__(**kwargs)
