import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from recsft.evaluation.mixture import (
    choose_content_weight,
    choose_mixture,
    choose_new_item_prior,
)
from recsft.modeling.transitions import ItemTransitions
from recsft.runs import Run
from recsft.scoring.mixture import MixtureScorer
from recsft.scoring.model import model_scorer


def test_the_choice_is_the_best_on_validation_and_the_simplest_among_ties():
    values = {(0.0, 0.0, 1.0): 0.1, (0.2, 0.0, 1.0): 0.3, (0.2, 10.0, 1.0): 0.3,
              (0.4, 0.0, 1.0): 0.3, (0.4, 10.0, 1.0): 0.2, (0.2, 0.0, 2.0): 0.3,
              (0.2, 10.0, 2.0): 0.25, (0.4, 0.0, 2.0): 0.1, (0.4, 10.0, 2.0): 0.35}
    seen = []

    def evaluate_many(scorers):
        seen.append(len(scorers))
        return [{"ndcg@10": values[(s.weight, s.smoothing, s.temperature)]} for s in scorers]

    def make(w, a, t):
        return SimpleNamespace(weight=w, smoothing=a, temperature=t)

    best, table = choose_mixture(evaluate_many, make, weights=[0.0, 0.2, 0.4],
                                 smoothings=[0.0, 10.0], temperatures=[1.0, 2.0])
    assert best == {"weight": 0.4, "smoothing": 10.0, "temperature": 2.0, "ndcg@10": 0.35}
    # One pass for every candidate; weight 0 (the model alone) once.
    assert seen == [9]
    assert {(r["weight"], r["smoothing"], r["temperature"]): r["ndcg@10"] for r in table} == values
    values[(0.4, 10.0, 2.0)] = 0.2
    best, _ = choose_mixture(evaluate_many, make, weights=[0.0, 0.2, 0.4],
                             smoothings=[0.0, 10.0], temperatures=[1.0, 2.0])
    # Ties at 0.3: the smallest weight, then smoothing, then the temperature closest to 1.
    assert (best["weight"], best["smoothing"], best["temperature"]) == (0.2, 0.0, 1.0)


def test_the_text_similarity_weight_is_the_best_on_validation_and_0_is_always_tried():
    values = {0.0: 0.20, 1.0: 0.25, 2.0: 0.25, 5.0: 0.22}
    seen = []

    def evaluate_many(scorers):
        seen.append([s.content_weight for s in scorers])
        return [{"ndcg@10": values[s.content_weight]} for s in scorers]

    best, table = choose_content_weight(
        evaluate_many, lambda c: SimpleNamespace(content_weight=c), weights=[5.0, 2.0, 1.0])
    assert seen == [[0.0, 1.0, 2.0, 5.0]]  # one pass; 0 added
    assert best == {"content_weight": 1.0, "ndcg@10": 0.25}  # the smaller of the tie
    assert [row["content_weight"] for row in table] == [0.0, 1.0, 2.0, 5.0]
    with pytest.raises(ValueError, match="non-negative"):
        choose_content_weight(evaluate_many, lambda c: SimpleNamespace(content_weight=c), [-1])


def test_evaluate_many_matches_one_evaluation_per_scorer(trained_run):
    config, _ = trained_run
    run = Run.open(config.run_dir)
    model, evaluator = run.model(), run.evaluator("valid")
    tokens = model.config.first_item_id
    fitted = ItemTransitions.fit([[0, 1, 2, 3], [3, 2, 1]], evaluator.num_items)
    scorers = [model_scorer(model), MixtureScorer(model_scorer(model), fitted, tokens, 0.7, 3.0)]
    assert evaluator.evaluate_many(scorers) == [evaluator.evaluate(s) for s in scorers]


def test_fitted_transitions_change_the_run_scores_only_through_their_weight(trained_run, tmp_path):
    from recsft.errors import RunFolderError
    from recsft.runs.evaluate import evaluate_run, fit_transitions

    config, _ = trained_run
    run_dir = str(tmp_path / "run")
    shutil.copytree(config.run_dir, run_dir)
    with pytest.raises(RunFolderError, match="recsft transitions"):
        evaluate_run(run_dir, n_resamples=0, transitions=True)
    fitted = fit_transitions(run_dir, weights=[0.0, 0.5], smoothings=[0.0, 5.0],
                             temperatures=[1.0, 1.5])
    by_candidate = {(row["weight"], row["smoothing"], row["temperature"]): row["ndcg@10"]
                    for row in fitted["validation"]}
    assert set(by_candidate) == {(0.0, 0.0, 1.0), (0.5, 0.0, 1.0), (0.5, 5.0, 1.0),
                                 (0.5, 0.0, 1.5), (0.5, 5.0, 1.5)}
    chosen = (fitted["weight"], fitted["smoothing"], fitted["temperature"])
    plain = evaluate_run(run_dir, n_resamples=0)
    mixed = evaluate_run(run_dir, n_resamples=0, transitions=True)
    settings = mixed["transitions"]
    assert (settings["weight"], settings["smoothing"], settings["temperature"]) == chosen
    assert by_candidate[chosen] == max(by_candidate.values())
    assert np.isfinite(mixed["metrics"]["ndcg@10"])
    # With weight 0 the mixture is the model's own ranking: the plain numbers exactly.
    run = Run.open(run_dir)
    model, chain = run.model(), run.transitions()
    zero = MixtureScorer(model_scorer(model), chain, model.config.first_item_id, 0.0,
                         chain.settings.smoothing, chain.settings.temperature)
    assert run.evaluator("test").evaluate(zero) == plain["metrics"]


def test_without_a_text_encoder_the_default_grid_skips_the_text_term_and_an_explicit_one_fails(
        capsys):
    from recsft.errors import RecsftError
    from recsft.runs.evaluate import _content_for_choice

    def missing():
        raise RecsftError("the content baseline needs a text encoder: pip install "
                          "'recsft[text]'")

    run = SimpleNamespace(content_scorer=missing)
    assert _content_for_choice(run, None) is None
    assert "text-similarity term not tried" in capsys.readouterr().err
    with pytest.raises(RecsftError, match="text encoder"):
        _content_for_choice(run, [1.0])
    assert _content_for_choice(run, ()) is None  # no grid: never asked
    found = SimpleNamespace(content_scorer=lambda: "scorer")
    assert _content_for_choice(found, None) == "scorer"


def test_the_new_item_prior_is_chosen_on_validation_zero_always_tried():
    values = {0.0: 0.10, 0.25: 0.12, 0.5: 0.12, 1.0: 0.11}

    def evaluate_many(scorers):
        return [{"ndcg@10": values[s.new_item_prior]} for s in scorers]

    best, table = choose_new_item_prior(
        evaluate_many, lambda b: SimpleNamespace(new_item_prior=b), priors=[1.0, 0.5, 0.25])
    assert best == {"new_item_prior": 0.25, "ndcg@10": 0.12}  # the smaller of the tie
    assert [row["new_item_prior"] for row in table] == [0.0, 0.25, 0.5, 1.0]
    with pytest.raises(ValueError, match="new item priors must be finite and non-negative"):
        choose_new_item_prior(evaluate_many, lambda b: SimpleNamespace(new_item_prior=b), [-1])
