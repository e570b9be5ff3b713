"""User-level contrastive fine-tuning: sessions, views, training, vectors, saving, clustering."""

from __future__ import annotations

import numpy as np
import pytest

from recsft.tasks.contrastive import (
    ContrastiveConfig,
    contrastive_vectors,
    load_user_encoder,
    save_user_encoder,
    session_ids,
    split_views,
    train_user_contrastive,
)


def test_sessions_split_at_long_gaps() -> None:
    assert session_ids([], 1800).tolist() == []
    assert session_ids([5], 1800).tolist() == [0]
    assert session_ids([0, 1800, 3601, 3602, 10_000], 1800).tolist() == [0, 0, 1, 1, 2]


def test_views_deal_whole_sessions_to_both_sides() -> None:
    rng = np.random.default_rng(0)
    sessions = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    for _ in range(200):
        mask = split_views(len(sessions), sessions, rng)
        assert mask.any() and not mask.all()
        for session in range(4):  # a session is never cut between the views
            assert np.unique(mask[sessions == session]).size == 1


def test_views_of_one_session_cut_between_30_and_70_percent() -> None:
    rng = np.random.default_rng(1)
    cuts = {int(split_views(10, np.zeros(10, dtype=np.int64), rng).sum()) for _ in range(300)}
    assert cuts == {3, 4, 5, 6, 7}
    for _ in range(50):  # no times: the same rule; the first view is the older part
        mask = split_views(2, None, rng)
        assert mask.tolist() == [True, False]
    assert split_views(1, None, rng) is None


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        ContrastiveConfig(batch_size=1)
    with pytest.raises(ValueError, match="temperature must be positive"):
        ContrastiveConfig(temperature=0.0)


@pytest.fixture(scope="module")
def pretrained(trained_run):
    from recsft.data.sources import load_events
    from recsft.retrieval.recommender import Recommender

    config, _ = trained_run
    return Recommender.from_pretrained(config.run_dir), load_events(config.data).sequences()


def test_training_lowers_the_loss_and_vectors_survive_a_save(pretrained, tmp_path) -> None:
    recommender, sequences = pretrained
    config = ContrastiveConfig(epochs=4, batch_size=128, seed=3)
    history: list[dict] = []
    model = train_user_contrastive(recommender, sequences, config, history)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    vectors = contrastive_vectors(model, recommender, sequences)
    assert vectors.shape == (len(sequences.items), recommender.model.config.hidden_size)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # The pretrained encoder itself is left untouched (a copy is fine-tuned).
    assert model.encoder is not recommender.model
    save_user_encoder(model, str(tmp_path / "user"), config, history)
    loaded, loaded_config = load_user_encoder(str(tmp_path / "user"))
    assert loaded_config == config
    np.testing.assert_allclose(contrastive_vectors(loaded, recommender, sequences), vectors,
                               atol=1e-5)


def test_training_is_seeded(pretrained) -> None:
    recommender, sequences = pretrained
    runs = [contrastive_vectors(train_user_contrastive(
        recommender, sequences, ContrastiveConfig(epochs=1, batch_size=128, seed=5)),
        recommender, sequences) for _ in range(2)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-5)


def test_too_few_users(pretrained) -> None:
    recommender, sequences = pretrained
    from recsft.data.events import UserSequences

    one = UserSequences(user_ids=sequences.user_ids[:1], items=sequences.items[:1],
                        event_types=sequences.event_types[:1],
                        timestamps=sequences.timestamps[:1])
    with pytest.raises(ValueError, match="at least two users"):
        train_user_contrastive(recommender, one, ContrastiveConfig(epochs=1))


@pytest.mark.slow
def test_cluster_run_with_the_contrastive_representation(trained_run, tmp_path) -> None:
    from recsft.tasks.clustering import ClusterConfig, cluster_run

    config, _ = trained_run
    record = cluster_run(config.run_dir, ClusterConfig(
        k=3, representation="contrastive", contrastive={"epochs": 2, "batch_size": 128}),
        output_dir=str(tmp_path / "c"))
    assert record["contrastive"]["config"]["epochs"] == 2
    assert len(record["contrastive"]["history"]) == 2
    assert (tmp_path / "c" / "user-encoder" / "projection.safetensors").exists()
    assert 0.0 <= record["agreement"]["v_measure"] <= 1.0


@pytest.mark.slow
def test_cluster_command_with_contrastive_fine_tuning(trained_run, tmp_path, capsys) -> None:
    import json

    from recsft.cli import main

    config, _ = trained_run
    assert main(["cluster", "--run", config.run_dir, "--k", "3", "--representation",
                 "contrastive", "--contrastive-epochs", "1", "--output", str(tmp_path),
                 "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["config"]["representation"] == "contrastive"
    assert [row["epoch"] for row in record["contrastive"]["history"]] == [1]
