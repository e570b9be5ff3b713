"""Configuration of the BERT4Rec-style masked-item encoder."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class Bert4RecConfig(PretrainedConfig):
    """Configuration for :class:`~recsft.modeling.bert4rec.Bert4RecModel`.

    Args:
        vocab_size: Size of the item vocabulary, special tokens included (the tokenizer's
            ``len(tokenizer)``).
        first_item_id: Token id of the first item; ids below it are special tokens.
        num_token_types: Size of the event-type vocabulary (special types included).
        hidden_size: Width of embeddings and hidden states.
        num_hidden_layers: Number of bidirectional transformer layers.
        num_attention_heads: Attention heads per layer.
        intermediate_size: Width of the feed-forward layer.
        hidden_act: Activation of the feed-forward layer and of the output transform.
        hidden_dropout_prob: Dropout on embeddings and sub-layer outputs.
        attention_probs_dropout_prob: Dropout on attention weights.
        max_position_embeddings: Longest sequence (the appended ``[MASK]`` included).
        use_event_types: Add an event-type embedding to each position.
        use_time_gaps: Add an embedding of the log-scaled time since the previous event
            (:func:`recsft.tokenization.time_gap_ids`).
        num_categories: Number of item categories; above 0, each item's vector adds the mean
            of its categories' embeddings (table set with ``set_item_categories``).
        max_item_categories: Categories kept per item in that table.
        use_output_transform: Map the hidden state through dense + activation + LayerNorm before
            the dot product with item embeddings (as BERT's MLM head does).
        norm_first: Pre-LayerNorm blocks (``x + sublayer(LayerNorm(x))`` and a final LayerNorm,
            as in the original SASRec) instead of BERT's post-LayerNorm layers.
        initializer_range: Std of the normal initialisation (embeddings included: a small
            std matters with a tied output layer).
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: Id of ``[PAD]``.
        mask_token_id: Id of ``[MASK]``.
        loss: Training loss computed by :func:`recsft.modeling.losses.item_loss`: ``"ce"``
            (full-softmax cross-entropy), ``"sampled_softmax"`` (logQ-corrected sampled
            softmax) or ``"gbce"`` (gSASRec's generalised binary cross-entropy). See
            ``docs/losses.md``.
        num_negatives: Negatives shared by the batch for the sampled losses.
        negative_sampling: How the sampled losses draw negatives: ``"uniform"``,
            ``"popularity"`` (needs the item log-probabilities from training counts) or
            ``"in-batch"`` (the other targets of the batch).
        gbce_t: Calibration parameter ``t`` in ``[0, 1]`` of gBCE (``0`` is plain BCE).
        uses_mask_token: Whether the model is fed ``[MASK]`` tokens (Cloze training, and a
            ``[MASK]`` appended to query the next item), as BERT4Rec is.
    """

    model_type = "recsft_bert4rec"

    def __init__(
        self,
        vocab_size: int = 100,
        first_item_id: int = 4,
        num_token_types: int = 4,
        hidden_size: int = 64,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 2,
        intermediate_size: int = 256,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.2,
        attention_probs_dropout_prob: float = 0.2,
        max_position_embeddings: int = 50,
        use_event_types: bool = True,
        use_time_gaps: bool = False,
        num_categories: int = 0,
        max_item_categories: int = 1,
        use_output_transform: bool = True,
        norm_first: bool = False,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        mask_token_id: int = 2,
        loss: str = "ce",
        num_negatives: int = 256,
        negative_sampling: str = "uniform",
        gbce_t: float = 0.75,
        uses_mask_token: bool = True,
        **kwargs: Any,
    ) -> None:
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads "
                f"({num_attention_heads})"
            )
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
        self.uses_mask_token = uses_mask_token
        # Read by transformers' BertLayer, which this model reuses.
        self.is_decoder = False
        self.add_cross_attention = False
        kwargs.pop("is_decoder", None)
        kwargs.pop("add_cross_attention", None)
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def num_items(self) -> int:
        return self.vocab_size - self.first_item_id
