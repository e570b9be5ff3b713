"""User clustering on a model's user vectors, measured against known segments.

:func:`cluster_run` encodes every user of a run's data (their newest ``max_length`` events)
with the run's model, runs k-means (FAISS, several restarts) with ``k`` given or chosen by the
best silhouette over a range, and reports:

* internal quality: silhouette (cosine, on up to 5,000 sampled users), Davies–Bouldin and
  Calinski–Harabasz;
* agreement with known segments (the synthetic generator's ground truth, when the run's data is
  synthetic): homogeneity, completeness, V-measure and adjusted Rand index;
* the same for a bag-of-items baseline: tf-idf rows of item counts reduced by truncated SVD to
  the user vectors' dimension (latent semantic analysis), clustered the same way;
* a profile per cluster (size, top categories and items, behaviour mix) and a 2-D PCA plot of
  the users coloured by cluster (and by true segment where known): ``clusters.png``.

User vectors and LSA rows are L2-normalised before k-means, so clusters follow direction
(cosine), as retrieval by inner product of normalised vectors would.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REPRESENTATIONS: tuple[str, ...] = ("items", "mean", "query", "contrastive")

__all__ = ["REPRESENTATIONS", "user_vectors", "ClusterConfig", "kmeans", "choose_k", "quality",
           "agreement", "agreement_difference", "lsa_vectors", "cluster_run", "format_clusters",
           "plot_clusters"]


@dataclass
class ClusterConfig:
    """How to cluster.

    Attributes:
        k: Number of clusters; ``None`` chooses by silhouette over ``k_range``.
        k_range: Inclusive range of candidate ``k``.
        representation: ``items`` (the mean of the model's item vectors over the history:
            the user's long-term taste in the model's item space), ``mean`` (the mean of the
            encoder's contextual states, which also carry positions and time gaps) or
            ``query`` (the model's next-item query vector: the current intent, dominated by
            the latest session) or ``contrastive`` (the encoder fine-tuned first with the
            user-level contrastive loss of :mod:`recsft.tasks.contrastive`, on the users
            being clustered and without labels: what lasts across a user's sessions).
        contrastive: Settings of :class:`~recsft.tasks.contrastive.ContrastiveConfig` for the
            ``contrastive`` representation (its ``seed`` defaults to ``seed``).
        restarts: k-means restarts (the lowest objective is kept).
        iterations: k-means iterations per restart.
        silhouette_sample: Users sampled for the silhouette (it is quadratic).
        n_resamples: Bootstrap resamples of the users for the interval of the difference in
            agreement with known segments against the LSA baseline (0: none).
        seed: Seed of k-means and the samples.
        top: Categories and items listed per cluster.
    """

    k: int | None = None
    k_range: tuple[int, int] = (2, 12)
    representation: str = "items"
    contrastive: dict[str, Any] = field(default_factory=dict)
    restarts: int = 20
    iterations: int = 50
    silhouette_sample: int = 5000
    n_resamples: int = 1000
    seed: int = 0
    top: int = 5

    def __post_init__(self) -> None:
        low, high = self.k_range
        if not 2 <= low <= high:
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {self.k_range}")
        if self.k is not None and self.k < 2:
            raise ValueError(f"k must be at least 2, got {self.k}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"unknown representation {self.representation!r}; choose one of "
                             f"{list(REPRESENTATIONS)}")


def user_vectors(recommender: Any, histories: list[list[str]], event_types: list[list[str]],
                 representation: str = "items", batch_size: int = 512,
                 timestamps: list[list[float]] | None = None) -> np.ndarray:
    """One vector per user ``(n, d)`` over the events the model reads (see
    :class:`ClusterConfig`).

    The histories become the model's inputs by :func:`recsft.scoring.inputs.model_inputs`, as
    everywhere: ``query`` reads them as a next-item query (``[MASK]`` appended where the model
    uses one), ``mean`` and ``items`` read the newest ``max_position_embeddings`` events
    themselves; items unknown to the model are read as ``[UNK]`` (``items`` has no vector for
    them: a user with none it knows gets a zero vector); a model trained with time gaps reads
    them from ``timestamps`` (every gap unknown without them).

    Args:
        recommender: The run's :class:`~recsft.retrieval.recommender.Recommender`.
        histories: ``n`` item-id sequences, oldest first.
        event_types: Parallel event types.
        representation: ``items``, ``mean`` or ``query``.
        batch_size: Users encoded at once.
        timestamps: Optional parallel event times in seconds.
    """
    import torch

    from recsft.scoring.inputs import model_inputs, read_positions

    model, tokenizer = recommender.model, recommender.tokenizer
    if representation == "items":
        matrix = recommender.item_matrix()
        rows = {item: row for row, item in enumerate(tokenizer.item_ids)}
        out = np.zeros((len(histories), matrix.shape[1]), dtype=np.float32)
        read = read_positions(tokenizer, model.config, histories, use="events")
        for n, (history, positions) in enumerate(zip(histories, read)):
            known = [rows[history[p]] for p in positions if history[p] in rows]
            if known:
                out[n] = matrix[known].mean(axis=0)
        return out

    def part(rows: list[list[Any]] | None, start: int) -> list[list[Any]] | None:
        return None if rows is None else rows[start:start + batch_size]

    if representation == "query":
        return np.concatenate([
            recommender.encode(part(histories, s), part(event_types, s), part(timestamps, s))
            for s in range(0, len(histories), batch_size)])
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(histories), batch_size):
        batch = model_inputs(tokenizer, model.config, part(histories, start),
                             part(event_types, start), part(timestamps, start), use="events")
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.no_grad():
            states = model.encode(**batch)
        weights = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        out.append(((states * weights).sum(1) / weights.sum(1).clamp(min=1.0)).float()
                   .cpu().numpy())
    return np.concatenate(out)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)


def kmeans(vectors: np.ndarray, k: int, config: ClusterConfig) -> np.ndarray:
    """Cluster index ``(n,)`` of every row of ``vectors`` ``(n, d)`` (FAISS k-means)."""
    import faiss

    if k > vectors.shape[0]:
        raise ValueError(f"cannot make {k} clusters of {vectors.shape[0]} users")
    data = _normalised(vectors)
    model = faiss.Kmeans(data.shape[1], k, niter=config.iterations, nredo=config.restarts,
                         seed=config.seed, verbose=False, min_points_per_centroid=1)
    model.train(data)
    _, labels = model.index.search(data, 1)
    return labels[:, 0].astype(np.int64)


def quality(vectors: np.ndarray, labels: np.ndarray, config: ClusterConfig) -> dict[str, float]:
    """Silhouette (cosine, sampled), Davies–Bouldin and Calinski–Harabasz."""
    from sklearn import metrics

    data = _normalised(vectors)
    if np.unique(labels).size < 2:
        return {"silhouette": float("nan"), "davies_bouldin": float("nan"),
                "calinski_harabasz": float("nan")}
    sample = min(config.silhouette_sample, data.shape[0])
    return {
        "silhouette": float(metrics.silhouette_score(data, labels, metric="cosine",
                                                     sample_size=sample,
                                                     random_state=config.seed)),
        "davies_bouldin": float(metrics.davies_bouldin_score(data, labels)),
        "calinski_harabasz": float(metrics.calinski_harabasz_score(data, labels)),
    }


def agreement(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Homogeneity, completeness, V-measure and adjusted Rand index against ``truth``."""
    from sklearn import metrics

    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(
        truth, labels)
    return {"homogeneity": float(homogeneity), "completeness": float(completeness),
            "v_measure": float(v_measure),
            "adjusted_rand": float(metrics.adjusted_rand_score(truth, labels))}


def agreement_difference(labels: np.ndarray, other: np.ndarray, truth: np.ndarray,
                         n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """How much better ``labels`` agree with ``truth`` than ``other`` do, with a bootstrap
    interval over users (the clusterings are held fixed; users are resampled).

    Args:
        labels: ``(n,)`` cluster of every user by one method.
        other: ``(n,)`` cluster of the same users by another method.
        truth: ``(n,)`` known segment of every user.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        ``{"v_measure": {...}, "adjusted_rand": {...}}``, each ``{"difference", "ci95_low",
        "ci95_high", "share_above_zero"}``.
    """
    from sklearn import metrics

    rng = np.random.default_rng(seed)
    scores = {"v_measure": metrics.v_measure_score, "adjusted_rand": metrics.adjusted_rand_score}
    draws: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(n_resamples):
        picks = rng.integers(0, truth.size, truth.size)
        for name, score in scores.items():
            draws[name].append(score(truth[picks], labels[picks])
                               - score(truth[picks], other[picks]))
    out = {}
    for name, score in scores.items():
        values = np.asarray(draws[name])
        low, high = np.quantile(values, [0.025, 0.975])
        out[name] = {"difference": float(score(truth, labels) - score(truth, other)),
                     "ci95_low": float(low), "ci95_high": float(high),
                     "share_above_zero": float(np.mean(values > 0))}
    return out


def choose_k(vectors: np.ndarray, config: ClusterConfig) -> tuple[int, dict[int, float]]:
    """The ``k`` of ``config.k_range`` with the best silhouette, and every ``k``'s score."""
    low, high = config.k_range
    scores = {}
    for k in range(low, min(high, vectors.shape[0] - 1) + 1):
        scores[k] = quality(vectors, kmeans(vectors, k, config), config)["silhouette"]
    if not scores:
        raise ValueError(f"too few users ({vectors.shape[0]}) for k in {config.k_range}")
    return max(scores, key=lambda k: scores[k]), scores


def lsa_vectors(histories: list[list[str]], dim: int, seed: int = 0) -> np.ndarray:
    """Bag-of-items baseline: tf-idf of item counts, truncated SVD to ``dim`` columns."""
    from scipy.sparse import csr_matrix
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer

    columns: dict[str, int] = {}
    rows, cols = [], []
    for r, history in enumerate(histories):
        for item in history:
            rows.append(r)
            cols.append(columns.setdefault(item, len(columns)))
    counts = csr_matrix((np.ones(len(rows)), (rows, cols)),
                        shape=(len(histories), len(columns)))
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    width = max(1, min(dim, len(columns) - 1))
    return TruncatedSVD(width, random_state=seed).fit_transform(tfidf).astype(np.float32)


def _profiles(labels: np.ndarray, histories: list[list[str]], types: list[list[str]],
              categories: dict[str, list[str]] | None, top: int) -> list[dict[str, Any]]:
    out = []
    for cluster in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == cluster)
        items = Counter(item for m in members for item in histories[m])
        behaviours = Counter(t for m in members for t in types[m])
        total = sum(behaviours.values()) or 1
        profile = {"cluster": cluster, "users": int(members.size),
                   "top_items": [item for item, _ in items.most_common(top)],
                   "behaviour_mix": {t: round(c / total, 4)
                                     for t, c in behaviours.most_common()}}
        if categories is not None:
            cats = Counter(c for m in members for item in histories[m]
                           for c in categories.get(item, []))
            count = sum(cats.values()) or 1
            profile["top_categories"] = [(c, round(n / count, 4)) for c, n in cats.most_common(top)]
        out.append(profile)
    return out


def plot_clusters(vectors: np.ndarray, labels: np.ndarray, path: str,
                  truth: np.ndarray | None = None, title: str = "") -> str:
    """A 2-D PCA scatter of the users coloured by cluster (and by ``truth`` beside it)."""
    from recsft.report.plots import pyplot, save_figure

    plt = pyplot()
    data = _normalised(vectors).astype(np.float64)
    centred = data - data.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    panels = [("clusters (k-means)", labels)] + ([("true segments", truth)]
                                                 if truth is not None else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for axis, (name, colours) in zip(axes[0], panels):
        palette = "tab10" if int(np.max(colours)) < 10 else "tab20"
        scatter = axis.scatter(points[:, 0], points[:, 1], c=colours, cmap=palette, s=6,
                               alpha=0.7, linewidths=0)
        axis.set_title(name)
        axis.set_xlabel("PC 1")
        axis.set_ylabel("PC 2")
        axis.legend(*scatter.legend_elements(), loc="best", fontsize=7, markerscale=0.8,
                    title="id")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def _run_users(opened: Any) -> tuple[Any, Any, Any]:
    """The run's config, its event log (saved with the run) and the synthetic segments (or
    ``None``; the generator is run again for them, the events are not)."""
    run, log = opened.config, opened.events()
    segments = None
    if run.data.source == "synthetic":
        from recsft.data.synthetic import SyntheticConfig, generate_events

        table = generate_events(SyntheticConfig(**run.data.synthetic)).user_segments
        segments = dict(zip(table["user_id"].astype(str), table["segment"].astype(int)))
    return run, log, segments


def _contrastive(recommender: Any, sequences: Any, config: ClusterConfig,
                 output_dir: str | None) -> tuple[np.ndarray, dict[str, Any]]:
    """User vectors after user-level contrastive fine-tuning, and its record (the fine-tuned
    encoder is saved to ``<output_dir>/user-encoder``)."""
    from recsft.tasks.contrastive import (
        ContrastiveConfig,
        contrastive_vectors,
        save_user_encoder,
        train_user_contrastive,
    )

    settings = ContrastiveConfig(**{"seed": config.seed, **config.contrastive})
    history: list[dict[str, float]] = []
    model = train_user_contrastive(recommender, sequences, settings, history)
    record: dict[str, Any] = {"config": dataclasses.asdict(settings), "history": history}
    if output_dir:
        record["saved_to"] = os.path.join(output_dir, "user-encoder")
        save_user_encoder(model, record["saved_to"], settings, history)
    return contrastive_vectors(model, recommender, sequences), record


def cluster_run(run_dir: str, config: ClusterConfig | None = None,
                output_dir: str | None = None) -> dict[str, Any]:
    """Cluster a run's users (see the module docstring); write ``clusters.json`` and
    ``clusters.png`` into ``output_dir``.

    Returns:
        The record: ``k``, silhouette by ``k``, quality, agreement (model and LSA baseline),
        profiles, the protocol.
    """
    from recsft.runs import Run

    config = config or ClusterConfig()
    opened = Run.open(run_dir)
    run, log, segments = _run_users(opened)
    sequences = log.sequences()
    recommender = opened.recommender()
    contrastive = None
    if config.representation == "contrastive":
        vectors, contrastive = _contrastive(recommender, sequences, config, output_dir)
    else:
        vectors = user_vectors(recommender, sequences.items, sequences.event_types,
                               config.representation, timestamps=sequences.timestamps or None)
    if config.k is None:
        k, by_k = choose_k(vectors, config)
    else:
        k, by_k = config.k, {}
    labels = kmeans(vectors, k, config)
    window = [row[-run.data.max_length:] for row in sequences.items]
    lsa = lsa_vectors(window, vectors.shape[1], config.seed)
    lsa_labels = kmeans(lsa, k, config)
    categories = None
    if log.items is not None:
        from recsft.data.categories import item_labels

        try:
            categories = item_labels(log.items, run.data.category_column)
        except ValueError:
            categories = None
    record: dict[str, Any] = {
        "run": run_dir, "users": len(sequences), "dim": int(vectors.shape[1]), "k": k,
        "k_chosen_by": "silhouette" if config.k is None else "given",
        "silhouette_by_k": by_k, "quality": quality(vectors, labels, config),
        "baseline_lsa": {"quality": quality(lsa, lsa_labels, config)},
        "profiles": _profiles(labels, sequences.items, sequences.event_types, categories,
                              config.top),
        "config": dataclasses.asdict(config),
        **({"contrastive": contrastive} if contrastive else {}),
        "protocol": f"user vectors: {config.representation} representation of each user's "
                    f"newest {run.data.max_length} events; k-means on L2-normalised vectors",
    }
    truth = None
    if segments is not None:
        known = np.array([u in segments for u in sequences.user_ids])
        truth = np.array([segments.get(u, -1) for u in sequences.user_ids])
        record["segments"] = int(np.unique(truth[known]).size)
        record["agreement"] = agreement(labels[known], truth[known])
        record["baseline_lsa"]["agreement"] = agreement(lsa_labels[known], truth[known])
        if config.n_resamples:
            record["versus_lsa"] = agreement_difference(labels[known], lsa_labels[known],
                                                        truth[known], config.n_resamples,
                                                        config.seed)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        plot_clusters(vectors, labels, os.path.join(output_dir, "clusters.png"), truth,
                      title=f"{os.path.basename(os.path.normpath(run_dir))}: {len(sequences)} "
                      f"users, k = {k}")
        from recsft.fileio import atomic_write_text

        atomic_write_text(os.path.join(output_dir, "clusters.json"),
                          json.dumps(record, indent=2, default=float))
    return record


def format_clusters(record: dict[str, Any]) -> str:
    """A short text report of :func:`cluster_run`'s record."""
    q = record["quality"]
    lines = [f"{record['users']} users, k = {record['k']} ({record['k_chosen_by']})",
             f"user vectors: silhouette {q['silhouette']:.3f}, Davies-Bouldin "
             f"{q['davies_bouldin']:.3f}, Calinski-Harabasz {q['calinski_harabasz']:.1f}"]
    if "agreement" in record:
        for name, values in (("user vectors", record["agreement"]),
                             ("bag-of-items LSA", record["baseline_lsa"]["agreement"])):
            lines.append(f"{name} vs {record['segments']} true segments: V-measure "
                         f"{values['v_measure']:.3f}, ARI {values['adjusted_rand']:.3f}, "
                         f"homogeneity {values['homogeneity']:.3f}, completeness "
                         f"{values['completeness']:.3f}")
    for profile in record["profiles"]:
        cats = ", ".join(f"{c} {share:.0%}" for c, share in profile.get("top_categories", []))
        mix = ", ".join(f"{t} {share:.0%}" for t, share in profile["behaviour_mix"].items())
        lines.append(f"cluster {profile['cluster']}: {profile['users']} users; {cats or '-'}; "
                     f"{mix}")
    return "\n".join(lines)
