"""Published full-ranking results, keyed by the dataset version they were measured on.

A published figure is only comparable on the same version of a dataset, under the same
protocol (leave-one-out, full ranking over every item, history items filtered, the same max
length). :func:`published_for` therefore identifies the version by its statistics — users, items
and interactions after preparation — not by a file name, and returns nothing when they differ.

Example:
    >>> rows = published_for({"users": 22363, "items": 12101, "interactions": 198502})
    >>> rows[0].dataset, rows[0].model, rows[0].metrics["ndcg@10"]
    ('amazon-beauty', 'most popular', 0.0061)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

PROTOCOL = "leave-one-out, full ranking over all items, history items filtered"


@dataclass(frozen=True)
class DatasetVersion:
    """The statistics that identify one prepared version of a dataset.

    Attributes:
        name: Registry name (see :mod:`recsft.data.registry`).
        users: Users after preparation.
        items: Items after preparation.
        interactions: Interactions after preparation; ``None`` when only users and items were
            published.
        max_length: Max sequence length the published figures used.
    """

    name: str
    users: int
    items: int
    interactions: int | None
    max_length: int

    def matches(self, stats: Mapping[str, Any]) -> bool:
        """Whether ``stats`` (``users``, ``items``, ``interactions``) is this version."""
        same = stats.get("users") == self.users and stats.get("items") == self.items
        if self.interactions is not None:
            same = same and stats.get("interactions") == self.interactions
        return bool(same)


@dataclass(frozen=True)
class PublishedResult:
    """One published figure.

    Attributes:
        dataset: Registry name of the dataset version.
        model: Model as named by the source.
        metrics: ``ndcg@10`` / ``recall@10`` as published.
        source: Paper or repository that reports it.
    """

    dataset: str
    model: str
    metrics: Mapping[str, float]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "metrics": dict(self.metrics)}


VERSIONS: tuple[DatasetVersion, ...] = (
    DatasetVersion("amazon-beauty", 22363, 12101, 198502, 50),
    DatasetVersion("amazon-beauty-bert4rec", 40226, 54542, 353962, 50),
    # The BERT4Rec preprocessing of ML-1M (items with fewer than 5 ratings dropped).
    DatasetVersion("ml-1m", 6040, 3416, None, 200),
)

_S3REC = "S3-Rec paper (Zhou et al., CIKM 2020)"
_KV = "Klenitskiy & Vasilev, RecSys 2023"

PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("amazon-beauty", "most popular", {"ndcg@10": 0.0061, "recall@10": 0.0135},
                    _S3REC),
    PublishedResult("amazon-beauty", "GRU4Rec", {"ndcg@10": 0.0137, "recall@10": 0.0283}, _S3REC),
    PublishedResult("amazon-beauty", "BERT4Rec", {"ndcg@10": 0.0170, "recall@10": 0.0347}, _S3REC),
    PublishedResult("amazon-beauty", "SASRec", {"ndcg@10": 0.0318, "recall@10": 0.0605}, _S3REC),
    PublishedResult("amazon-beauty", "ICLRec", {"ndcg@10": 0.0403, "recall@10": 0.0744},
                    "salesforce/ICLRec README"),
    PublishedResult("amazon-beauty", "SASRec + sampled softmax (256 negatives)",
                    {"ndcg@10": 0.0531, "recall@10": 0.0921}, "eSASRec (arXiv 2508.06450)"),
    PublishedResult("amazon-beauty-bert4rec", "SASRec, BCE with 1 negative",
                    {"ndcg@10": 0.0126, "recall@10": 0.0246}, _KV),
    PublishedResult("amazon-beauty-bert4rec", "BERT4Rec",
                    {"ndcg@10": 0.0187, "recall@10": 0.0338}, _KV),
    PublishedResult("amazon-beauty-bert4rec", "SASRec, full cross-entropy",
                    {"ndcg@10": 0.0327, "recall@10": 0.0533}, _KV),
    PublishedResult("ml-1m", "BERT4Rec", {"ndcg@10": 0.1537, "recall@10": 0.2843}, _KV),
    PublishedResult("ml-1m", "SASRec, full cross-entropy",
                    {"ndcg@10": 0.1821, "recall@10": 0.3152}, _KV),
    PublishedResult("ml-1m", "HSTU-large", {"ndcg@10": 0.1893, "recall@10": 0.3294},
                    "facebookresearch/generative-recommenders"),
)


def dataset_version(stats: Mapping[str, Any]) -> DatasetVersion | None:
    """The published version whose statistics equal ``stats``, or ``None``."""
    return next((version for version in VERSIONS if version.matches(stats)), None)


def published_for(stats: Mapping[str, Any]) -> list[PublishedResult]:
    """Published results on the dataset version with these statistics (``[]`` when none).

    Args:
        stats: ``users``, ``items`` and ``interactions`` of the prepared dataset.
    """
    version = dataset_version(stats)
    if version is None:
        return []
    return [row for row in PUBLISHED if row.dataset == version.name]
