import torch

from recsft.training.collators import ClozeCollator


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
