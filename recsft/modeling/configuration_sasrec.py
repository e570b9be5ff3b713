"""Configuration of the SASRec-style causal (left-to-right) next-item model."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class SASRecConfig(PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.sasrec.SASRecModel`.

    The fields mirror :class:`~recsft.modeling.configuration_bert4rec.Bert4RecConfig`, so the two
    models are built, trained and evaluated through the same code. Defaults follow Kang &
    McAuley (2018): two blocks, one head, a feed-forward layer as wide as the hidden state, ReLU
    and dropout 0.2.

    Args:
        vocab_size: Size of the item vocabulary, special tokens included (the tokenizer's
            ``len(tokenizer)``).
        first_item_id: Token id of the first item; ids below it are special tokens.
        num_token_types: Size of the event-type vocabulary (special types included).
        hidden_size: Width of embeddings and hidden states.
        num_hidden_layers: Number of causal transformer layers.
        num_attention_heads: Attention heads per layer.
        intermediate_size: Width of the feed-forward layer.
        hidden_act: Activation of the feed-forward layer and of the output transform.
        hidden_dropout_prob: Dropout on embeddings and sub-layer outputs.
        attention_probs_dropout_prob: Dropout on attention weights.
        max_position_embeddings: Longest input sequence (there is no appended ``[MASK]``: the
            query for the next item is the hidden state of the newest event).
        use_event_types: Add an event-type embedding to each position.
        use_time_gaps: Add an embedding of the log-scaled time since the previous event
            (:func:`recsft.tokenization.time_gap_ids`).
        num_categories: Number of item categories; above 0, each item's vector adds the mean
            of its categories' embeddings (table set with ``set_item_categories``).
        max_item_categories: Categories kept per item in that table.
        use_output_transform: Map the hidden state through dense + activation + LayerNorm before
            the dot product with item embeddings (off in the original SASRec).
        norm_first: Pre-LayerNorm blocks (``x + sublayer(LayerNorm(x))`` and a final LayerNorm,
            as in the original SASRec) instead of BERT's post-LayerNorm layers.
        initializer_range: Std of the normal initialisation (embeddings included: a small std
            matters with a tied output layer).
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: Id of ``[PAD]``.
        mask_token_id: Id of ``[MASK]`` (unused by the model; kept so configs of the family
            share their fields).
        loss: Training loss, read by :func:`recsft.modeling.losses.item_loss`.
        num_negatives: Negatives per query for sampled losses.
        negative_sampling: How sampled losses draw negatives (e.g. ``"uniform"``).
        gbce_t: Calibration parameter ``t`` of the gBCE loss.
        uses_mask_token: Whether the model is fed ``[MASK]`` tokens. Always ``False``: SASRec
            reads the next item off the newest event, so evaluators append no ``[MASK]``.

    Raises:
        ValueError: ``hidden_size`` is not a multiple of ``num_attention_heads``, or
            ``uses_mask_token`` is true.
    """

    model_type = "recsft_sasrec"

    def __init__(
        self,
        vocab_size: int = 100,
        first_item_id: int = 4,
        num_token_types: int = 4,
        hidden_size: int = 64,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 1,
        intermediate_size: int = 64,
        hidden_act: str = "relu",
        hidden_dropout_prob: float = 0.2,
        attention_probs_dropout_prob: float = 0.2,
        max_position_embeddings: int = 50,
        use_event_types: bool = True,
        use_time_gaps: bool = False,
        num_categories: int = 0,
        max_item_categories: int = 1,
        use_output_transform: bool = False,
        norm_first: bool = False,
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
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads "
                f"({num_attention_heads})"
            )
        if uses_mask_token:
            raise ValueError("SASRec takes no [MASK] token: uses_mask_token must be False")
        self.vocab_size = vocab_size
        self.first_item_id = first_item_id
        self.num_token_types = num_token_types
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.use_event_types = use_event_types
        self.use_time_gaps = use_time_gaps
        self.num_categories = num_categories
        self.max_item_categories = max_item_categories
        self.use_output_transform = use_output_transform
        self.norm_first = norm_first
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.mask_token_id = mask_token_id
        self.loss = loss
        self.num_negatives = num_negatives
        self.negative_sampling = negative_sampling
        self.gbce_t = gbce_t
        self.uses_mask_token = False
        # Read by transformers' BertLayer, which this model reuses: ``is_decoder`` makes its
        # self-attention causal (SDPA's ``is_causal`` when no explicit mask is needed); the model
        # always passes a causal mask combined with the padding mask otherwise.
        self.is_decoder = True
        self.add_cross_attention = False
        kwargs.pop("is_decoder", None)
        kwargs.pop("add_cross_attention", None)
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def num_items(self) -> int:
        return self.vocab_size - self.first_item_id
