"""Configurations of the recurrent next-item baselines (GRU4Rec, LSTM + attention pooling)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

ATTENTION_TYPES = ("additive", "dot")


class _RecurrentConfig(PretrainedConfig):
    """Fields shared by the recurrent models; see the subclasses for the documentation."""

    def __init__(
        self,
        vocab_size: int = 100,
        first_item_id: int = 4,
        num_token_types: int = 4,
        hidden_size: int = 64,
        embedding_size: int | None = None,
        num_hidden_layers: int = 1,
        hidden_dropout_prob: float = 0.2,
        max_position_embeddings: int = 50,
        use_event_types: bool = True,
        use_time_gaps: bool = False,
        num_categories: int = 0,
        max_item_categories: int = 1,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        mask_token_id: int = 2,
        loss: str = "ce",
        num_negatives: int = 256,
        negative_sampling: str = "uniform",
        gbce_t: float = 0.75,
        uses_mask_token: bool = False,
        **kwargs: Any,
    ) -> None:
        if uses_mask_token:
            raise ValueError(
                f"{type(self).__name__} takes no [MASK] token: uses_mask_token must be False"
            )
        if num_hidden_layers < 1:
            raise ValueError(f"num_hidden_layers must be at least 1, got {num_hidden_layers}")
        self.vocab_size = vocab_size
        self.first_item_id = first_item_id
        self.num_token_types = num_token_types
        self.hidden_size = hidden_size
        self.embedding_size = embedding_size if embedding_size is not None else hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.hidden_dropout_prob = hidden_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.use_event_types = use_event_types
        self.use_time_gaps = use_time_gaps
        self.num_categories = num_categories
        self.max_item_categories = max_item_categories
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.mask_token_id = mask_token_id
        self.loss = loss
        self.num_negatives = num_negatives
        self.negative_sampling = negative_sampling
        self.gbce_t = gbce_t
        # These models predict the item after the last position of a plain history: evaluators
        # append no ``[MASK]`` (as they do for BERT4Rec).
        self.uses_mask_token = False
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def num_items(self) -> int:
        return self.vocab_size - self.first_item_id


class GRU4RecConfig(_RecurrentConfig):
    """Configuration for :class:`~recsft.modeling.rnn.GRU4RecModel`.

    The model reads a left-padded history (no appended ``[MASK]``: ``uses_mask_token`` is
    ``False``) and predicts the next item at every position.

    Args:
        vocab_size: Size of the item vocabulary, special tokens included (the tokenizer's
            ``len(tokenizer)``).
        first_item_id: Token id of the first item; ids below it are special tokens.
        num_token_types: Size of the event-type vocabulary (special types included).
        hidden_size: Width of the GRU state.
        embedding_size: Width of the item (and event-type) embeddings, which is also the width
            of the query scored against them; ``None`` means ``hidden_size``.
        num_hidden_layers: Number of stacked GRU layers.
        hidden_dropout_prob: Dropout on the input embeddings and between GRU layers.
        max_position_embeddings: Longest sequence the shared pipeline builds. The GRU has no
            position embedding and does not enforce it; kept for the shared pipeline.
        use_event_types: Add an event-type embedding to each item embedding.
        use_time_gaps: Add an embedding of the log-scaled time since the previous event
            (:func:`recsft.tokenization.time_gap_ids`).
        num_categories: Number of item categories; above 0, each item's vector adds the mean
            of its categories' embeddings (table set with ``set_item_categories``).
        max_item_categories: Categories kept per item in that table.
        use_output_projection: Map the GRU state through a dense layer to the embedding width
            before the dot product with item embeddings. Required when ``embedding_size`` differs
            from ``hidden_size``.
        initializer_range: Std of the normal initialisation of embeddings and dense layers
            (GRU weights get xavier / orthogonal initialisation).
        layer_norm_eps: LayerNorm epsilon; unused by the GRU, kept for the shared pipeline.
        pad_token_id: Id of ``[PAD]``.
        mask_token_id: Id of ``[MASK]``; unused by the model, kept for the shared pipeline.
        loss: Training loss, read by :func:`recsft.modeling.losses.item_loss`.
        num_negatives: Negatives per labelled position for sampled losses.
        negative_sampling: How sampled losses draw negatives.
        gbce_t: Calibration parameter ``t`` of the gBCE loss.
        uses_mask_token: Whether the model is fed ``[MASK]`` tokens. Always ``False``: the
            query for the next item is read off the newest event, so evaluators append no
            ``[MASK]``.

    Raises:
        ValueError: ``uses_mask_token`` is true, ``num_hidden_layers`` is below 1, or
            ``embedding_size`` differs from ``hidden_size`` without ``use_output_projection``.
    """

    model_type = "recsft_gru4rec"

    def __init__(
        self,
        vocab_size: int = 100,
        first_item_id: int = 4,
        num_token_types: int = 4,
        hidden_size: int = 64,
        embedding_size: int | None = None,
        num_hidden_layers: int = 1,
        hidden_dropout_prob: float = 0.2,
        max_position_embeddings: int = 50,
        use_event_types: bool = True,
        use_time_gaps: bool = False,
        num_categories: int = 0,
        max_item_categories: int = 1,
        use_output_projection: bool = True,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        mask_token_id: int = 2,
        loss: str = "ce",
        num_negatives: int = 256,
        negative_sampling: str = "uniform",
        gbce_t: float = 0.75,
        uses_mask_token: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            vocab_size=vocab_size, first_item_id=first_item_id, num_token_types=num_token_types,
            hidden_size=hidden_size, embedding_size=embedding_size,
            num_hidden_layers=num_hidden_layers, hidden_dropout_prob=hidden_dropout_prob,
            max_position_embeddings=max_position_embeddings, use_event_types=use_event_types,
            use_time_gaps=use_time_gaps, num_categories=num_categories,
            max_item_categories=max_item_categories,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
            pad_token_id=pad_token_id, mask_token_id=mask_token_id, loss=loss,
            num_negatives=num_negatives, negative_sampling=negative_sampling, gbce_t=gbce_t,
            uses_mask_token=uses_mask_token, **kwargs,
        )
        if not use_output_projection and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"embedding_size ({self.embedding_size}) differs from hidden_size "
                f"({self.hidden_size}): use_output_projection is required"
            )
        self.use_output_projection = use_output_projection


class LSTMAttentionConfig(_RecurrentConfig):
    """Configuration for :class:`~recsft.modeling.rnn.LSTMAttentionModel`.

    The model reads a left-padded history (no appended ``[MASK]``: ``uses_mask_token`` is
    ``False``) and predicts the next item at every position from the LSTM state there and an
    attention-pooled summary of the LSTM states up to it.

    Args:
        vocab_size: Size of the item vocabulary, special tokens included (the tokenizer's
            ``len(tokenizer)``).
        first_item_id: Token id of the first item; ids below it are special tokens.
        num_token_types: Size of the event-type vocabulary (special types included).
        hidden_size: Width of the LSTM state (and of the attention-pooled vector).
        embedding_size: Width of the item (and event-type) embeddings, which is also the width
            of the query scored against them; ``None`` means ``hidden_size``.
        num_hidden_layers: Number of stacked LSTM layers.
        hidden_dropout_prob: Dropout on the input embeddings, between LSTM layers and on the
            ``[state; pooled]`` vector before the output projection.
        max_position_embeddings: Longest sequence the shared pipeline builds. The LSTM has no
            position embedding and does not enforce it; kept for the shared pipeline.
        use_event_types: Add an event-type embedding to each item embedding.
        use_time_gaps: Add an embedding of the log-scaled time since the previous event
            (:func:`recsft.tokenization.time_gap_ids`).
        num_categories: Number of item categories; above 0, each item's vector adds the mean
            of its categories' embeddings (table set with ``set_item_categories``).
        max_item_categories: Categories kept per item in that table.
        attention_type: ``"additive"`` (``v · tanh(W_q h_t + W_k h_j)``, as in NARM; memory
            ``O(batch · length² · hidden)`` in training) or ``"dot"`` (scaled
            ``(W_q h_t) · (W_k h_j)``, memory ``O(batch · length²)``).
        initializer_range: Std of the normal initialisation of embeddings and dense layers
            (LSTM weights get xavier / orthogonal initialisation, forget-gate bias 1).
        layer_norm_eps: LayerNorm epsilon; unused by the LSTM, kept for the shared pipeline.
        pad_token_id: Id of ``[PAD]``.
        mask_token_id: Id of ``[MASK]``; unused by the model, kept for the shared pipeline.
        loss: Training loss, read by :func:`recsft.modeling.losses.item_loss`.
        num_negatives: Negatives per labelled position for sampled losses.
        negative_sampling: How sampled losses draw negatives.
        gbce_t: Calibration parameter ``t`` of the gBCE loss.
        uses_mask_token: Whether the model is fed ``[MASK]`` tokens. Always ``False``: the
            query for the next item is read off the newest event, so evaluators append no
            ``[MASK]``.

    Raises:
        ValueError: ``uses_mask_token`` is true, ``num_hidden_layers`` is below 1, or
            ``attention_type`` is unknown.
    """

    model_type = "recsft_lstm_attention"

    def __init__(
        self,
        vocab_size: int = 100,
        first_item_id: int = 4,
        num_token_types: int = 4,
        hidden_size: int = 64,
        embedding_size: int | None = None,
        num_hidden_layers: int = 1,
        hidden_dropout_prob: float = 0.2,
        max_position_embeddings: int = 50,
        use_event_types: bool = True,
        use_time_gaps: bool = False,
        num_categories: int = 0,
        max_item_categories: int = 1,
        attention_type: str = "additive",
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        mask_token_id: int = 2,
        loss: str = "ce",
        num_negatives: int = 256,
        negative_sampling: str = "uniform",
        gbce_t: float = 0.75,
        uses_mask_token: bool = False,
        **kwargs: Any,
    ) -> None:
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"unknown attention_type '{attention_type}'; expected one of "
                f"{', '.join(ATTENTION_TYPES)}"
            )
        super().__init__(
            vocab_size=vocab_size, first_item_id=first_item_id, num_token_types=num_token_types,
            hidden_size=hidden_size, embedding_size=embedding_size,
            num_hidden_layers=num_hidden_layers, hidden_dropout_prob=hidden_dropout_prob,
            max_position_embeddings=max_position_embeddings, use_event_types=use_event_types,
            use_time_gaps=use_time_gaps, num_categories=num_categories,
            max_item_categories=max_item_categories,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
            pad_token_id=pad_token_id, mask_token_id=mask_token_id, loss=loss,
            num_negatives=num_negatives, negative_sampling=negative_sampling, gbce_t=gbce_t,
            uses_mask_token=uses_mask_token, **kwargs,
        )
        self.attention_type = attention_type
