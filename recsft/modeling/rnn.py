"""Recurrent next-item baselines: GRU4Rec and an LSTM with causal attention pooling.

Both belong to the BERT4Rec family of recsft models: the same tokenizer ids and left-padded
batches, item embeddings at ``embeddings.items`` with the output layer tied to them (next-item
scores are ``query · item_embeddings()``), the same :class:`MaskedItemOutput`, and the loss of
``config.loss`` (full or sampled) through :func:`recsft.modeling.losses.item_loss`. Like SASRec
they are causal: ``labels`` hold the *next* item at every labelled position (as
:class:`~recsft.training.collators.CausalCollator` builds them), and :meth:`encode_sequences`
reads a plain history (no appended ``[MASK]``; the configs say so with
``uses_mask_token = False``).

* :class:`GRU4RecModel`: item (+ event-type) embeddings → dropout → stacked GRU → optional dense
  projection to the embedding width (Hidasi et al., "Session-based Recommendations with Recurrent
  Neural Networks", ICLR 2016), trained with full cross-entropy over the catalogue at every
  position, as in Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better
  than SASRec?", RecSys 2023.
* :class:`LSTMAttentionModel`: embeddings → stacked LSTM → attention pooling of the states up to
  each position, queried by the state there (as NARM's local encoder, Li et al., CIKM 2017) →
  dense projection of ``[state; pooled]``. The pooling of every prefix is one masked
  ``(length × length)`` attention, so training scores all positions in one pass.

Padding never reaches the recurrence: each batch is compacted to its real positions, packed
(:func:`~torch.nn.utils.rnn.pack_padded_sequence`) and scattered back, so a user's vectors do
not depend on how much left padding the batch adds.

Example:
    >>> model = GRU4RecModel(GRU4RecConfig(vocab_size=104, hidden_size=32))
    >>> users = model.encode_sequences(input_ids)          # (batch, 32), no [MASK] appended
    >>> scores = users @ model.item_embeddings().T          # (batch, 100)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PretrainedConfig
from transformers import initialization as init

from recsft.modeling.configuration_rnn import GRU4RecConfig, LSTMAttentionConfig
from recsft.modeling.layers import BehaviorEmbeddings, RecsftPreTrainedModel
from recsft.modeling.outputs import MaskedItemOutput


class ItemEmbeddings(BehaviorEmbeddings):
    """Event embeddings (:class:`~recsft.modeling.layers.BehaviorEmbeddings`: item, categories,
    event type, time gap as switched on) and dropout; no positions, the recurrence orders
    events.

    Args:
        config: A recurrent model config (``vocab_size``, ``embedding_size``, ...).
    """

    def __init__(self, config: GRU4RecConfig | LSTMAttentionConfig) -> None:
        super().__init__(config, config.embedding_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embed ``(batch, length)`` ids into ``(batch, length, embedding_size)``."""
        return self.dropout(self.events(input_ids, token_type_ids, time_gap_ids))


