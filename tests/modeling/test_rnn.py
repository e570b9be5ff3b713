import pytest
import torch
from transformers import AutoConfig, AutoModel

from recsft.modeling.configuration_rnn import GRU4RecConfig, LSTMAttentionConfig
from recsft.modeling.rnn import GRU4RecModel, LSTMAttentionModel, run_over_real_positions

# recsft.modeling/__init__.py registers the family; registering here too keeps these tests
# independent of that (exist_ok makes it idempotent).
for _config, _model in ((GRU4RecConfig, GRU4RecModel), (LSTMAttentionConfig, LSTMAttentionModel)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)

VOCAB, FIRST, NUM_ITEMS = 54, 4, 50


class RecurrentModelTester:
    """Tiny configs and batches for one recurrent model class."""

    def __init__(self, model_class, **config_kwargs):
        self.model_class = model_class
        self.config_class = model_class.config_class
        self.config_kwargs = config_kwargs

    def config(self, **kwargs):
        fields = dict(vocab_size=VOCAB, first_item_id=FIRST, num_token_types=6, hidden_size=16,
                      num_hidden_layers=2, max_position_embeddings=12)
        fields.update(self.config_kwargs)
        fields.update(kwargs)
        return self.config_class(**fields)

    def model(self, **kwargs):
        torch.manual_seed(0)
        return self.model_class(self.config(**kwargs)).eval()

    @staticmethod
    def batch(seed=1, length=8):
        """Three left-padded histories (3, 2 and 0 padding positions), no [MASK]."""
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(FIRST, VOCAB, (3, length), generator=g)
        types = torch.randint(4, 6, (3, length), generator=g)
        ids[0, :3] = 0
        ids[1, :2] = 0
        types[ids == 0] = 0
        return ids, types, (ids != 0).long()


TESTERS = {
    "gru4rec": RecurrentModelTester(GRU4RecModel),
    "gru4rec_wide_embeddings": RecurrentModelTester(GRU4RecModel, embedding_size=24),
    "gru4rec_no_projection": RecurrentModelTester(GRU4RecModel, use_output_projection=False),
    "lstm_additive": RecurrentModelTester(LSTMAttentionModel),
    "lstm_dot": RecurrentModelTester(LSTMAttentionModel, attention_type="dot", embedding_size=24),
}


@pytest.fixture(params=list(TESTERS), ids=list(TESTERS))
def tester(request):
    return TESTERS[request.param]


def test_shapes_loss_and_tied_scores(tester):
    model = tester.model()
    width = model.config.embedding_size
    ids, types, mask = tester.batch()
    users = model.encode_sequences(ids, types, mask)
    assert users.shape == (3, width)
    assert model.item_embeddings().shape == (NUM_ITEMS, width)
    assert model.item_embeddings().data_ptr() == model.embeddings.items.weight[FIRST:].data_ptr()
    out = model(ids, types, mask)
    assert out.loss is None and out.logits is None
    assert out.last_hidden_state.shape == (3, 8, 16)

    # Next-item labels at every real position but the last, plus a held-out next item.
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = torch.where(mask[:, :-1].bool(), ids[:, 1:], -100)
    labels[:, -1] = torch.tensor([5, 9, 53])
    out = model(ids, types, mask, labels=labels)
    selected = labels != -100
    assert out.logits.shape == (int(selected.sum()), NUM_ITEMS)
    # The output layer is the item embedding matrix: logits == queries · items.
    queries = model.next_item_queries(ids, types, mask)
    torch.testing.assert_close(out.logits, queries[selected] @ model.item_embeddings().T)
    torch.testing.assert_close(queries[:, -1], users)
    expected = torch.nn.functional.cross_entropy(out.logits, labels[selected] - FIRST)
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("loss", ["sampled_softmax", "gbce"])
def test_sampled_losses_from_the_config(tester, loss):
    model = tester.model(loss=loss, num_negatives=8).train()
    ids, types, mask = tester.batch()
    labels = torch.where(mask.bool(), ids, -100)
    out = model(ids, types, mask, labels=labels)
    assert out.logits is None and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.embeddings.items.weight.grad is not None


def test_causal_outputs_ignore_later_items(tester):
    model = tester.model()
    ids, types, mask = tester.batch()
    changed, changed_types = ids.clone(), types.clone()
    changed[:, 5:] = torch.randint(FIRST, VOCAB, (3, 3), generator=torch.Generator().manual_seed(7))
    changed_types[:, 5:] = 9 - types[:, 5:]  # 4 <-> 5
    before = model.next_item_queries(ids, types, mask)
    after = model.next_item_queries(changed, changed_types, mask)
    torch.testing.assert_close(after[:, :5], before[:, :5])
    assert not torch.allclose(after[:, 5:], before[:, 5:])


def test_left_padding_does_not_change_outputs(tester):
    model = tester.model()
    ids, types, mask = tester.batch()
    queries = model.next_item_queries(ids, types, mask)
    users = model.encode_sequences(ids, types, mask)
    # Row 0 alone without its padding, then with 4 more padding positions in a wider batch.
    torch.testing.assert_close(
        model.encode_sequences(ids[:1, 3:], types[:1, 3:], mask[:1, 3:]), users[:1]
    )
    pad = torch.zeros(3, 4, dtype=torch.long)
    wide = (torch.cat([pad, ids], 1), torch.cat([pad, types], 1), torch.cat([pad, mask], 1))
    torch.testing.assert_close(model.encode_sequences(*wide), users)
    torch.testing.assert_close(model.next_item_queries(*wide)[:, 4:][mask.bool()],
                               queries[mask.bool()])
    # What sits at padded positions is never read.
    noisy_ids = torch.where(mask.bool(), ids, torch.randint(FIRST, VOCAB, ids.shape))
    noisy_types = torch.where(mask.bool(), types, 5)
    torch.testing.assert_close(model.encode_sequences(noisy_ids, noisy_types, mask), users)


