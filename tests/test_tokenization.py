import torch

from recsft.tokenization import BehaviorTokenizer


def make_tokenizer():
    return BehaviorTokenizer.from_sequences([["a", "b", "c"], ["c", "d"]],
                                            event_types=["view", "buy"])


def test_vocabulary_specials_then_items_in_first_seen_order():
    tok = make_tokenizer()
    assert tok.item_ids == ["a", "b", "c", "d"]
    assert tok.num_items == 4
    assert tok.first_item_id == 4
    assert tok.convert_tokens_to_ids(["[PAD]", "[UNK]", "[MASK]", "a"]) == [0, 1, 2, 4]


def test_unknown_items_map_to_unk():
    tok = make_tokenizer()
    assert tok.items_to_ids(["a", "zzz"]) == [4, tok.unk_token_id]
    assert tok(["a", "zzz"], is_split_into_words=True)["input_ids"] == [4, tok.unk_token_id]


def test_truncation_keeps_newest_and_pads_left():
    tok = make_tokenizer()
    enc = tok.encode_histories([["a", "b", "c", "d"], ["d"]], max_length=3, append_mask=True)
    assert enc["input_ids"] == [[6, 7, tok.mask_token_id], [0, 7, tok.mask_token_id]]
    assert enc["attention_mask"] == [[1, 1, 1], [0, 1, 1]]


def test_event_types_parallel_stream():
    tok = make_tokenizer()
    enc = tok.encode_histories([["a", "b"]], [["view", "shout"]], return_tensors="pt")
    buy, view = 4, 5  # event types are sorted: buy, view
    assert enc["token_type_ids"].tolist() == [[view, 1]]
    assert isinstance(enc["input_ids"], torch.Tensor)
    assert tok.event_types == ["buy", "view"] and buy == 4


def test_save_and_load_round_trip(tmp_path):
    tok = make_tokenizer()
    tok.save_pretrained(tmp_path)
    loaded = BehaviorTokenizer.from_pretrained(tmp_path)
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.event_types == tok.event_types
    histories = [["d", "a", "x"], ["b"]]
    assert loaded.encode_histories(histories, append_mask=True) == tok.encode_histories(
        histories, append_mask=True
    )
    assert (loaded.padding_side, loaded.truncation_side) == ("left", "left")


def test_whitespace_in_item_ids_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="whitespace"):
        BehaviorTokenizer.from_sequences([["a b"]])


def test_time_gap_buckets_are_log2_seconds():
    from recsft.tokenization import NO_GAP, TIME_GAP_BUCKETS, time_gap_ids

    assert time_gap_ids([]) == []
    assert time_gap_ids([5, 5, 6, 8, 4]) == [NO_GAP, 2, 3, 3, 2]  # 0 s, 1 s, 2 s, negative -> 0
    assert time_gap_ids([0, 3]) == [NO_GAP, 4]  # log2(4) = 2
    assert time_gap_ids([0, 10**12]) == [NO_GAP, TIME_GAP_BUCKETS - 1]


def test_time_gaps_follow_truncation_and_the_appended_mask():
    from recsft.tokenization import NO_GAP

    tok = BehaviorTokenizer.from_sequences([["a", "b", "c", "d"]])
    enc = tok.encode_histories([["a", "b", "c", "d"], ["b"]], timestamps=[[0, 1, 3, 3], []],
                               max_length=3, append_mask=True)
    # "c" keeps its gap to "b" (2 s: bucket 2 + floor(log2 3)) although "b" was cut; the [MASK]
    # has no known gap.
    assert enc["time_gap_ids"] == [[3, 2, NO_GAP], [0, NO_GAP, NO_GAP]]
    assert "time_gap_ids" not in tok.encode_histories([["a"]])


def test_truncation_keeps_the_newest_events_for_every_length():
    """Regression: a history longer than half the budget but within it was cut to
    ``budget - len`` events (a negative slice start)."""
    from recsft.tokenization import BehaviorTokenizer

    items = [f"i{n}" for n in range(60)]
    tokenizer = BehaviorTokenizer.from_sequences([items])
    for length in (1, 5, 25, 26, 37, 49, 50, 51, 60):
        history = items[:length]
        times = list(range(length))
        for append_mask in (False, True):
            encoded = tokenizer.encode_histories([history], [["view"] * length], max_length=50,
                                                 append_mask=append_mask, padding=False,
                                                 timestamps=[times])
            budget = 50 - int(append_mask)
            kept = history[-budget:] if length > budget else history
            expected = tokenizer.items_to_ids(kept) + (
                [tokenizer.mask_token_id] if append_mask else [])
            assert encoded["input_ids"][0] == expected, (length, append_mask)
            assert len(encoded["token_type_ids"][0]) == len(expected)
            assert len(encoded["time_gap_ids"][0]) == len(expected)
