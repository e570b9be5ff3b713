import pytest
import torch

from recsft.training.collators import CausalCollator, ClozeCollator


def features():
    return [{"input_ids": list(range(10, 10 + n)), "token_type_ids": [5] * n} for n in (3, 7, 12)]


def test_cloze_masks_only_real_positions_and_labels_them():
    torch.manual_seed(0)
    batch = ClozeCollator(mask_token_id=2, mask_prob=0.5, last_item_mask_prob=0.0,
                          max_length=10)(features())
    assert batch["input_ids"].shape == (3, 10)
    masked = batch["labels"] != -100
    assert (masked.sum(dim=1) >= 1).all()
    assert not (masked & (batch["attention_mask"] == 0)).any()
    assert (batch["input_ids"][masked] == 2).all()
    assert (batch["token_type_ids"][masked] == 2).all()
    # Labels are the original ids; truncation kept the newest ten of the 12-item sequence.
    original = torch.tensor(list(range(12, 22)))
    assert (batch["labels"][2][masked[2]] == original[masked[2]]).all()


def test_last_item_only_masking():
    torch.manual_seed(0)
    batch = ClozeCollator(mask_token_id=2, mask_prob=0.9, last_item_mask_prob=1.0)(features())
    masked = batch["labels"] != -100
    assert masked[:, -1].all() and masked.sum() == 3
    assert batch["labels"][:, -1].tolist() == [12, 16, 21]


def causal_features():
    # Event types differ per position (4 + i % 2) so their shift can be checked too.
    return [{"input_ids": list(range(10, 10 + n)), "token_type_ids": [4 + i % 2 for i in range(n)]}
            for n in (3, 7, 12)]


def test_causal_shapes_and_next_item_labels():
    batch = CausalCollator(pad_token_id=0, max_length=10)(causal_features())
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert all(v.shape == (3, 10) and v.dtype == torch.long for v in batch.values())
    # The 3-item sequence: inputs 10, 11 and labels 11, 12 (the next item at every position).
    assert batch["input_ids"][0, -2:].tolist() == [10, 11]
    assert batch["labels"][0, -2:].tolist() == [11, 12]
    assert batch["token_type_ids"][0, -2:].tolist() == [4, 5]
    real = batch["attention_mask"].bool()
    # Everywhere: the label at t is the input at t + 1; the newest label is the held-back item.
    shown = real[:, :-1]
    assert torch.equal(batch["labels"][:, :-1][shown], batch["input_ids"][:, 1:][shown])
    assert batch["labels"][:, -1].tolist() == [12, 16, 21]


def test_causal_padding_is_left_and_unlabelled():
    batch = CausalCollator(pad_token_id=0, max_length=10)(causal_features())
    padding = batch["attention_mask"] == 0
    assert padding.sum(dim=1).tolist() == [8, 4, 0]
    assert padding[0, :8].all() and not padding[0, 8:].any()
    assert (batch["labels"][padding] == -100).all()
    assert (batch["labels"][~padding] != -100).all()
    assert (batch["input_ids"][padding] == 0).all()
    assert (batch["token_type_ids"][padding] == 0).all()


def test_causal_truncation_keeps_the_newest_items():
    batch = CausalCollator(max_length=10)(causal_features())
    # 12 items, newest 11 kept (10..21 -> 11..21): inputs 11..20, labels 12..21.
    assert batch["input_ids"][2].tolist() == list(range(11, 21))
    assert batch["labels"][2].tolist() == list(range(12, 22))
    assert batch["token_type_ids"][2].tolist() == [4 + i % 2 for i in range(1, 11)]
    untruncated = CausalCollator()(causal_features())
    assert untruncated["input_ids"].shape == (3, 11)
    assert untruncated["input_ids"][2].tolist() == list(range(10, 21))


def test_causal_short_sequences_never_fail_and_carry_no_label():
    features = [{"input_ids": [7], "token_type_ids": [4]}, {"input_ids": [], "token_type_ids": []},
                {"input_ids": [8, 9], "token_type_ids": [4, 5]}]
    batch = CausalCollator(max_length=5)(features)
    assert batch["input_ids"].tolist() == [[7], [0], [8]]
    assert batch["attention_mask"].tolist() == [[1], [0], [1]]
    assert batch["labels"].tolist() == [[-100], [-100], [9]]
    lonely = CausalCollator()([{"input_ids": [7], "token_type_ids": [4]}])
    assert lonely["labels"].tolist() == [[-100]]


def test_causal_max_length_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        CausalCollator(max_length=0)


def test_time_gaps_are_padded_shifted_and_masked_with_the_items():
    from recsft.tokenization import NO_GAP
    from recsft.training.masking import ClozeMasking, PadCollator

    features = [{"input_ids": [5, 6, 7], "token_type_ids": [4, 4, 4], "time_gap_ids": [1, 9, 8]},
                {"input_ids": [8], "token_type_ids": [4], "time_gap_ids": [1]}]
    causal = CausalCollator(max_length=5)(features)
    assert causal["time_gap_ids"].tolist() == [[1, 9], [0, 1]]
    assert causal["input_ids"].tolist() == [[5, 6], [0, 8]]

    padded = PadCollator(max_length=2)(features)
    assert padded["time_gap_ids"].tolist() == [[9, 8], [0, 1]]
    torch.manual_seed(0)
    masked = ClozeMasking(mask_token_id=2, mask_prob=0.5, last_item_mask_prob=0.0)(padded)
    hidden = masked["labels"] != -100
    assert hidden.any()
    assert (masked["time_gap_ids"][hidden] == NO_GAP).all()
    assert torch.equal(masked["time_gap_ids"][~hidden], padded["time_gap_ids"][~hidden])
