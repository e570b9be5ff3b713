"""User-level contrastive fine-tuning: user vectors that keep what lasts across a user's sessions.

A next-item encoder is pretrained to describe the *current* intent. Clustering users needs
the opposite: what stays the same from one visit to the next. This module fine-tunes the
pretrained encoder for that (in the spirit of CL4SRec, at the level of users rather than
augmented copies of one sequence):

* **views** — each user's sessions (runs of events separated by more than
  ``session_gap_seconds``) are dealt at random into two disjoint sets, so the two views share
  the user but neither a session nor its items' immediate successors. A user with a single
  session (or a log without times) is cut in two at a random point between 30 % and 70 % of
  the history instead;
* **model** — the encoder's states, mean-pooled over the view's events, go through a
  two-layer projection; the user vector is the L2-normalised projection;
* **loss** — symmetric InfoNCE over the batch at ``temperature``: a view must find its
  partner among the other users' views.

No label is read: like the LSA baseline, it is fitted on the users it describes.

Example:
    >>> config = ContrastiveConfig(epochs=1)
    >>> model = train_user_contrastive(recommender, sequences, config)     # doctest: +SKIP
    >>> vectors = contrastive_vectors(model, recommender, sequences)       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ContrastiveConfig", "session_ids", "split_views", "UserContrastiveModel",
           "train_user_contrastive", "contrastive_vectors", "save_user_encoder",
           "load_user_encoder"]

PROJECTION_FILE = "projection.safetensors"
CONTRASTIVE_FILE = "contrastive.json"


@dataclass
class ContrastiveConfig:
    """User-level contrastive fine-tuning.

    Attributes:
        epochs: Passes over the users.
        batch_size: Users per batch (each gives two views; the others are the negatives).
        temperature: InfoNCE temperature.
        encoder_learning_rate: AdamW learning rate of the pretrained encoder.
        head_learning_rate: AdamW learning rate of the projection.
        weight_decay: AdamW weight decay.
        session_gap_seconds: A longer gap between two events starts a new session.
        seed: Seed of the views, the batches and the projection's initialisation.
    """

    epochs: int = 30
    batch_size: int = 256
    temperature: float = 0.2
    encoder_learning_rate: float = 5e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    session_gap_seconds: float = 1800.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the other users are the negatives")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


def session_ids(timestamps: Sequence[float], gap_seconds: float) -> np.ndarray:
    """Session index ``(n,)`` of every event: a new session after each gap over ``gap_seconds``.

    Example:
        >>> session_ids([0, 10, 4000, 4005, 9000], 1800).tolist()
        [0, 0, 1, 1, 2]
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(times) > gap_seconds)]).astype(np.int64)


def split_views(length: int, sessions: np.ndarray | None,
                rng: np.random.Generator) -> np.ndarray | None:
    """Which events go to the first view: a boolean mask ``(length,)``, or ``None`` (too short).

    Sessions are dealt at random to the two views (each view gets at least one); with one
    session (or ``sessions`` ``None``) the history is cut at a random point between 30 % and
    70 % of its length.

    Args:
        length: Events in the (window of the) history.
        sessions: ``(length,)`` session index per event, from :func:`session_ids`.
        rng: Source of randomness.
    """
    if length < 2:
        return None
    if sessions is not None and sessions.size and sessions[-1] >= 1:
        count = int(sessions[-1]) + 1
        side = rng.random(count) < 0.5
        if side.all() or not side.any():
            side[rng.integers(count)] ^= True
        return side[sessions]
    low = max(1, int(length * 0.3))
    high = min(length - 1, max(low, int(np.ceil(length * 0.7))))
    cut = int(rng.integers(low, high + 1))
    return np.arange(length) < cut


