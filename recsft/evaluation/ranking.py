"""Full-ranking evaluation of next-item recommendation.

Every evaluated user is scored against the whole catalogue (no sampled negatives); by default
the items of the user's history are removed from the ranking, as the published SASRec /
BERT4Rec / S3-Rec figures do. Scores are computed one chunk of users at a time as one matrix
product, history items are masked by scatter, and the top-K lists go to the shipped
``evaluate`` module :class:`~recsft.evaluation.metrics.ranking.RankingMetrics`, which averages the
per-user metrics. The trainer's validation, ``recsft evaluate`` and the benchmark scripts all
call :meth:`RankingEvaluator.evaluate`.

Example:
    >>> evaluator = RankingEvaluator(splits.test, tokenizer, max_length=50)
    >>> evaluator.evaluate_model(model)["ndcg@10"]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from recsft.data.split import EvalSet
from recsft.evaluation.exact_search import filtered_top_k, flat_index, search_pays
from recsft.tokenization import BehaviorTokenizer, pad_left

if TYPE_CHECKING:
    from accelerate import Accelerator

Scorer = Callable[[dict[str, torch.Tensor]], torch.Tensor]
T = TypeVar("T")

#: Users per FAISS search on the exact-search path: chunks are encoded as usual (padded to
#: their own longest history) and gathered into one search, whose matrix products run best
#: on large query blocks.
EXACT_CHUNK_USERS = 4096
#: Positions (users × padded length) a model encodes at once on the CPU during evaluation.
CPU_ENCODE_TOKENS = 4096
#: Catalogue size from which :func:`block_top_k` cuts rows into blocks on the CPU.
BLOCK_TOP_K_ITEMS = 8192
#: Multiply-adds from which a CPU score product goes through numpy (OpenBLAS) instead of torch.
#: Below it the two kernels take the same time, and OpenBLAS's worker threads, which keep
#: spinning after a call, would slow the next encoding by torch's threads on the same cores
#: (MovieLens 100K, 943 × 64 × 1,682: evaluation 0.16 s with numpy, 0.10 s without).
NUMPY_PRODUCT_WORK = 1 << 28


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
        max_length: Model input length; histories keep their newest ``max_length - 1`` items
            plus the appended ``[MASK]`` (or ``max_length`` items without it). History
            filtering uses the *whole* history.
        ks: Cut-offs.
        filter_seen: Remove history items from each user's ranking.
        batch_size: Users per chunk (at most; see ``max_chunk_scores``).
        split: Name of the split protocol, for the record.
        append_mask: Append ``[MASK]`` to each history (the Cloze models read the next item
            there); causal models take the newest ``max_length`` items as they are.
        time_gaps: Also give the model ``time_gap_ids`` from the histories' timestamps (for
            models with ``use_time_gaps``).
        max_chunk_scores: Bound on the ``(users, items)`` score matrix of one chunk: a chunk
            has at most ``max_chunk_scores // num_items`` users (at least 1), so memory stays
            about ``4 × max_chunk_scores`` bytes whatever the catalogue (512 MiB by default;
            a 1,000,000-item catalogue is scored 134 users at a time).
    """

    def __init__(
        self,
        eval_set: EvalSet,
        tokenizer: BehaviorTokenizer,
        max_length: int,
        ks: Sequence[int] = (5, 10, 20),
        filter_seen: bool = True,
        batch_size: int = 512,
        split: str = "leave-one-out",
        append_mask: bool = True,
        time_gaps: bool = False,
        max_chunk_scores: int = 1 << 27,
    ) -> None:
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
        encoded = tokenizer.encode_histories(
            eval_set.histories, eval_set.history_event_types, max_length=max_length,
            append_mask=append_mask, padding=False,
            timestamps=(eval_set.history_timestamps or [[] for _ in eval_set.histories])
            if time_gaps else None,
        )
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
            num_items=self.num_items, max_length=max_length,
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
        the index declines (see :func:`~recsft.evaluation.exact_search.filtered_top_k`),
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
        with torch.no_grad():
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
        one model's softmax, :class:`~recsft.evaluation.mixture.BatchSoftmax`) do it once.
        Dense scores, one process.

        Returns:
            The metrics of each scorer, in order.
        """
        k = min(max(self.ks), self.num_items)
        tops: list[list[torch.Tensor]] = [[] for _ in scorers]
        targets, order = [], []
        with torch.no_grad():
            for batch in self._batches(None, self.batch_size):
                for found, scorer in zip(tops, scorers):
                    found.append(self._dense_top_k(scorer(batch).float(), batch, k).cpu())
                targets.append(batch["targets"])
                order.append(batch["index"])
        position = torch.cat(order).argsort()
        target = torch.cat(targets)[position].numpy()
        return [self.metrics_from_top(torch.cat(found)[position].numpy(), target)[0]
                for found in tops]

    def evaluate_sampled(
        self,
        scorer: Scorer,
        num_negatives: int = 100,
        sampling: str = "uniform",
        seed: int = 0,
    ) -> dict[str, float]:
        """Sampled-negative metrics, for comparison with papers that report them only.

        Each user's target is ranked among ``num_negatives`` items drawn without replacement
        from the items outside the user's history and target: ``uniform``, or in proportion to
        their training interactions (``popularity``; needs :attr:`item_counts`). Sampled metrics
        are not estimates of the full-ranking ones and can reorder models (Krichene & Rendle,
        KDD 2020); every key names the protocol: ``ndcg@10_sampled100`` (uniform) or
        ``ndcg@10_sampled100pop``.

        Args:
            scorer: As for :meth:`top_k`.
            num_negatives: Negatives per user.
            sampling: ``uniform`` or ``popularity``.
            seed: Seed of the draw (the same negatives for every model).

        Returns:
            Means over users, keys ``"<metric>@K_sampled<N>[pop]"``.

        Raises:
            ValueError: unknown ``sampling``, popularity sampling without item counts, or more
                negatives than a user has items to draw from.
        """
        from recsft.evaluation.metrics.ranking import (
            mean_metrics,
            ranking_metrics_per_user_from_ranks,
        )

        if sampling not in ("uniform", "popularity"):
            raise ValueError(f"sampling must be 'uniform' or 'popularity', got '{sampling}'")
        cdf = positive = None
        if sampling == "popularity":
            if self.item_counts is None:
                raise ValueError("popularity sampling needs the training item counts")
            weights = np.asarray(self.item_counts, dtype=np.float64)
            cdf, positive = np.cumsum(weights) / weights.sum(), weights > 0
        rng = np.random.default_rng(seed)
        ranks = np.full(len(self), np.inf)
        with torch.no_grad():
            for batch in self._batches(None, self.batch_size):
                indices = batch["index"].tolist()
                scores = scorer(batch).float()
                targets = batch["targets"].to(scores.device)
                negatives = torch.from_numpy(np.stack([
                    self._draw_negatives(i, num_negatives, cdf, positive, rng)
                    for i in indices
                ])).to(scores.device)
                target_scores = scores.gather(1, targets.clamp(min=0)[:, None])
                beaten = (scores.gather(1, negatives) > target_scores).sum(dim=1).cpu().numpy()
                known = targets.cpu().numpy() >= 0
                ranks[np.asarray(indices)[known]] = beaten[known]
        suffix = f"_sampled{num_negatives}" + ("pop" if sampling == "popularity" else "")
        means = mean_metrics(ranking_metrics_per_user_from_ranks(ranks, self.ks))
        return {f"{key}{suffix}": value for key, value in means.items()}

    def _draw_negatives(self, user: int, n: int, cdf: np.ndarray | None,
                        positive: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """``n`` distinct item indices outside user ``user``'s history and target, drawn
        uniformly (``cdf`` None) or from the cumulative distribution ``cdf`` ``(num_items,)``
        over the items marked in ``positive``."""
        excluded = {int(i) for i in self._seen[user]} | {int(self._targets[user])}
        excluded.discard(-1)
        if cdf is None:
            pool = self.num_items - len(excluded)
        else:
            pool = int(positive.sum()) - sum(1 for e in excluded if positive[e])
        if pool < n:
            raise ValueError(f"user {self.user_ids[user]} has {pool} items to draw {n} "
                             "negatives from")
        chosen: list[int] = []
        taken = set(excluded)
        while len(chosen) < n:
            size = 2 * (n - len(chosen)) + 8
            draw = (rng.integers(0, self.num_items, size=size) if cdf is None
                    else np.minimum(np.searchsorted(cdf, rng.random(size), side="right"),
                                    self.num_items - 1))
            for item in draw.tolist():
                if item not in taken:
                    taken.add(item)
                    chosen.append(item)
                    if len(chosen) == n:
                        break
        return np.asarray(chosen, dtype=np.int64)

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


def block_top_k(scores: torch.Tensor, k: int, block: int = 32) -> torch.Tensor:
    """Indices of each row's ``k`` largest scores, best first: ``(B, V)`` -> ``(B, k)``.

    Exact, and about twice as fast as ``scores.topk(k)`` over a large catalogue on the CPU:
    the row is cut into blocks of ``block`` items, the ``k`` blocks with the largest maxima are
    kept (every one of the ``k`` best items lies in one of them: a block holding one has a
    maximum at least the ``k``-th best score, and at most ``k`` blocks do), and the top ``k`` is
    taken among their ``k × block`` items. Ties at the ``k``-th score may resolve differently
    from ``torch.topk`` (whose order among equal scores is unspecified too). Catalogues below
    :data:`BLOCK_TOP_K_ITEMS` items and accelerators use ``torch.topk`` directly (at 1,682
    items ``torch.topk`` takes half the time; the blocks win from about 7,000 items at
    ``k = 10`` and 9,000 at ``k = 20``, 943 rows on the project's machine).
    """
    rows, width = scores.shape
    full = width // block
    if (width < BLOCK_TOP_K_ITEMS or full < 4 * k or scores.device.type != "cpu"
            or not scores.is_contiguous()):
        return scores.topk(k, dim=1).indices
    maxima = scores.as_strided((rows, full, block), (width, block, 1)).amax(dim=2)
    if width > full * block:
        tail = scores[:, full * block:].amax(dim=1, keepdim=True)
        maxima = torch.cat([maxima, tail], dim=1)
    blocks = maxima.topk(k, dim=1).indices  # (rows, k)
    candidates = (blocks[:, :, None] * block + torch.arange(block)).reshape(rows, -1)
    inside = candidates < width
    values = scores.gather(1, candidates.clamp(max=width - 1))
    values = values.masked_fill(~inside, float("-inf"))
    return candidates.gather(1, values.topk(k, dim=1).indices)


class VectorScorer:
    """Scores users by inner product with a fixed item matrix: ``query_vectors(batch) @ items.T``.

    Called on a batch it returns the ``(B, num_items)`` scores. On the CPU it also offers
    :attr:`exact_index`, with which :meth:`RankingEvaluator.top_k` finds each user's best unseen
    items through a flat (exact) FAISS index instead of writing out the score matrix
    (:mod:`recsft.evaluation.exact_search`). Subclasses say how a batch becomes user vectors.

    Large dense CPU products go through numpy (OpenBLAS), which runs this skinny float32
    product — ``(users, 64) × (64, items)`` — about twice as fast as torch's CPU kernel on the
    project's machine (85 vs 38 GFLOP/s for 1,024 × 64 × 54,542); small ones (below
    :data:`NUMPY_PRODUCT_WORK`) and those on an accelerator stay in torch.

    Args:
        items: ``(num_items, dim)`` item vectors, in item-index order.
    """

    def __init__(self, items: torch.Tensor) -> None:
        self.items = items.detach().float()
        self.device = self.items.device
        on_cpu = self.device.type == "cpu"
        #: The transposed item matrix for numpy products, on the CPU only (else ``None``).
        self._items_t = self.items.T.contiguous().numpy() if on_cpu else None
        self._index: Any = None

    @property
    def searchable(self) -> bool:
        """Whether :attr:`exact_index` is available (on the CPU), without building it."""
        return self._items_t is not None

    @property
    def exact_index(self) -> Any:
        """A flat FAISS index over the item vectors (CPU only; ``None`` on an accelerator),
        built on first use."""
        if self._items_t is not None and self._index is None:
            self._index = flat_index(self.items.numpy())
        return self._index

    def query_vectors(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, dim)`` float32 user vectors of a batch, on the items' device."""
        raise NotImplementedError

    def map_slices(self, batch: dict[str, torch.Tensor],
                   fn: Callable[[torch.Tensor, int, int], T]) -> list[T]:
        """``fn(users, start, stop)`` of the user vectors of consecutive row slices of a
        batch, in row order; here one slice, the whole batch. Subclasses that encode in
        slices (:class:`ModelScorer`) hand each slice's vectors to ``fn`` where they were
        encoded.

        Args:
            batch: A batch of ``B`` users.
            fn: Maps ``(rows, dim)`` vectors of rows ``start:stop`` to a result.

        Returns:
            The results, covering rows ``0:B`` in order.
        """
        return [fn(self.query_vectors(batch), 0, batch["input_ids"].shape[0])]

    def score_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, num_items)`` scores of :meth:`query_vectors`' output, on the items' device."""
        if self._items_t is not None and users.numel() * len(self.items) >= NUMPY_PRODUCT_WORK:
            return torch.from_numpy(users.numpy() @ self._items_t)
        return users @ self.items.T

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.score_vectors(self.query_vectors(batch)).to(batch["seen"].device)


class ModelScorer(VectorScorer):
    """:class:`VectorScorer` of a model: ``encode_sequences(batch) @ item_embeddings().T``.

    Args:
        model: A recsft model (``encode_sequences``, ``item_embeddings``); put in eval mode.
        accelerator: Unwraps the model first, if given.
    """

    def __init__(self, model: torch.nn.Module, accelerator: Accelerator | None = None) -> None:
        if accelerator is not None:
            model = accelerator.unwrap_model(model)
        from recsft.modeling.packed import packed_projections

        model.eval()
        self.model = model
        with torch.no_grad():
            super().__init__(model.item_embeddings())
        #: The encoder layers' oneDNN-packed linear maps on the CPU (``None`` where they do not
        #: apply; see :mod:`recsft.modeling.packed`), packed once per scorer.
        self.projections = packed_projections(model, rows=CPU_ENCODE_TOKENS)

    def query_vectors(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, hidden)`` float32 user vectors of a batch, on the model's device (see
        :meth:`map_slices` for how the CPU encodes)."""
        vectors = self.map_slices(batch, lambda users, start, stop: users)
        return vectors[0] if len(vectors) == 1 else torch.cat(vectors)

    def map_slices(self, batch: dict[str, torch.Tensor],
                   fn: Callable[[torch.Tensor, int, int], T]) -> list[T]:
        """``fn(users, start, stop)`` of each slice's ``(rows, hidden)`` user vectors.

        On the CPU the batch is encoded in slices of about :data:`CPU_ENCODE_TOKENS` real
        positions (:func:`cpu_slices`), so that a layer's activations stay in cache (1,024 × 50
        positions at once ran 1.7× slower on the project's 2-core machine), each slice cut to
        its own longest history: the left-padding columns no row of the slice uses are dropped
        (positions count back from the newest event, so a row's encoding does not change).
        The slices are encoded side by side, one per core (:func:`encode_side_by_side`), and
        ``fn`` runs in the thread that encoded the slice (the evaluator scores and ranks there);
        transformer layers run on oneDNN-packed weights where available (:attr:`projections`).
        On an accelerator the batch is one slice.
        """
        names = ("input_ids", "token_type_ids", "attention_mask", "time_gap_ids")
        inputs = [None if batch.get(name) is None else batch[name].to(self.device)
                  for name in names]
        rows = inputs[0].shape[0]
        if self.device.type != "cpu":
            slices = [(0, rows, 0)]
        else:
            mask = inputs[2]
            if mask is None:
                mask = inputs[0] != self.model.config.pad_token_id
            slices = cpu_slices(mask.sum(dim=1), inputs[0].shape[1], CPU_ENCODE_TOKENS)
        extra = {} if self.projections is None else {"projections": self.projections}

        def encode(start: int, stop: int, first: int) -> T:
            with torch.inference_mode():  # grad mode is per thread: set in each worker
                users = self.model.encode_sequences(
                    *[None if t is None else t[start:stop, first:] for t in inputs],
                    **extra).float()
                return fn(users, start, min(stop, rows))

        if self.device.type == "cpu":
            return encode_side_by_side(encode, slices)
        return [encode(*piece) for piece in slices]


