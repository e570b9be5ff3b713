import numpy as np
import pytest

from recsft.modeling.transitions import TRANSITIONS_FILE, ItemTransitions, TransitionSettings


def test_counts_successors_by_distance_and_normalises_rows():
    settings = TransitionSettings(order_weights=(1.0, 0.5))
    chain = ItemTransitions.fit([[0, 1, 2], [0, 2], [3, -1, 1]], num_items=4, settings=settings)
    matrix = chain.matrix.toarray()
    # 0 -> 1 (1.0), 0 -> 2 (0.5, distance 2; and 1.0 from the second sequence): 1 / 2.5, 1.5 / 2.5
    np.testing.assert_allclose(matrix[0], [0, 0.4, 0.6, 0], rtol=1e-6)
    np.testing.assert_allclose(matrix[1], [0, 0, 1, 0])
    np.testing.assert_allclose(matrix[2], [0, 0, 0, 0])  # no successor: an empty row
    # The unknown item (-1) is no endpoint; 3 -> 1 at distance 2 still counts.
    np.testing.assert_allclose(matrix[3], [0, 1, 0, 0])
    np.testing.assert_allclose(chain.totals, [2.5, 1.0, 0.0, 0.5])


def test_history_reading_weights_the_newest_items_by_decay():
    chain = ItemTransitions.fit([[0, 1], [1, 2], [2, 3]], num_items=4,
                                settings=TransitionSettings(order_weights=(1.0,), decay=0.5,
                                                            window=2))
    probabilities = chain.next_item_probabilities([[0, 1], [5 - 6, 0, 1, 2], [], [3]])
    # Newest 1 (weight 2/3) -> 2, older 0 (1/3) -> 1.
    np.testing.assert_allclose(probabilities[0], [0, 1 / 3, 2 / 3, 0], rtol=1e-6)
    # Window 2: items 1 and 2 only.
    np.testing.assert_allclose(probabilities[1], [0, 0, 1 / 3, 2 / 3], rtol=1e-6)
    assert probabilities[2].sum() == 0
    assert probabilities[3].sum() == 0  # 3 has no known successor
    assert probabilities.dtype == np.float32 and probabilities.shape == (4, 4)


def test_save_load_round_trip_and_a_clear_error_without_the_file(tmp_path):
    settings = TransitionSettings(order_weights=(1.0, 0.2), decay=0.4, window=5, weight=0.3,
                                  smoothing=10.0,
                                  validation=[{"weight": 0.3, "smoothing": 10.0, "ndcg@10": 0.1}])
    chain = ItemTransitions.fit([[0, 1, 2, 1]], num_items=3, settings=settings)
    chain.save(str(tmp_path))
    assert (tmp_path / TRANSITIONS_FILE).exists()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = ItemTransitions.load(str(tmp_path))
    assert loaded.settings == chain.settings and loaded.num_items == 3
    np.testing.assert_allclose(loaded.matrix.toarray(), chain.matrix.toarray())
    np.testing.assert_array_equal(loaded.totals, chain.totals)
    with pytest.raises(FileNotFoundError, match="recsft transitions --run"):
        ItemTransitions.load(str(tmp_path / "elsewhere"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / TRANSITIONS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=f"{TRANSITIONS_FILE}: not an item-transitions file"):
        ItemTransitions.load(str(broken))


@pytest.mark.parametrize("field, value", [("order_weights", ()), ("order_weights", (1, -1)),
                                          ("decay", 0.0), ("window", 0), ("weight", 1.5),
                                          ("smoothing", -1.0), ("temperature", 0.0)])
def test_settings_reject_values_outside_their_range(field, value):
    with pytest.raises(ValueError, match=field):
        TransitionSettings(**{field: value})
