"""Configurations of the recurrent next-item baselines (GRU4Rec, LSTM + attention pooling).

Both models read a left-padded history (no appended ``[MASK]``: ``uses_mask_token`` is always
``False``) and predict the next item at every position.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from recsft.modeling.configuration_fields import (
    ATTENTION_TYPES,
    GRU4RecFields,
    LSTMAttentionFields,
)

__all__ = ["ATTENTION_TYPES", "GRU4RecConfig", "LSTMAttentionConfig"]


class _RecurrentPostInit:
    """What both recurrent configs do once their fields are set."""

    def __post_init__(self, **kwargs: Any) -> None:
        self.check_fields()
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size
        super().__post_init__(**kwargs)


class GRU4RecConfig(_RecurrentPostInit, GRU4RecFields, PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.rnn.GRU4RecModel`.

    The fields, their types and defaults are those of
    :class:`~recsft.modeling.configuration_fields.GRU4RecFields` (shared ones documented in
    :class:`~recsft.modeling.configuration_fields.SequenceModelFields`, recurrent ones in
    :class:`~recsft.modeling.configuration_fields.RecurrentFields`); ``initializer_range`` is
    the std of embeddings and dense layers (GRU weights get xavier / orthogonal initialisation).
    ``embedding_size=None`` becomes ``hidden_size``. Any other keyword is handed to
    transformers' ``PretrainedConfig``.

    Raises:
        ValueError: ``uses_mask_token`` is true, ``num_hidden_layers`` is below 1, or
            ``embedding_size`` differs from ``hidden_size`` without ``use_output_projection``.
    """

    model_type = "recsft_gru4rec"


class LSTMAttentionConfig(_RecurrentPostInit, LSTMAttentionFields, PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.rnn.LSTMAttentionModel`.

    The model predicts the next item at every position from the LSTM state there and an
    attention-pooled summary of the LSTM states up to it. The fields, their types and defaults
    are those of :class:`~recsft.modeling.configuration_fields.LSTMAttentionFields`;
    ``initializer_range`` is the std of embeddings and dense layers (LSTM weights get xavier /
    orthogonal initialisation, forget-gate bias 1). ``embedding_size=None`` becomes
    ``hidden_size``. Any other keyword is handed to transformers' ``PretrainedConfig``.

    Raises:
        ValueError: ``uses_mask_token`` is true, ``num_hidden_layers`` is below 1, or
            ``attention_type`` is unknown.
    """

    model_type = "recsft_lstm_attention"
