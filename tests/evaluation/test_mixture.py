import shutil

import numpy as np
import pytest
import torch

from recsft.evaluation.mixture import CachedQueries, MixtureScorer, choose_mixture_weight
from recsft.modeling.transitions import ItemTransitions, TransitionSettings


def chain():
    return ItemTransitions.fit([[0, 1], [1, 2], [2, 0]], num_items=3,
                               settings=TransitionSettings(order_weights=(1.0,), window=1))


def batch():
    # First item id 4; 0 is padding and 2 a [MASK]-like special token: neither is history.
    return {"input_ids": torch.tensor([[0, 4, 5], [0, 6, 2]]), "index": torch.tensor([0, 1])}


LOGITS = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]])


def test_the_mixture_is_the_log_of_the_interpolated_distributions():
    scorer = MixtureScorer(lambda b: LOGITS.clone(), chain(), first_item_id=4, weight=0.25)
    scores = scorer(batch())
    expected_chain = torch.tensor([[0.0, 0.0, 1.0],   # newest item 1 -> 2
                                   [1.0, 0.0, 0.0]])  # newest item 2 -> 0 ([MASK] ignored)
    expected = (0.75 * torch.softmax(LOGITS, dim=1) + 0.25 * expected_chain).log()
    torch.testing.assert_close(scores, expected)
    # Weight 0 is the model's own ranking (its logits, untouched).
    alone = MixtureScorer(lambda b: LOGITS.clone(), chain(), first_item_id=4, weight=0.0)
    torch.testing.assert_close(alone(batch()), LOGITS)
    with pytest.raises(ValueError, match="mixture weight"):
        MixtureScorer(lambda b: LOGITS, chain(), first_item_id=4, weight=-0.1)


def test_the_weight_is_the_best_on_validation_and_the_smallest_among_ties():
    values = {0.0: 0.1, 0.2: 0.3, 0.4: 0.3, 0.6: 0.2}
    weight, results = choose_mixture_weight(
        lambda scorer: {"ndcg@10": values[scorer.weight]},
        lambda w: MixtureScorer(lambda b: LOGITS, chain(), 4, w), list(values))
    assert weight == 0.2 and results == {str(k): v for k, v in values.items()}


def test_cached_queries_encode_each_batch_once():
    calls = []

    class Vectors:
        def query_vectors(self, b):
            calls.append(1)
            return b["input_ids"].float()

        def score_vectors(self, users):
            return users @ torch.ones(3, 2)

    cached = CachedQueries(Vectors())
    first, second = cached(batch()), cached(batch())
    torch.testing.assert_close(first, second)
    assert len(calls) == 1


def test_fitted_transitions_change_the_run_scores_only_through_their_weight(trained_run, tmp_path):
    from recsft.training.pipeline import evaluate_run, fit_transitions

    config, _ = trained_run
    run_dir = str(tmp_path / "run")
    shutil.copytree(config.run_dir, run_dir)
    with pytest.raises(FileNotFoundError, match="recsft transitions"):
        evaluate_run(run_dir, n_resamples=0, transitions=True)
    fitted = fit_transitions(run_dir, weights=[0.0, 0.5])
    assert fitted["weight"] in (0.0, 0.5) and set(fitted["validation"]) == {"0.0", "0.5"}
    plain = evaluate_run(run_dir, n_resamples=0)
    mixed = evaluate_run(run_dir, n_resamples=0, transitions=True)
    assert mixed["transitions"]["weight"] == fitted["weight"]
    assert fitted["validation"][str(fitted["weight"])] >= fitted["validation"]["0.0"]
    zero = ItemTransitions.load(run_dir)
    zero.settings.weight = 0.0
    zero.save(run_dir)
    again = evaluate_run(run_dir, n_resamples=0, transitions=True)
    assert again["metrics"] == plain["metrics"]
    assert np.isfinite(mixed["metrics"]["ndcg@10"])
