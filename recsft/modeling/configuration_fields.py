"""The fields of every recsft model config, declared once, without importing transformers.

Each model's config class (:class:`~recsft.modeling.configuration_bert4rec.Bert4RecConfig`,
...) is its fields dataclass here plus transformers' ``PretrainedConfig``: the fields, their
types and their defaults exist only in this module. The fields the models share are declared
once in :class:`SequenceModelFields`, the transformer ones once in :class:`TransformerFields`
and the recurrent ones in :class:`RecurrentFields`; a model's class only adds its own fields
and states the defaults where it differs.

The run config (:mod:`recsft.config`) reads these classes for its ``model:`` section (which
fields a model type has, their types and defaults) without the two-second import of
transformers.

Example:
    >>> SASRecFields().num_attention_heads, Bert4RecFields().num_attention_heads
    (1, 2)
    >>> SASRecFields(hidden_size=64, num_attention_heads=3).check_fields()
    Traceback (most recent call last):
    ...
    ValueError: hidden_size (64) must be a multiple of num_attention_heads (3)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

#: ``attention_type`` values of :class:`LSTMAttentionFields`.
ATTENTION_TYPES = ("additive", "dot")
#: ``item_representation`` values (:mod:`recsft.modeling.item_text`).
ITEM_REPRESENTATIONS = ("id", "text", "id+text")
#: ``text_fusion`` values.
TEXT_FUSIONS = ("sum", "concat", "gate")
#: ``similarity`` values.
SIMILARITIES = ("dot", "cosine")


@dataclass(kw_only=True, repr=False, eq=False)
class SequenceModelFields:
    """Fields every recsft sequence model has.

    Attributes:
        vocab_size: Size of the item vocabulary, special tokens included (the tokenizer's
            ``len(tokenizer)``).
        first_item_id: Token id of the first item; ids below it are special tokens.
        num_token_types: Size of the event-type vocabulary (special types included).
        hidden_size: Width of the hidden states (and, unless a model says otherwise, of the
            embeddings).
        num_hidden_layers: Number of stacked layers.
        hidden_dropout_prob: Dropout on embeddings and sub-layer outputs.
        max_position_embeddings: Longest input sequence (for BERT4Rec the appended ``[MASK]``
            included).
        use_event_types: Add an event-type embedding to each position.
        use_time_gaps: Add an embedding of the log-scaled time since the previous event
            (:func:`recsft.tokenization.time_gap_ids`).
        num_categories: Number of item categories; above 0, each item's vector adds the mean
            of its categories' embeddings (table set with ``set_item_categories``).
        max_item_categories: Categories kept per item in that table.
        initializer_range: Std of the normal initialisation (embeddings included: a small std
            matters with a tied output layer).
        layer_norm_eps: LayerNorm epsilon.
        pad_token_id: Id of ``[PAD]``.
        mask_token_id: Id of ``[MASK]`` (unused by the models that read no ``[MASK]``; kept so
            the configs of the family share their fields).
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
            ``[MASK]`` appended to query the next item), as BERT4Rec is. The causal models read
            the next item off the newest event and must keep it ``False``.
        item_representation: What an item's vector is made of: ``"id"`` (a learned embedding
            per item), ``"text"`` (its text vector through an adaptor, no id embedding) or
            ``"id+text"`` (both, fused; items without training interactions use their text
            alone). See :mod:`recsft.modeling.item_text` and ``docs/text.md``.
        text_fusion: How ``"id+text"`` combines the two: ``"sum"``, ``"concat"`` (a linear map
            of both) or ``"gate"`` (a learned per-dimension gate).
        text_dim: Width of the items' text vectors (set from the text encoder; 0 without
            text).
        text_experts: Experts of the text adaptor (UniSRec's parametric whitening mixture).
        text_dropout: Dropout on the text vectors entering the adaptor.
        id_dropout: ``"id+text"`` in training: the probability that an item's id embedding is
            left out where the item is read (its vector is then its text alone, as it is for
            items without training interactions), so that the model learns to rank items by
            their text too; without it, items scored from text alone (cold, newly added) rank
            below every item with an id. 0 disables it.
        similarity: How a query meets an item in training: ``"dot"`` (the inner product) or
            ``"cosine"`` (both unit length, the logits divided by ``temperature``, as UniSRec
            trains). Under ``"cosine"`` the item matrix (``item_embeddings()``, the FAISS
            index) holds unit vectors, so inner-product search ranks as training scored.
        temperature: The softmax temperature of ``"cosine"``.
    """

    #: Fields filled from the tokenizer and the data, never from a run config's ``model:``.
    DERIVED: ClassVar[tuple[str, ...]] = (
        "vocab_size", "first_item_id", "num_token_types", "max_position_embeddings",
        "pad_token_id", "mask_token_id", "num_categories", "max_item_categories",
        "uses_mask_token", "text_dim",
    )

    vocab_size: int = 100
    first_item_id: int = 4
    num_token_types: int = 4
    hidden_size: int = 64
    num_hidden_layers: int = 2
    hidden_dropout_prob: float = 0.2
    max_position_embeddings: int = 50
    use_event_types: bool = True
    use_time_gaps: bool = False
    num_categories: int = 0
    max_item_categories: int = 1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    mask_token_id: int = 2
    loss: str = "ce"
    num_negatives: int = 256
    negative_sampling: str = "uniform"
    gbce_t: float = 0.75
    uses_mask_token: bool = False
    item_representation: str = "id"
    text_fusion: str = "sum"
    text_dim: int = 0
    text_experts: int = 8
    text_dropout: float = 0.2
    id_dropout: float = 0.0
    similarity: str = "dot"
    temperature: float = 0.07

    @property
    def num_items(self) -> int:
        """Items in the vocabulary (special tokens excluded)."""
        return self.vocab_size - self.first_item_id

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every field of the model, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, object]:
        """``{field: default}`` for every field."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def check_fields(self) -> None:
        """Check the values that the fields' types alone do not constrain.

        Raises:
            ValueError: one line naming the field and what was expected.
        """
        if self.uses_mask_token and not type(self).defaults()["uses_mask_token"]:
            raise ValueError(f"{_model_name(self)} takes no [MASK] token: uses_mask_token must "
                             "be False")
        if self.item_representation not in ITEM_REPRESENTATIONS:
            raise ValueError(f"unknown item_representation {self.item_representation!r:.60}; "
                             f"expected one of {', '.join(ITEM_REPRESENTATIONS)}")
        if self.text_fusion not in TEXT_FUSIONS:
            raise ValueError(f"unknown text_fusion {self.text_fusion!r:.60}; expected one of "
                             f"{', '.join(TEXT_FUSIONS)}")
        if not 0 <= self.id_dropout < 1:
            raise ValueError(f"id_dropout must be in [0, 1), got {self.id_dropout}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {self.similarity!r:.60}; expected one of "
                             f"{', '.join(SIMILARITIES)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be above 0, got {self.temperature}")
        if not isinstance(self.text_experts, int) or self.text_experts < 1:
            raise ValueError(f"text_experts must be at least 1, got {self.text_experts}")

    @property
    def reads_text(self) -> bool:
        """Whether item vectors are built from text (``item_representation`` not ``"id"``)."""
        return self.item_representation != "id"


@dataclass(kw_only=True, repr=False, eq=False)
class TransformerFields(SequenceModelFields):
    """Fields of the transformer models (BERT4Rec, SASRec), beyond the shared ones.

    Attributes:
        num_attention_heads: Attention heads per layer.
        intermediate_size: Width of the feed-forward layer.
        hidden_act: Activation of the feed-forward layer and of the output transform.
        attention_probs_dropout_prob: Dropout on attention weights.
        use_output_transform: Map the hidden state through dense + activation + LayerNorm
            before the dot product with item embeddings (as BERT's MLM head does).
        norm_first: Pre-LayerNorm blocks (``x + sublayer(LayerNorm(x))`` and a final
            LayerNorm, as in the original SASRec) instead of BERT's post-LayerNorm layers.
    """

    num_attention_heads: int = 2
    intermediate_size: int = 256
    hidden_act: str = "gelu"
    attention_probs_dropout_prob: float = 0.2
    use_output_transform: bool = True
    norm_first: bool = False

    def check_fields(self) -> None:
        super().check_fields()
        if (isinstance(self.num_attention_heads, int) and self.num_attention_heads > 0
                and self.hidden_size % self.num_attention_heads):
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of "
                             f"num_attention_heads ({self.num_attention_heads})")
        if not isinstance(self.num_attention_heads, int) or self.num_attention_heads < 1:
            raise ValueError(f"num_attention_heads must be at least 1, got "
                             f"{self.num_attention_heads}")