def run_over_real_positions(
    rnn: nn.RNNBase, inputs: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Run a ``batch_first`` RNN over the real positions of each row only.

    Each row's real positions are moved to the front (a stable sort keeps their order), packed
    with their count as length, run, and scattered back to where they came from. Padding (at the
    left, or anywhere) is skipped, so the states of real positions are exactly those of the
    unpadded sequence.

    Args:
        rnn: A ``batch_first`` :class:`~torch.nn.GRU` or :class:`~torch.nn.LSTM`.
        inputs: ``(batch, length, input_size)`` embedded inputs.
        attention_mask: ``(batch, length)``, nonzero at real positions.

    Returns:
        ``(batch, length, hidden)`` last-layer states; zero at padded positions (and in rows
        without any real position).
    """
    real = attention_mask.bool()
    if bool(real.all()):
        return rnn(inputs)[0]
    length = inputs.shape[1]
    order = torch.argsort((~real).to(torch.uint8), dim=1, stable=True)  # real positions first
    compact = inputs.gather(1, order[..., None].expand_as(inputs))
    lengths = real.sum(dim=1).clamp(min=1).cpu()  # an empty row runs one (discarded) step
    packed = pack_padded_sequence(compact, lengths, batch_first=True, enforce_sorted=False)
    states, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=length)
    restored = torch.zeros_like(states).scatter(
        1, order[..., None].expand_as(states), states
    )
    return restored * real[..., None].to(restored.dtype)


def stacked_rnn(rnn_class: type[nn.RNNBase], config: PretrainedConfig) -> nn.RNNBase:
    """A ``batch_first`` stack of ``config.num_hidden_layers`` GRU/LSTM layers from
    ``embedding_size`` to ``hidden_size``, with dropout between layers (none for one layer)."""
    return rnn_class(
        config.embedding_size,
        config.hidden_size,
        num_layers=config.num_hidden_layers,
        batch_first=True,
        dropout=config.hidden_dropout_prob if config.num_hidden_layers > 1 else 0.0,
    )


class RecurrentPreTrainedModel(RecsftPreTrainedModel):
    """What the recurrent models share: ``encode`` (embeddings → ``self.rnn`` over the real
    positions), ``forward``, ``encode_sequences`` and ``next_item_queries``; a subclass builds
    ``embeddings``, ``rnn`` and its heads, and maps states to queries in ``_queries``.

    Weight initialisation:
    Embeddings and dense layers as in the rest of the family (normal, ``initializer_range``);
    per gate, input-to-hidden matrices xavier-uniform and hidden-to-hidden matrices orthogonal;
    biases zero except the LSTM forget gate's (1, Jozefowicz et al., ICML 2015).
    """

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if not isinstance(module, (nn.GRU, nn.LSTM)):
            return
        gates = 4 if isinstance(module, nn.LSTM) else 3
        for name, param in module.named_parameters(recurse=False):
            if getattr(param, "_is_hf_initialized", False):
                continue  # loaded from a checkpoint
            if name.startswith("weight_ih"):
                for gate in param.chunk(gates, dim=0):
                    init.xavier_uniform_(gate)
            elif name.startswith("weight_hh"):
                for gate in param.chunk(gates, dim=0):
                    init.orthogonal_(gate)
            elif name.startswith("bias"):
                init.zeros_(param)
                if gates == 4 and name.startswith("bias_ih"):
                    param[module.hidden_size:2 * module.hidden_size].fill_(1.0)

    def _queries(
        self, states: torch.Tensor, attention_mask: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """Next-item queries ``(batch, length or 1, embedding_size)`` from the states."""
        raise NotImplementedError

    def encode(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Recurrent states ``(batch, length, hidden_size)``; zero at padded positions.

        Args:
            input_ids: ``(batch, length)`` left-padded item ids.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens (default: ids != pad).
            time_gap_ids: ``(batch, length)`` time-gap buckets.
        """
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        embedded = self.embeddings(input_ids, token_type_ids, time_gap_ids)
        return run_over_real_positions(self.rnn, embedded, attention_mask)

    def next_item_queries(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Queries ``(batch, length, embedding_size)`` for the item after every position."""
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        states = self.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        return self._queries(states, attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedItemOutput:
        """Encode sequences and, given labels, compute the next-item loss.

        Args:
            input_ids: ``(batch, length)`` token ids, left-padded.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``, 1 for real tokens.
            labels: ``(batch, length)`` token id of the item following each position, ``-100``
                where there is none to predict. Only labelled positions are scored.
            time_gap_ids: ``(batch, length)`` time-gap buckets.

        Returns:
            :class:`MaskedItemOutput`; ``logits`` is ``(n_labelled, num_items)`` (or ``None``
            for sampled losses), ``last_hidden_state`` the recurrent states ``(batch, length,
            hidden_size)``.
        """
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        states = self.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        return self._labelled_output(
            states, labels, lambda selected: self._queries(states, attention_mask)[selected]
        )

    def encode_sequences(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        time_gap_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One vector per user: the query for the item after the last position.

        Args:
            input_ids: ``(batch, length)`` left-padded histories, newest event last, without an
                appended ``[MASK]``.
            token_type_ids: ``(batch, length)`` event-type ids.
            attention_mask: ``(batch, length)``.
            time_gap_ids: ``(batch, length)`` time-gap buckets (read when
                ``config.use_time_gaps``).

        Returns:
            ``(batch, embedding_size)`` user vectors; ``users @ item_embeddings().T`` are
            next-item scores.
        """
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        states = self.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        return self._queries(states, attention_mask, last_only=True)[:, 0]


class GRU4RecModel(RecurrentPreTrainedModel):
    """GRU4Rec: a stacked GRU over the history, scoring the next item at every position.

    Args:
        config: The model configuration.
    """

    config_class = GRU4RecConfig
    base_model_prefix = "gru4rec"

    def __init__(self, config: GRU4RecConfig) -> None:
        super().__init__(config)
        self.embeddings = ItemEmbeddings(config)
        self.rnn = stacked_rnn(nn.GRU, config)
        self.projection = (
            nn.Linear(config.hidden_size, config.embedding_size)
            if config.use_output_projection
            else nn.Identity()
        )
        self.post_init()

    def _queries(
        self, states: torch.Tensor, attention_mask: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """Queries ``(batch, length or 1, embedding_size)``: the projected GRU states."""
        return self.projection(states[:, -1:] if last_only else states)


class CausalAttentionPooling(nn.Module):
    """Attention over the states up to each position, queried by the state there.

    For position ``t`` the weights are a softmax over ``j ≤ t`` (real positions only) of
    ``v · tanh(W_q h_t + W_k h_j)`` (additive) or ``(W_q h_t) · (W_k h_j) / √hidden`` (dot),
    and the result is ``Σ_j α_tj h_j``. All prefixes are pooled at once with a lower-triangular
    and padding mask.

    Args:
        config: The model configuration (``hidden_size``, ``attention_type``).
    """

    def __init__(self, config: LSTMAttentionConfig) -> None:
        super().__init__()
        self.attention_type = config.attention_type
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.score = (
            nn.Linear(config.hidden_size, 1, bias=False)
            if config.attention_type == "additive"
            else None
        )

    def forward(
        self, states: torch.Tensor, attention_mask: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """Pool ``states`` for every prefix, or only for the whole sequence.

        Args:
            states: ``(batch, length, hidden)`` recurrent states.
            attention_mask: ``(batch, length)``, nonzero at real positions.
            last_only: Pool only for the last position (inference).

        Returns:
            ``(batch, length, hidden)`` pooled vectors (``(batch, 1, hidden)`` with
            ``last_only``); zero at padded positions.
        """
        length = states.shape[1]
        real = attention_mask.bool()
        queries = self.query(states[:, -1:] if last_only else states)  # (B, Q, H)
        keys = self.key(states)  # (B, L, H)
        if self.score is not None:
            scores = self.score(torch.tanh(queries[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            scores = queries @ keys.transpose(1, 2) / math.sqrt(keys.shape[-1])
        # scores: (B, Q, L). Key j is visible from query position t when j <= t, both real.
        positions = torch.arange(length, device=states.device)
        query_positions = positions[-1:] if last_only else positions
        allowed = (positions[None, :] <= query_positions[:, None])[None] & real[:, None, :]
        allowed = allowed & real[:, -queries.shape[1]:, None]
        scores = scores.float().masked_fill(~allowed, torch.finfo(torch.float32).min)
        # Rows without any visible key (padded positions) get all-zero weights.
        weights = torch.softmax(scores, dim=-1) * allowed
        return weights.to(states.dtype) @ states


class LSTMAttentionModel(RecurrentPreTrainedModel):
    """Stacked LSTM with causal attention pooling, scoring the next item at every position.

    The query for the item after position ``t`` is ``W [h_t; Σ_{j≤t} α_tj h_j] + b``, scored
    against the item embeddings.

    Args:
        config: The model configuration.
    """

    config_class = LSTMAttentionConfig
    base_model_prefix = "lstm_attention"

    def __init__(self, config: LSTMAttentionConfig) -> None:
        super().__init__(config)
        self.embeddings = ItemEmbeddings(config)
        self.rnn = stacked_rnn(nn.LSTM, config)
        self.attention = CausalAttentionPooling(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.projection = nn.Linear(2 * config.hidden_size, config.embedding_size)
        self.post_init()

    def _queries(
        self, states: torch.Tensor, attention_mask: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """Queries ``(batch, length or 1, embedding_size)`` from LSTM states; with
        ``last_only`` only the last position's attention row is computed."""
        pooled = self.attention(states, attention_mask, last_only=last_only)
        current = states[:, -1:] if last_only else states
        return self.projection(self.dropout(torch.cat([current, pooled], dim=-1)))
