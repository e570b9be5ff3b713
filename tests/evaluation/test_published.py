import pytest

from recsft.data.registry import REGISTRY
from recsft.evaluation.published import PUBLISHED, VERSIONS, dataset_version, published_for


def test_a_version_is_identified_by_its_statistics_not_its_name():
    beauty = {"users": 22363, "items": 12101, "interactions": 198502}
    assert dataset_version(beauty).name == "amazon-beauty"
    models = [row.model for row in published_for(beauty)]
    assert "SASRec" in models and "BERT4Rec" in models
    assert all(row.dataset == "amazon-beauty" for row in published_for(beauty))
    # One interaction fewer is another version: nothing to compare with.
    assert published_for({**beauty, "interactions": 198501}) == []
    # ML-1M is identified by users and items (the BERT4Rec preprocessing keeps 3,416 items).
    assert dataset_version({"users": 6040, "items": 3416, "interactions": 999611}).name == "ml-1m"
    assert dataset_version({"users": 6040, "items": 3706, "interactions": 1000209}) is None


def test_every_published_row_names_a_known_version_and_registry_dataset():
    names = {version.name for version in VERSIONS}
    for row in PUBLISHED:
        assert row.dataset in names and row.dataset in REGISTRY
        assert set(row.metrics) <= {"ndcg@10", "recall@10"}
        assert all(0 < value < 1 for value in row.metrics.values())
        assert row.to_dict()["metrics"] == dict(row.metrics)


@pytest.mark.parametrize("name", ["amazon-beauty", "amazon-beauty-bert4rec"])
def test_versions_agree_with_the_registry_statistics(name):
    version = next(v for v in VERSIONS if v.name == name)
    published = REGISTRY[name].published
    assert (version.users, version.items, version.interactions) == (
        published["users"], published["items"], published["interactions"])