@dataclass(kw_only=True, repr=False, eq=False)
class Bert4RecFields(TransformerFields):
    """BERT4Rec (bidirectional, Cloze): the transformer fields with a ``[MASK]`` token."""

    uses_mask_token: bool = True


@dataclass(kw_only=True, repr=False, eq=False)
class SASRecFields(TransformerFields):
    """SASRec (causal). Defaults follow Kang & McAuley (2018): two blocks, one head, a
    feed-forward layer as wide as the hidden state, ReLU, dropout 0.2 and no output transform.
    """

    num_attention_heads: int = 1
    intermediate_size: int = 64
    hidden_act: str = "relu"
    use_output_transform: bool = False


@dataclass(kw_only=True, repr=False, eq=False)
class RecurrentFields(SequenceModelFields):
    """Fields of the recurrent models (GRU4Rec, LSTM + attention), beyond the shared ones.

    ``max_position_embeddings``, ``layer_norm_eps`` and ``mask_token_id`` are unused by the
    recurrences and kept for the shared pipeline.

    Attributes:
        num_hidden_layers: Number of stacked recurrent layers (one by default).
        embedding_size: Width of the item (and event-type) embeddings, which is also the width
            of the query scored against them; ``None`` means ``hidden_size``.
    """

    num_hidden_layers: int = 1
    embedding_size: int | None = None

    def check_fields(self) -> None:
        super().check_fields()
        if not isinstance(self.num_hidden_layers, int) or self.num_hidden_layers < 1:
            raise ValueError(f"num_hidden_layers must be at least 1, got "
                             f"{self.num_hidden_layers}")


