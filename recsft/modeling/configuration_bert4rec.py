"""Configuration of the BERT4Rec-style masked-item encoder."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from recsft.modeling.configuration_fields import Bert4RecFields


class Bert4RecConfig(Bert4RecFields, PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.bert4rec.Bert4RecModel`.

    The fields, their types and defaults are those of
    :class:`~recsft.modeling.configuration_fields.Bert4RecFields` (the shared ones documented in
    :class:`~recsft.modeling.configuration_fields.SequenceModelFields`, the transformer ones in
    :class:`~recsft.modeling.configuration_fields.TransformerFields`); any other keyword is
    handed to transformers' ``PretrainedConfig``.

    Example:
        >>> Bert4RecConfig(vocab_size=104, hidden_size=32).num_items
        100

    Raises:
        ValueError: ``hidden_size`` is not a multiple of ``num_attention_heads``.
    """

    model_type = "recsft_bert4rec"

    def __post_init__(self, **kwargs: Any) -> None:
        self.check_fields()
        # Read by transformers' BertLayer, which this model reuses.
        kwargs.pop("is_decoder", None)
        kwargs.pop("add_cross_attention", None)
        self.is_decoder = False
        self.add_cross_attention = False
        super().__post_init__(**kwargs)