def test_padded_positions_and_empty_histories_are_zero_states(tester):
    model = tester.model()
    ids, types, mask = tester.batch()
    ids[2], types[2], mask[2] = 0, 0, 0  # a user without history
    hidden = model(ids, types, mask).last_hidden_state
    assert torch.count_nonzero(hidden[~mask.bool()]) == 0
    assert torch.count_nonzero(hidden[0, 3:].abs().sum(-1)) == 5
    users = model.encode_sequences(ids, types, mask)
    assert torch.isfinite(users).all()


def test_default_attention_mask_from_pad_ids(tester):
    model = tester.model()
    ids, types, mask = tester.batch()
    torch.testing.assert_close(model.encode_sequences(ids, types),
                               model.encode_sequences(ids, types, mask))


def test_save_load_round_trip_through_auto_classes(tester, tmp_path):
    model = tester.model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.model_type == model.config.model_type
    assert config.uses_mask_token is False
    assert config.to_diff_dict() == model.config.to_diff_dict()
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    ids, types, mask = tester.batch()
    torch.testing.assert_close(loaded.encode_sequences(ids, types, mask),
                               model.encode_sequences(ids, types, mask))
    torch.testing.assert_close(loaded.next_item_queries(ids, types, mask),
                               model.next_item_queries(ids, types, mask))


def test_initialisation(tester):
    model = tester.model()
    assert model.item_embeddings().std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.count_nonzero(model.embeddings.items.weight[0]) == 0
    lstm = isinstance(model.rnn, torch.nn.LSTM)
    gates, size = (4 if lstm else 3), model.rnn.hidden_size
    for name, param in model.rnn.named_parameters():
        if name.startswith("weight_hh"):
            for gate in param.detach().chunk(gates):
                torch.testing.assert_close(gate @ gate.T, torch.eye(size), atol=1e-5, rtol=0)
        elif name.startswith("bias_ih") and lstm:
            expected = torch.zeros(gates * size)
            expected[size:2 * size] = 1.0  # forget gate
            torch.testing.assert_close(param.detach(), expected)
        elif name.startswith("bias"):
            assert torch.count_nonzero(param) == 0


@pytest.fixture
def one_thread():
    """Tiny RNN steps are slower with several threads on a busy machine (about 1 s in all)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_learns_a_deterministic_successor_pattern(tester, one_thread):
    """Item i is always followed by item i + 1: top-1 must go above 0.9 within 100 steps."""
    model = tester.model(hidden_dropout_prob=0.0, hidden_size=32, num_hidden_layers=1).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    g = torch.Generator().manual_seed(0)

    def toy_batch(size):
        starts = torch.randint(0, NUM_ITEMS, (size, 1), generator=g)
        items = (starts + torch.arange(9)) % NUM_ITEMS + FIRST  # (size, 9)
        ids, labels = items[:, :-1].clone(), items[:, 1:].clone()
        pads = torch.randint(0, 6, (size,), generator=g)
        padded = torch.arange(8)[None] < pads[:, None]
        ids[padded], labels[padded] = 0, -100
        types = torch.where(padded, 0, 4)
        return ids, types, (~padded).long(), labels

    for _ in range(100):
        ids, types, mask, labels = toy_batch(32)
        loss = model(ids, types, mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    ids, types, mask, labels = toy_batch(256)
    with torch.no_grad():
        scores = model.encode_sequences(ids, types, mask) @ model.item_embeddings().T
    accuracy = (scores.argmax(-1) == labels[:, -1] - FIRST).float().mean().item()
    assert accuracy > 0.9


def test_run_over_real_positions_matches_unpadded_runs():
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 5, batch_first=True)
    inputs = torch.randn(3, 6, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1]])
    states = run_over_real_positions(gru, inputs, mask)
    for row in range(3):
        real = mask[row].bool()
        alone = gru(inputs[row:row + 1, real])[0][0]
        torch.testing.assert_close(states[row, real], alone)
        assert torch.count_nonzero(states[row, ~real]) == 0


def test_config_fields_and_validation():
    for config_class in (GRU4RecConfig, LSTMAttentionConfig):
        config = config_class(hidden_size=32)
        assert config.uses_mask_token is False
        assert config.embedding_size == 32
        assert (config.loss, config.num_negatives, config.negative_sampling, config.gbce_t) == (
            "ce", 256, "uniform", 0.75
        )
        assert config.num_items == 96
        assert config.to_dict()["uses_mask_token"] is False
        with pytest.raises(ValueError, match="uses_mask_token must be False"):
            config_class(uses_mask_token=True)
        with pytest.raises(ValueError, match="num_hidden_layers"):
            config_class(num_hidden_layers=0)
    assert GRU4RecConfig.model_type == "recsft_gru4rec"
    assert LSTMAttentionConfig.model_type == "recsft_lstm_attention"
    with pytest.raises(ValueError, match="use_output_projection is required"):
        GRU4RecConfig(hidden_size=32, embedding_size=16, use_output_projection=False)
    with pytest.raises(ValueError, match="unknown attention_type"):
        LSTMAttentionConfig(attention_type="multihead")
