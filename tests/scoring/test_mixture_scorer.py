import numpy as np
import pytest
import torch

from recsft.modeling.transitions import ItemTransitions, TransitionSettings
from recsft.scoring.mixture import BatchSoftmax, MixtureScorer


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


def test_smoothing_trusts_each_row_by_its_successor_count():
    # Item 0 was followed 3 times (by 1), item 1 once (by 2); item 2 never.
    seen = ItemTransitions.fit([[0, 1], [0, 1], [0, 1, 2]], num_items=3,
                               settings=TransitionSettings(order_weights=(1.0,), decay=0.5,
                                                           window=2))
    np.testing.assert_allclose(seen.totals, [3, 1, 0])
    histories = [[0, 1], [1, 2]]
    reading = seen.reading(histories, smoothing=1.0).toarray()
    # History [0, 1]: shares 1/3 (item 0), 2/3 (item 1); trust 3/4 and 1/2.
    np.testing.assert_allclose(reading[0], [1 / 3 * 3 / 4, 2 / 3 * 1 / 2, 0], rtol=1e-6)
    # History [1, 2]: item 2 has no successor (weight 0 whatever the smoothing).
    np.testing.assert_allclose(reading[1], [0, 1 / 3 * 1 / 2, 0], rtol=1e-6)
    np.testing.assert_allclose(seen.reading(histories).toarray()[1], [0, 1 / 3, 0], rtol=1e-6)

    logits = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    ids = torch.tensor(histories) + 4
    scores = MixtureScorer(lambda b: logits.clone(), seen, first_item_id=4, weight=0.5,
                           smoothing=1.0)({"input_ids": ids, "index": torch.tensor([0, 1])})
    model = torch.softmax(logits, dim=1)
    # Row 0: chain mass 0.5 * (1/4 to item 1 from item 0, 1/3 to item 2 from item 1).
    chain_part = torch.tensor([[0.0, 0.5 / 4, 0.5 / 3], [0.0, 0.0, 0.5 / 6]])
    share = torch.tensor([[0.5 * (1 / 4 + 1 / 3)], [0.5 / 6]])
    torch.testing.assert_close(scores, ((1 - share) * model + chain_part).log())
    assert torch.allclose(((1 - share) * model + chain_part).sum(1), torch.ones(2))
    with pytest.raises(ValueError, match="smoothing"):
        MixtureScorer(lambda b: logits, seen, first_item_id=4, weight=0.5, smoothing=-1)


def test_temperature_flattens_the_model_before_mixing():
    scores = MixtureScorer(lambda b: LOGITS.clone(), chain(), first_item_id=4, weight=0.25,
                           temperature=2.0)(batch())
    expected_chain = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    expected = (0.75 * torch.softmax(LOGITS / 2, dim=1) + 0.25 * expected_chain).log()
    torch.testing.assert_close(scores, expected)
    with pytest.raises(ValueError, match="temperature"):
        MixtureScorer(lambda b: LOGITS, chain(), first_item_id=4, weight=0.5, temperature=0)


def test_mixtures_sharing_a_batch_softmax_compute_it_once_per_batch():
    calls = []

    def logits(b):
        calls.append(1)
        return LOGITS.clone()

    shared = BatchSoftmax(logits)
    mixtures = [MixtureScorer(shared, chain(), 4, w, 0.0, t) for w, t in ((0.25, 1.0),
                                                                        (0.5, 1.0), (0.5, 2.0))]
    scores = [m(batch()) for m in mixtures]
    assert len(calls) == 1  # one logits call per batch, whatever the temperature
    torch.testing.assert_close(scores[2], MixtureScorer(logits, chain(), 4, 0.5, 0.0, 2.0)(
        batch()))
    torch.testing.assert_close(scores[0], MixtureScorer(logits, chain(), 4, 0.25)(batch()))
    other = {**batch(), "index": torch.tensor([2, 3])}
    mixtures[0](other)
    assert len(calls) == 4  # a new batch (and the unshared scorers above) recompute


def test_the_text_similarity_term_is_added_to_the_log_mixture():
    cosines = torch.tensor([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5]])
    plain = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25)(batch())
    with_text = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25,
                              content=lambda b: cosines, content_weight=2.0)(batch())
    torch.testing.assert_close(with_text, plain + 2.0 * cosines)
    # Weight 0 of the chain: the model's log-softmax (up to a constant) plus the term.
    alone = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.0, temperature=2.0,
                          content=lambda b: cosines, content_weight=1.0)(batch())
    torch.testing.assert_close(alone, LOGITS / 2 + cosines)
    # A content weight of 0 never calls the scorer.
    unused = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25,
                           content=lambda b: 1 / 0, content_weight=0.0)(batch())
    torch.testing.assert_close(unused, plain)
    with pytest.raises(ValueError, match="content weight"):
        MixtureScorer(lambda b: LOGITS, chain(), 4, weight=0.5, content=lambda b: cosines,
                      content_weight=-1.0)


def test_the_new_item_prior_is_added_to_the_new_items_only():
    new = torch.tensor([False, True, False])
    plain = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25)(batch())
    lifted = MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25, new_items=new,
                           new_item_prior=0.75)(batch())
    torch.testing.assert_close(lifted, plain + 0.75 * new.float())
    # A prior of 0, or no mask, is the mixture itself.
    torch.testing.assert_close(MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25,
                                             new_items=new)(batch()), plain)
    torch.testing.assert_close(MixtureScorer(lambda b: LOGITS.clone(), chain(), 4, weight=0.25,
                                             new_item_prior=3.0)(batch()), plain)
    with pytest.raises(ValueError, match="new-item prior"):
        MixtureScorer(lambda b: LOGITS, chain(), 4, weight=0.5, new_items=new,
                      new_item_prior=float("nan"))