def cpu_slices(lengths: torch.Tensor, width: int, tokens: int) -> list[tuple[int, int, int]]:
    """Consecutive row slices of a left-padded batch, each of about ``tokens`` positions once
    cut to its own longest row.

    Args:
        lengths: ``(B,)`` real positions per row.
        width: The batch's padded length.
        tokens: Positions per slice (at least one row per slice).

    Returns:
        ``(start, stop, first)`` per slice: rows ``start:stop``, columns ``first:``.
    """
    lengths = lengths.tolist()
    slices, start = [], 0
    while start < len(lengths):
        # Two passes: a first guess of the rows from the first row's length, then the rows
        # that fit at the guess's longest (never more rows than the guess, so it still fits).
        guess = start + max(1, tokens // max(1, lengths[start]))
        longest = max(1, max(lengths[start:guess]))
        stop = min(guess, start + max(1, tokens // longest))
        longest = max(1, max(lengths[start:stop]))
        slices.append((start, stop, width - min(width, longest)))
        start = stop
    return slices


def encode_side_by_side(encode: Callable[[int, int, int], T],
                        slices: list[tuple[int, int, int]],
                        workers: int | None = None) -> list[T]:
    """``encode(*piece)`` of every slice, by ``workers`` threads of one intra-op thread each.

    Small products split over the cores by torch's intra-op threads scale poorly: on the
    project's 2-core machine MovieLens 100K's 943 histories took 0.115 s on one thread and
    0.082 s on two (1.4×), each operation paying a fork and a join. Two slices encoded at once,
    one per core, took 0.070 s. The threads are kept between calls (:func:`_encode_pool`;
    starting two took about 5 % of that evaluation); the calling thread's own thread count is
    restored afterwards.

    Args:
        encode: Maps a slice ``(start, stop, first)`` to a result.
        slices: The slices, e.g. from :func:`cpu_slices`.
        workers: Threads (default: ``torch.get_num_threads()``); one runs the slices in turn
            with the usual intra-op threads.

    Returns:
        The result of each slice, in the order of ``slices``.
    """
    workers = min(workers or torch.get_num_threads(), len(slices))
    if workers <= 1:
        return [encode(*piece) for piece in slices]

    def alone(piece: tuple[int, int, int]) -> T:
        torch.set_num_threads(1)  # this worker thread's OpenMP and MKL threads
        return encode(*piece)

    threads = torch.get_num_threads()
    try:
        return list(_encode_pool(workers).map(alone, slices))
    finally:
        torch.set_num_threads(threads)  # process-wide settings the workers touched


_POOLS: dict[int, Any] = {}
os.register_at_fork(after_in_child=_POOLS.clear)  # a child's copies have no threads behind them


def _encode_pool(workers: int) -> Any:
    """The process's ``ThreadPoolExecutor`` of ``workers`` encoding threads, made on first use
    and forgotten in a forked child (whose copy has no threads behind it)."""
    pool = _POOLS.get(workers)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor

        pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="recsft-encode")
    return pool


def model_scorer(model: torch.nn.Module, accelerator: Accelerator | None = None) -> ModelScorer:
    """The :class:`ModelScorer` of ``model``; training validation, test and ``recsft evaluate``
    all score through it."""
    return ModelScorer(model, accelerator)


def popularity_scorer(counts: np.ndarray) -> Scorer:
    """Most-popular baseline: the same score vector for every user.

    Ties are broken by item index (a tiny decreasing offset), so results are deterministic.

    Args:
        counts: ``(num_items,)`` training interaction counts.
    """
    n = len(counts)
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(-counts, kind="stable")] = np.arange(n)
    scores = torch.from_numpy((n - ranks).astype(np.float32))

    def score(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return scores.to(batch["seen"].device).expand(batch["input_ids"].shape[0], -1).clone()

    return score
