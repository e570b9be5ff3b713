"""Full-ranking evaluation of next-item recommendation.

Every evaluated user is scored against the whole catalogue (no sampled negatives); by default
the items of the user's history are removed from the ranking, as the published SASRec /
BERT4Rec / S3-Rec figures do. Scores are computed one chunk of users at a time as one matrix
product, history items are masked by scatter, and the top-K lists go to the shipped
``evaluate`` module :class:`~recsft.evaluation.metrics.ranking.RankingMetrics`, which averages the
per-user metrics. The trainer's validation, ``recsft evaluate`` and the benchmark scripts all
call :meth:`RankingEvaluator.evaluate`. Histories become model inputs by the one rule of
:func:`recsft.scoring.inputs.model_inputs`; the scorers live in :mod:`recsft.scoring`, and
sampled-negative metrics in :mod:`recsft.evaluation.sampled`.

Example:
    >>> evaluator = RankingEvaluator(splits.test, tokenizer, model.config)
    >>> evaluator.evaluate_model(model)["ndcg@10"]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from recsft import progress
from recsft.data.split import EvalSet
from recsft.scoring.exact_search import filtered_top_k, search_pays
from recsft.scoring.inputs import InputConfig, input_config, model_inputs
from recsft.scoring.model import model_scorer
from recsft.scoring.top_k import block_top_k
from recsft.scoring.vectors import Scorer, VectorScorer
from recsft.tokenization import BehaviorTokenizer, pad_left

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["RankingEvaluator", "RankingProtocol", "EXACT_CHUNK_USERS"]

#: Users per FAISS search on the exact-search path: chunks are encoded as usual (padded to
#: their own longest history) and gathered into one search, whose matrix products run best
#: on large query blocks.
EXACT_CHUNK_USERS = 4096


@dataclass
class RankingProtocol:
    """What a ranking metric means; recorded beside every number."""

    split: str
    filter_seen: bool
    num_users: int
    num_items: int
    max_length: int
    ranking: str = "full"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RankingEvaluator:
    """Scores users against all items and averages Recall/NDCG/MRR/HitRate@K.

    Args:
        eval_set: Histories and next-item targets.
        tokenizer: The run's tokenizer (fixes the item index).
        model_config: The model's config (or an :class:`~recsft.scoring.inputs.InputConfig`):
            histories become inputs by :func:`~recsft.scoring.inputs.model_inputs`, which
            reads the input length, the ``[MASK]`` and the time gaps from it. History filtering
            uses the *whole* history.
        ks: Cut-offs.
        filter_seen: Remove history items from each user's ranking.
        batch_size: Users per chunk (at most; see ``max_chunk_scores``).
        split: Name of the split protocol, for the record.
        max_chunk_scores: Bound on the ``(users, items)`` score matrix of one chunk: a chunk
            has at most ``max_chunk_scores // num_items`` users (at least 1), so memory stays
            about ``4 × max_chunk_scores`` bytes whatever the catalogue (512 MiB by default;
            a 1,000,000-item catalogue is scored 134 users at a time).
        max_length: Without ``model_config``: the model's ``max_position_embeddings``.
        append_mask: Without ``model_config``: the model's ``uses_mask_token``.
        time_gaps: Without ``model_config``: the model's ``use_time_gaps``.

    Raises:
        ValueError: both or neither of ``model_config`` and ``max_length`` are given.
    """

    def __init__(
        self,
        eval_set: EvalSet,
        tokenizer: BehaviorTokenizer,
        model_config: Any = None,
        ks: Sequence[int] = (5, 10, 20),
        filter_seen: bool = True,
        batch_size: int = 512,
        split: str = "leave-one-out",
        max_chunk_scores: int = 1 << 27,
        *,
        max_length: int | None = None,
        append_mask: bool = True,
        time_gaps: bool = False,
    ) -> None:
        if (model_config is None) == (max_length is None):
            raise ValueError("give the evaluator the model's config, or (without one) "
                             "max_length, append_mask and time_gaps")
        settings = input_config(model_config if model_config is not None else InputConfig(
            max_length, append_mask, time_gaps))
        self.ks = sorted(int(k) for k in ks)
        self.filter_seen = filter_seen
        self.num_items = tokenizer.num_items
        self.batch_size = max(1, min(batch_size, max_chunk_scores // max(self.num_items, 1)))
        self.user_ids = list(eval_set.user_ids)
        self.target_items = list(eval_set.targets)
        self.history_lengths = np.fromiter((len(h) for h in eval_set.histories), dtype=np.int64,
                                           count=len(eval_set.histories))
        self.target_event_types = list(eval_set.target_event_types)
        #: Training interactions per item index (set by the pipeline; popularity segments,
        #: beyond-accuracy measures, popularity-sampled negatives).
        self.item_counts: np.ndarray | None = None
        #: ``(num_items, C)`` category ids per item index, 0 padding (set by the pipeline; ILD).
        self.item_categories: np.ndarray | None = None
        # An evaluation set without times holds an empty list of them (every gap unknown).
        encoded = model_inputs(tokenizer, settings, eval_set.histories,
                               eval_set.history_event_types, eval_set.history_timestamps or None,
                               padding=False, return_tensors=None)
        self._input_ids = encoded["input_ids"]
        self._token_type_ids = encoded["token_type_ids"]
        unk, total = tokenizer.unk_token_id, sum(len(ids) for ids in self._input_ids)
        #: Share of history tokens the tokenizer does not know (items of another catalogue).
        self.unknown_history_share = (
            sum(ids.count(unk) for ids in self._input_ids) / total if total else 0.0)
        self._time_gap_ids = encoded.get("time_gap_ids")
        offset = tokenizer.first_item_id
        self._targets = np.array(
            [i - offset if i >= offset else -1 for i in tokenizer.items_to_ids(eval_set.targets)],
            dtype=np.int64,
        )
        self._seen = [
            np.unique([i - offset for i in tokenizer.items_to_ids(h) if i >= offset])
            for h in eval_set.histories
        ]
        self._cached_batches: tuple[int, list[dict[str, torch.Tensor]]] | None = None
        self.protocol = RankingProtocol(
            split=split, filter_seen=filter_seen, num_users=len(eval_set),
            num_items=self.num_items, max_length=settings.max_position_embeddings,
        )

    def __len__(self) -> int:
        return len(self._targets)

    def _collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = pad_left(
            [self._input_ids[i] for i in indices],
            [self._token_type_ids[i] for i in indices],
            return_tensors="pt",
            time_gaps=None if self._time_gap_ids is None
            else [self._time_gap_ids[i] for i in indices],
        )
        width = max((len(self._seen[i]) for i in indices), default=0)
        seen = np.full((len(indices), max(width, 1)), -1, dtype=np.int64)
        for row, i in enumerate(indices):
            seen[row, : len(self._seen[i])] = self._seen[i]
        batch["seen"] = torch.from_numpy(seen)
        # The same items as positions in the flattened (rows, num_items) score matrix.
        flat = [row * self.num_items + self._seen[i] for row, i in enumerate(indices)]
        batch["seen_flat"] = torch.from_numpy(
            np.concatenate(flat).astype(np.int64) if flat else np.zeros(0, dtype=np.int64))
        counts = np.fromiter((len(self._seen[i]) for i in indices), dtype=np.int64,
                             count=len(indices))
        batch["seen_count"] = torch.from_numpy(counts)
        # Row r's entries of seen_flat are seen_flat[seen_offsets[r]:seen_offsets[r + 1]].
        batch["seen_offsets"] = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        batch["targets"] = torch.from_numpy(self._targets[indices])
        batch["index"] = torch.tensor(indices, dtype=torch.long)
        return batch

    def _batches(self, accelerator: Accelerator | None, size: int):
        """Chunks of ``size`` users sorted by history length, so that each chunk is padded
        only to its own longest. Without an accelerator they are collated once and kept (the
        trainer evaluates the same users every few epochs)."""
        if accelerator is None and self._cached_batches is not None \
                and self._cached_batches[0] == size:
            return self._cached_batches[1]
        by_length = sorted(range(len(self)), key=lambda i: len(self._input_ids[i]))
        if accelerator is not None:
            loader = torch.utils.data.DataLoader(
                by_length, batch_size=size, collate_fn=self._collate)
            return accelerator.prepare_data_loader(loader)
        chunks = [self._collate(by_length[start:start + size])
                  for start in range(0, len(by_length), size)]
        self._cached_batches = (size, chunks)
        return chunks

    def _dense_top_k(self, scores: torch.Tensor, batch: dict[str, torch.Tensor], k: int,
                     rows: tuple[int, int] | None = None) -> torch.Tensor:
        """``(B, k)`` best items of the ``(B, V)`` score matrix of ``batch`` (or of its rows
        ``start:stop`` given ``rows``), history masked if filtering (one ``index_fill_`` at
        the rows' ``seen_flat`` positions)."""
        if self.filter_seen:
            scores = scores.contiguous()
            flat = batch["seen_flat"]
            if rows is not None:
                start, stop = rows
                offsets = batch["seen_offsets"]
                flat = flat[int(offsets[start]):int(offsets[stop])] - start * self.num_items
            scores.view(-1).index_fill_(0, flat.to(scores.device), float("-inf"))
        return block_top_k(scores, k)

    def _sliced_top_k(self, scorer: VectorScorer, group: list[dict[str, torch.Tensor]], k: int
                      ) -> torch.Tensor:
        """``(B, k)`` best items of a group of chunks, densely: each slice of users the scorer
        encodes is scored, masked and cut to its top ``k`` where it was encoded
        (:meth:`VectorScorer.map_slices`; on the CPU side by side, one slice per core), so
        that no score matrix outlives its slice and scoring runs on every core."""
        def best(batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
            return scorer.map_slices(batch, lambda users, start, stop: self._dense_top_k(
                scorer.score_vectors(users), batch, k, rows=(start, stop)))

        return torch.cat([top for batch in group for top in best(batch)])

    def _exact_top_k(self, scorer: VectorScorer, group: list[dict[str, torch.Tensor]], k: int
                     ) -> torch.Tensor:
        """``(B, k)`` best items of a group of chunks through the scorer's flat index; where
        the index declines (see :func:`~recsft.scoring.exact_search.filtered_top_k`),
        densely, one chunk at a time so that the score matrix stays bounded."""
        seen = None
        if self.filter_seen:
            counts = torch.cat([batch["seen_count"] for batch in group])
            if not search_pays(counts.numpy(), k, self.num_items):
                # Decided before anything is encoded: the search would decline at once.
                return self._sliced_top_k(scorer, group, k)
        queries = [scorer.query_vectors(batch) for batch in group]
        if self.filter_seen:
            width = max(batch["seen"].shape[1] for batch in group)
            seen = torch.cat([
                torch.nn.functional.pad(batch["seen"], (0, width - batch["seen"].shape[1]),
                                        value=-1)
                for batch in group]).numpy()
        found = filtered_top_k(scorer.exact_index, torch.cat(queries).numpy(), k, seen)
        if found is not None:
            return torch.from_numpy(found)
        return torch.cat([self._dense_top_k(scorer.score_vectors(users), batch, k)
                          for users, batch in zip(queries, group)])

    def top_k(
        self, scorer: Scorer, accelerator: Accelerator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``max(ks)`` item indices for every user, in evaluation-set order.

        Args:
            scorer: Maps a batch (``input_ids``, ``token_type_ids``, ``attention_mask`` of shape
                ``(B, L)``) to scores ``(B, num_items)``.
            accelerator: Shards users over processes and gathers the results, if given.

        Returns:
            ``(top (n_users, K) item indices, targets (n_users,))``.
        """
        k = min(max(self.ks), self.num_items)
        exact = accelerator is None and isinstance(scorer, VectorScorer) and scorer.searchable
        batches = self._batches(accelerator, self.batch_size)
        tops, targets, order = [], [], []
        bar = progress.bar(total=len(batches), desc=f"ranking {len(self):,} users",
                           unit="batch", main_process=accelerator is None
                           or accelerator.is_local_main_process)
        with bar, torch.no_grad():
            for group in _groups(batches, EXACT_CHUNK_USERS) if exact else ([b] for b in batches):
                if exact:
                    top = self._exact_top_k(scorer, group, k)
                else:
                    top = self._dense_top_k(scorer(group[0]).float(), group[0], k)
                index = torch.cat([batch["index"] for batch in group])
                target = torch.cat([batch["targets"] for batch in group])
                if accelerator is not None:
                    top, target, index = accelerator.gather_for_metrics((top, target, index))
                tops.append(top.cpu())
                targets.append(target.cpu())
                order.append(index.cpu())
                bar.update(len(group))
        order = torch.cat(order)
        if len(order) != len(self) or not torch.equal(order.sort().values, torch.arange(len(self))):
            raise RuntimeError(
                f"evaluation gathered {len(order)} rows for {len(self)} users; every user must be "
                "scored exactly once"
            )
        position = order.argsort()
        return torch.cat(tops)[position].numpy(), torch.cat(targets)[position].numpy()

    def evaluate(self, scorer: Scorer, accelerator: Accelerator | None = None) -> dict[str, float]:
        """Mean ranking metrics over users, keys like ``"ndcg@10"``.

        The numbers are those of the shipped ``evaluate`` module
        (:class:`~recsft.evaluation.metrics.ranking.RankingMetrics`, whose ``_compute`` is
        the same function); the evaluator calls that function directly, skipping the Arrow
        round trip of ``Metric.compute`` (seconds for 40,000 users).
        """
        return self.evaluate_with_users(scorer, accelerator)[0]

    def evaluate_many(self, scorers: Sequence[Scorer]) -> list[dict[str, float]]:
        """:meth:`evaluate` of several scorers in one pass over the users: every scorer scores
        a batch before the next batch is read, so scorers sharing work per batch (mixtures of
        one model's softmax, :class:`~recsft.scoring.mixture.BatchSoftmax`) do it once.
        Dense scores, one process.

        Returns:
            The metrics of each scorer, in order.
        """
        k = min(max(self.ks), self.num_items)
        tops: list[list[torch.Tensor]] = [[] for _ in scorers]
        targets, order = [], []
        batches = self._batches(None, self.batch_size)
        with progress.bar(batches, desc=f"ranking {len(self):,} users, {len(scorers)} scorers",
                          unit="batch") as bar, torch.no_grad():
            for batch in bar:
                for found, scorer in zip(tops, scorers):
                    found.append(self._dense_top_k(scorer(batch).float(), batch, k).cpu())
                targets.append(batch["targets"])
                order.append(batch["index"])
        position = torch.cat(order).argsort()
        target = torch.cat(targets)[position].numpy()
        return [self.metrics_from_top(torch.cat(found)[position].numpy(), target)[0]
                for found in tops]

    def evaluate_sampled(self, scorer: Scorer, num_negatives: int = 100,
                         sampling: str = "uniform", seed: int = 0) -> dict[str, float]:
        """Sampled-negative metrics (see :func:`recsft.evaluation.sampled.sampled_metrics`)."""
        from recsft.evaluation.sampled import sampled_metrics

        return sampled_metrics(self, scorer, num_negatives, sampling, seed)

    def evaluate_model(
        self, model: torch.nn.Module, accelerator: Accelerator | None = None
    ) -> dict[str, float]:
        """Evaluate a model with ``encode_sequences`` and ``item_embeddings``."""
        return self.evaluate(model_scorer(model, accelerator), accelerator)

    def per_user(
        self, scorer: Scorer, accelerator: Accelerator | None = None
    ) -> dict[str, np.ndarray]:
        """Per-user metrics ``{"ndcg@10": (n_users,), ...}`` in evaluation-set order.

        Their means are exactly :meth:`evaluate`'s numbers; use them for confidence intervals
        and paired comparisons of two models on the same users.
        """
        from recsft.evaluation.metrics.ranking import ranking_metrics_per_user

        top, targets = self.top_k(scorer, accelerator)
        return ranking_metrics_per_user(top, targets, self.ks)

    def segments(
        self,
        per_user: dict[str, np.ndarray],
        item_counts: np.ndarray | None = None,
        metrics: Sequence[str] = ("ndcg@10", "recall@10"),
        n_resamples: int = 1000,
    ) -> dict[str, dict[str, Any]]:
        """Per-user metrics broken down by segment (see :mod:`recsft.evaluation.segments`).

        Args:
            per_user: :meth:`per_user`'s values.
            item_counts: ``(num_items,)`` training interactions per item index, for the target
                popularity segments (head / torso / tail / cold); skipped without it.
            metrics: Metric keys to report.
            n_resamples: Bootstrap resamples of each segment's interval.

        Returns:
            ``{"history_length": {...}, "target_popularity": {...}, "target_event_type":
            {...}}`` (the last only when targets have more than one event type).
        """
        from recsft.evaluation.segments import (
            HISTORY_LABELS,
            POPULARITY_ORDER,
            history_length_segments,
            popularity_groups,
            segment_metrics,
        )

        lengths = history_length_segments(self.history_lengths)
        out = {"history_length": segment_metrics(per_user, lengths, metrics, n_resamples,
                                                 order=HISTORY_LABELS)}
        if item_counts is not None:
            groups = popularity_groups(item_counts)
            # A target outside the vocabulary (index -1) was never trained on: cold.
            labels = np.where(self._targets >= 0, groups[np.maximum(self._targets, 0)], "cold")
            out["target_popularity"] = segment_metrics(per_user, labels, metrics, n_resamples,
                                                       order=POPULARITY_ORDER)
        if len(set(self.target_event_types)) > 1:
            out["target_event_type"] = segment_metrics(per_user, self.target_event_types,
                                                       metrics, n_resamples)
        return out

    def evaluate_with_users(
        self, scorer: Scorer, accelerator: Accelerator | None = None
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """:meth:`evaluate`'s means and :meth:`per_user`'s values from one scoring pass."""
        return self.metrics_from_top(*self.top_k(scorer, accelerator))

    def metrics_from_top(
        self, top: np.ndarray, targets: np.ndarray
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Means and per-user metrics from :meth:`top_k`'s output."""
        from recsft.evaluation.metrics.ranking import mean_metrics, ranking_metrics_per_user

        per_user = ranking_metrics_per_user(top, targets, self.ks)
        return mean_metrics(per_user), per_user

    def beyond_accuracy(self, top: np.ndarray) -> dict[str, float]:
        """Coverage, Gini, popularity, novelty (and ILD with :attr:`item_categories`) of the
        top-K lists at every K (see :mod:`recsft.evaluation.beyond_accuracy`).

        Raises:
            ValueError: :attr:`item_counts` is not set.
        """
        from recsft.evaluation.beyond_accuracy import beyond_accuracy

        if self.item_counts is None:
            raise ValueError("beyond-accuracy measures need the training item counts")
        out: dict[str, float] = {}
        for k in self.ks:
            out.update(beyond_accuracy(top, k, self.item_counts, self.item_categories))
        return out


def _groups(batches: list[dict[str, torch.Tensor]], rows: int
            ) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Consecutive chunks gathered until they hold at least ``rows`` users."""
    group: list[dict[str, torch.Tensor]] = []
    size = 0
    for batch in batches:
        group.append(batch)
        size += len(batch["index"])
        if size >= rows:
            yield group
            group, size = [], 0
    if group:
        yield group