class UserContrastiveModel(nn.Module):
    """Encoder → mean pooling over real positions → two-layer projection.

    Args:
        encoder: A recsft sequence model (``encode`` returns ``(batch, length, hidden)``).
        width: Size of the projected user vector (default: the hidden size).
    """

    def __init__(self, encoder: nn.Module, width: int | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.projection = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(),
                                        nn.Linear(hidden, width or hidden))

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                attention_mask: torch.Tensor,
                time_gap_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Projected user vectors ``(batch, width)`` of ``(batch, length)`` inputs."""
        states = self.encoder.encode(input_ids, token_type_ids, attention_mask, time_gap_ids)
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.projection(pooled)


def _subset(rows: Sequence[Sequence[Any]], masks: list[np.ndarray], keep: bool) -> list[list]:
    return [[value for value, flag in zip(row, mask) if flag == keep]
            for row, mask in zip(rows, masks)]


def _batch(tokenizer: Any, config: Any, items: list, types: list, times: list | None,
           device: Any) -> dict[str, torch.Tensor]:
    """``(n, W)`` inputs of the events themselves (``use="events"`` of
    :func:`~recsft.scoring.inputs.model_inputs`), on ``device``."""
    from recsft.scoring.inputs import model_inputs

    encoded = model_inputs(tokenizer, config, items, types, times, use="events")
    return {key: value.to(device) for key, value in encoded.items()}


def _events(tokenizer: Any, config: Any, sequences: Any
            ) -> tuple[list[list[str]], list[list[str]] | None, list[list[float]] | None]:
    """Each user's events the model reads (``use="events"``: the newest
    ``max_position_embeddings``, unknown items kept as ``[UNK]``), with their types and times."""
    from recsft.scoring.inputs import read_positions

    read = read_positions(tokenizer, config, sequences.items, use="events")

    def pick(rows: list[list[Any]] | None) -> list[list[Any]] | None:
        return None if rows is None else [[row[i] for i in p] for row, p in zip(rows, read)]

    # A log without times holds an empty list of them.
    return (pick(sequences.items), pick(sequences.event_types),
            pick(sequences.timestamps or None))


def train_user_contrastive(recommender: Any, sequences: Any,
                           config: ContrastiveConfig | None = None,
                           log: list[dict[str, float]] | None = None) -> UserContrastiveModel:
    """Fine-tune a copy of ``recommender``'s encoder with the user-level contrastive loss.

    Args:
        recommender: A :class:`~recsft.retrieval.recommender.Recommender` of a pretrained run.
        sequences: The users (``items``, ``event_types``, ``timestamps``), oldest event first;
            each user's events the model reads are used (its newest
            ``max_position_embeddings``; see :func:`recsft.scoring.inputs.model_inputs`).
        config: Settings (default :class:`ContrastiveConfig`).
        log: When given, one ``{"epoch", "loss", "seconds"}`` row is appended per epoch.

    Returns:
        The fine-tuned :class:`UserContrastiveModel`, in eval mode.

    Raises:
        ValueError: fewer than two users with at least two events.
    """
    import copy

    from accelerate import Accelerator
    from accelerate.utils import set_seed

    config = config or ContrastiveConfig()
    set_seed(config.seed)
    tokenizer, model_config = recommender.tokenizer, recommender.model.config
    items, types, times = _events(tokenizer, model_config, sequences)
    usable = np.array([i for i, row in enumerate(items) if len(row) >= 2])
    if usable.size < 2:
        raise ValueError(f"user-level contrastive fine-tuning needs at least two users with two "
                         f"or more events, got {usable.size}")
    sessions = [session_ids(row, config.session_gap_seconds) for row in times] if times else None
    model = UserContrastiveModel(copy.deepcopy(recommender.model))
    optimizer = torch.optim.AdamW(
        [{"params": model.encoder.parameters(), "lr": config.encoder_learning_rate},
         {"params": model.projection.parameters(), "lr": config.head_learning_rate}],
        weight_decay=config.weight_decay)
    accelerator = Accelerator()
    model, optimizer = accelerator.prepare(model, optimizer)
    rng = np.random.default_rng(config.seed)
    model.train()
    for epoch in range(1, config.epochs + 1):
        started, total, seen = time.perf_counter(), 0.0, 0
        order = rng.permutation(usable)
        for start in range(0, order.size, config.batch_size):
            rows = order[start:start + config.batch_size]
            if rows.size < 2:
                continue
            masks = [split_views(len(items[r]), sessions[r] if sessions else None, rng)
                     for r in rows]
            views = []
            for keep in (True, False):
                view_times = (_subset([times[r] for r in rows], masks, keep)
                              if times is not None else None)
                view_types = (_subset([types[r] for r in rows], masks, keep)
                              if types is not None else None)
                batch = _batch(tokenizer, model_config,
                               _subset([items[r] for r in rows], masks, keep), view_types,
                               view_times, accelerator.device)
                views.append(torch.nn.functional.normalize(model(**batch), dim=-1))
            logits = views[0] @ views[1].T / config.temperature
            target = torch.arange(rows.size, device=logits.device)
            loss = (torch.nn.functional.cross_entropy(logits, target)
                    + torch.nn.functional.cross_entropy(logits.T, target)) / 2
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            total += loss.detach().item() * rows.size
            seen += rows.size
        if log is not None:
            log.append({"epoch": epoch, "loss": total / max(seen, 1),
                        "seconds": round(time.perf_counter() - started, 3)})
    return accelerator.unwrap_model(model).eval()


def contrastive_vectors(model: UserContrastiveModel, recommender: Any, sequences: Any,
                        batch_size: int = 512) -> np.ndarray:
    """L2-normalised user vectors ``(n_users, width)`` of the events the model reads (the
    newest ``max_position_embeddings``; see :func:`recsft.scoring.inputs.model_inputs`).

    Users with no event get a zero vector.
    """
    tokenizer, model_config = recommender.tokenizer, model.encoder.config
    items, types, times = sequences.items, sequences.event_types, sequences.timestamps or None
    device = next(model.parameters()).device
    width = model.projection[-1].out_features
    out = np.zeros((len(items), width), dtype=np.float32)
    rows = [i for i, row in enumerate(items) if row]
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        batch = _batch(tokenizer, model_config, [items[r] for r in chunk],
                       [types[r] for r in chunk] if types is not None else None,
                       [times[r] for r in chunk] if times is not None else None, device)
        with torch.no_grad():
            vectors = torch.nn.functional.normalize(model(**batch), dim=-1)
        out[chunk] = vectors.float().cpu().numpy()
    return out


def save_user_encoder(model: UserContrastiveModel, directory: str, config: ContrastiveConfig,
                      history: list[dict[str, float]] | None = None) -> None:
    """The fine-tuned encoder (``save_pretrained``), the projection (safetensors) and
    ``contrastive.json`` (the config and the loss by epoch)."""
    from safetensors.torch import save_file

    from recsft.fileio import atomic_write_text

    os.makedirs(directory, exist_ok=True)
    model.encoder.save_pretrained(directory)
    save_file({name: value.detach().cpu().contiguous()
               for name, value in model.projection.state_dict().items()},
              os.path.join(directory, PROJECTION_FILE))
    atomic_write_text(os.path.join(directory, CONTRASTIVE_FILE),
                      json.dumps({"config": dataclasses.asdict(config), "history": history or []},
                                 indent=2))


def load_user_encoder(directory: str) -> tuple[UserContrastiveModel, ContrastiveConfig]:
    """A model saved by :func:`save_user_encoder` (safetensors only) and its config."""
    from safetensors.torch import load_file

    from recsft.modeling.factory import load_model

    with open(os.path.join(directory, CONTRASTIVE_FILE)) as handle:
        config = ContrastiveConfig(**json.load(handle)["config"])
    state = load_file(os.path.join(directory, PROJECTION_FILE))
    model = UserContrastiveModel(load_model(directory),
                                 int(state["2.weight"].shape[0]))
    model.projection.load_state_dict(state)
    return model.eval(), config