@dataclass(kw_only=True, repr=False, eq=False)
class GRU4RecFields(RecurrentFields):
    """GRU4Rec.

    Attributes:
        use_output_projection: Map the GRU state through a dense layer to the embedding width
            before the dot product with item embeddings. Required when ``embedding_size``
            differs from ``hidden_size``.
    """

    use_output_projection: bool = True

    def check_fields(self) -> None:
        super().check_fields()
        embedding_size = (self.embedding_size if self.embedding_size is not None
                          else self.hidden_size)
        if not self.use_output_projection and embedding_size != self.hidden_size:
            raise ValueError(f"embedding_size ({embedding_size}) differs from hidden_size "
                             f"({self.hidden_size}): use_output_projection is required")


@dataclass(kw_only=True, repr=False, eq=False)
class LSTMAttentionFields(RecurrentFields):
    """LSTM with causal attention pooling.

    Attributes:
        attention_type: ``"additive"`` (``v · tanh(W_q h_t + W_k h_j)``, as in NARM; memory
            ``O(batch · length² · hidden)`` in training) or ``"dot"`` (scaled
            ``(W_q h_t) · (W_k h_j)``, memory ``O(batch · length²)``).
    """

    attention_type: str = "additive"

    def check_fields(self) -> None:
        if self.attention_type not in ATTENTION_TYPES:
            raise ValueError(f"unknown attention_type {self.attention_type!r:.60}; expected "
                             f"one of {', '.join(ATTENTION_TYPES)}")
        super().check_fields()


def _model_name(fields: SequenceModelFields) -> str:
    """``SASRec`` for ``SASRecFields`` / ``SASRecConfig``."""
    name = type(fields).__name__
    for suffix in ("Fields", "Config"):
        name = name.removesuffix(suffix)
    return name
