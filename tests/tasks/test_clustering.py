"""Clustering: k-means recovers planted groups, k by silhouette, quality and agreement
measures, a run's users against the synthetic segments, the plot and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from recsft.tasks.clustering import (
    ClusterConfig,
    agreement,
    choose_k,
    cluster_run,
    kmeans,
    lsa_vectors,
    quality,
)


def blobs(k: int = 4, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, 16)) * 5
    truth = rng.integers(0, k, n)
    return (centers[truth] + 0.3 * rng.standard_normal((n, 16))).astype(np.float32), truth


def test_kmeans_recovers_planted_groups_and_k() -> None:
    vectors, truth = blobs()
    config = ClusterConfig(k_range=(2, 7))
    labels = kmeans(vectors, 4, config)
    assert agreement(labels, truth) == pytest.approx(
        {"homogeneity": 1.0, "completeness": 1.0, "v_measure": 1.0, "adjusted_rand": 1.0})
    k, scores = choose_k(vectors, config)
    assert k == 4 and set(scores) == set(range(2, 8))
    good = quality(vectors, labels, config)
    bad = quality(vectors, np.random.default_rng(0).integers(0, 4, len(truth)), config)
    assert good["silhouette"] > 0.8 > bad["silhouette"]
    assert good["davies_bouldin"] < bad["davies_bouldin"]
    assert good["calinski_harabasz"] > bad["calinski_harabasz"]


def test_config_and_input_errors() -> None:
    with pytest.raises(ValueError, match="k_range must satisfy"):
        ClusterConfig(k_range=(1, 5))
    with pytest.raises(ValueError, match="unknown representation 'cls'"):
        ClusterConfig(representation="cls")
    with pytest.raises(ValueError, match="cannot make 9 clusters of 5 users"):
        kmeans(np.ones((5, 3), dtype=np.float32), 9, ClusterConfig())


def test_lsa_vectors() -> None:
    histories = [["a", "b", "a"], ["c", "d"], ["a", "b"], ["d", "c", "c"]]
    vectors = lsa_vectors(histories, dim=2)
    assert vectors.shape == (4, 2)
    labels = kmeans(vectors, 2, ClusterConfig())
    assert labels[0] == labels[2] != labels[1] == labels[3]


@pytest.mark.slow
@pytest.mark.parametrize("representation", ["items", "mean", "query"])
def test_cluster_a_run_against_its_segments(trained_run, tmp_path, representation) -> None:
    config, _ = trained_run
    out = tmp_path / "clusters"
    record = cluster_run(config.run_dir, ClusterConfig(k=3, representation=representation),
                         output_dir=str(out))
    assert record["k"] == 3 and record["users"] == 800 and record["segments"] == 6
    for values in (record["agreement"], record["baseline_lsa"]["agreement"]):
        assert set(values) == {"homogeneity", "completeness", "v_measure", "adjusted_rand"}
        assert 0.0 <= values["v_measure"] <= 1.0
    assert record["agreement"]["v_measure"] > 0.05  # far from a random labelling
    assert sum(p["users"] for p in record["profiles"]) == 800
    assert all(p["top_categories"] and abs(sum(p["behaviour_mix"].values()) - 1) < 1e-3
               for p in record["profiles"])
    assert json.loads((out / "clusters.json").read_text())["k"] == 3
    assert (out / "clusters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cluster_command(trained_run, tmp_path, capsys) -> None:
    from recsft.cli import main

    config, _ = trained_run
    out = tmp_path / "c"
    assert main(["cluster", "--run", config.run_dir, "--k", "auto", "--k-range", "2-4",
                 "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "k = " in text and "(silhouette)" in text and "V-measure" in text
    assert os.path.exists(out / "clusters.png")
    assert main(["cluster", "--run", config.run_dir, "--k", "many"]) == 2
    assert "--k must be an integer or 'auto'" in capsys.readouterr().err


def test_agreement_difference_has_a_bootstrap_interval() -> None:
    from recsft.tasks.clustering import agreement_difference

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 600)

    def noisy(share: float) -> np.ndarray:
        labels = truth.copy()
        flip = rng.random(truth.size) < share
        labels[flip] = rng.integers(0, 4, int(flip.sum()))
        return labels

    good, bad = noisy(0.2), noisy(0.6)
    result = agreement_difference(good, bad, truth, n_resamples=200)
    for name in ("v_measure", "adjusted_rand"):
        value = result[name]
        assert 0 < value["ci95_low"] < value["difference"] < value["ci95_high"]
        assert value["share_above_zero"] == 1.0
    # Against itself the difference is exactly zero in every resample.
    same = agreement_difference(good, good, truth, n_resamples=50)
    assert same["v_measure"] == {"difference": 0.0, "ci95_low": 0.0, "ci95_high": 0.0,
                                 "share_above_zero": 0.0}
