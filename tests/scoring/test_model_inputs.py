"""The one rule that turns histories into model inputs, and every path that must follow it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recsft.data.split import EvalSet
from recsft.errors import RecsftError
from recsft.evaluation.ranking import RankingEvaluator
from recsft.retrieval.recommender import Recommender
from recsft.scoring.inputs import (
    DEFAULT_UNKNOWN,
    InputConfig,
    event_budget,
    input_config,
    model_inputs,
    read_positions,
)
from recsft.tokenization import NO_GAP, UNK, BehaviorTokenizer, time_gap_ids
from tests.retrieval.tiny_run import ITEMS, tiny_parts  # noqa: E402

TYPES = ("view", "cart")
WINDOW = 8  # tiny_parts' max_position_embeddings


def tokenizer_of(items=("a", "b", "c", "d", "e")):
    return BehaviorTokenizer.from_sequences([list(items)], event_types=list(TYPES))


def ids(tokenizer, items):
    return tokenizer.items_to_ids(items)


# ---------------------------------------------------------------- the rule itself


def test_query_events_and_train_keep_the_newest_events_and_mask_only_the_query():
    tok = tokenizer_of()
    history = [["a", "b", "c", "d", "e"]]
    cloze, causal = InputConfig(4, uses_mask_token=True), InputConfig(4)
    query = model_inputs(tok, cloze, history, return_tensors=None)["input_ids"][0]
    assert query == ids(tok, ["c", "d", "e"]) + [tok.mask_token_id]
    assert model_inputs(tok, causal, history, return_tensors=None)["input_ids"][0] == ids(
        tok, ["b", "c", "d", "e"])
    for config in (cloze, causal):
        events = model_inputs(tok, config, history, use="events", return_tensors=None)
        assert events["input_ids"][0] == ids(tok, ["b", "c", "d", "e"])
    # Training: the Cloze collator masks L events; a causal model reads L inputs + the next.
    assert model_inputs(tok, cloze, history, use="train", return_tensors=None)["input_ids"][
        0] == ids(tok, ["b", "c", "d", "e"])
    assert model_inputs(tok, causal, history, use="train", return_tensors=None)["input_ids"][
        0] == ids(tok, ["a", "b", "c", "d", "e"])
    assert [event_budget(cloze, use) for use in ("query", "events", "train")] == [3, 4, 4]
    assert [event_budget(causal, use) for use in ("query", "events", "train")] == [4, 4, 5]


def test_the_rule_is_the_serializer_the_trainer_and_evaluator_always_called():
    tok = tokenizer_of()
    histories = [["a", "b", "zz", "d", "e", "c"], ["c"], []]
    types = [["view", "cart", "view", "view", "cart", "view"], ["cart"], []]
    times = [[0, 5, 70, 70, 4000, 4001], [9], []]
    for masked in (True, False):
        config = InputConfig(4, uses_mask_token=masked, use_time_gaps=True)
        # The evaluator's old call: the newest max_length tokens with the [MASK].
        assert model_inputs(tok, config, histories, types, times, padding=False,
                            return_tensors=None) == tok.encode_histories(
            histories, types, max_length=4, append_mask=masked, padding=False,
            timestamps=times)
        # The training data's old call: max_length events, one more for causal models.
        assert model_inputs(tok, config, histories, types, times, use="train", padding=False,
                            return_tensors=None) == tok.encode_histories(
            histories, types, max_length=4 + (0 if masked else 1), padding=False,
            timestamps=times)


def test_time_gaps_come_only_with_a_model_that_reads_them():
    tok = tokenizer_of()
    history, times = [["a", "b", "c", "d"]], [[0, 1, 61, 3661]]
    plain = model_inputs(tok, InputConfig(3), history, timestamps=times, return_tensors=None)
    assert "time_gap_ids" not in plain
    gaps = model_inputs(tok, InputConfig(3, use_time_gaps=True), history, timestamps=times,
                        return_tensors=None)["time_gap_ids"][0]
    # The oldest kept event's gap is measured to its predecessor in the whole history.
    assert gaps == time_gap_ids(times[0])[1:]
    masked = InputConfig(3, uses_mask_token=True, use_time_gaps=True)
    assert model_inputs(tok, masked, history, timestamps=times, return_tensors=None)[
        "time_gap_ids"][0] == time_gap_ids(times[0])[2:] + [NO_GAP]
    # Without times (none given, or an empty row) every gap is unknown.
    for unknown_times in (None, [[]]):
        assert model_inputs(tok, InputConfig(3, use_time_gaps=True), history, None,
                            unknown_times, return_tensors=None)["time_gap_ids"][0] == [NO_GAP] * 3


def test_unknown_items_are_read_as_unk_by_default_or_dropped_on_request():
    tok = tokenizer_of()
    config = InputConfig(4, use_time_gaps=True)
    history, types, times = [["a", "zz", "b", "yy", "c"]], [["view", "cart"] * 2 + ["view"]], [
        [0, 10, 20, 30, 40]]
    assert DEFAULT_UNKNOWN == "unk"
    unk = model_inputs(tok, config, history, types, times, return_tensors=None)
    assert unk["input_ids"][0] == [tok.convert_tokens_to_ids(UNK) if t in ("zz", "yy") else
                                   ids(tok, [t])[0] for t in ["zz", "b", "yy", "c"]]
    assert unk["token_type_ids"][0] == tok.types_to_ids(["cart", "view", "cart", "view"])
    assert unk == model_inputs(tok, config, [["a", UNK, "b", UNK, "c"]], types, times,
                               return_tensors=None)
    assert read_positions(tok, config, history) == [[1, 2, 3, 4]]
    dropped = model_inputs(tok, config, history, types, times, unknown="drop",
                           return_tensors=None)
    assert dropped["input_ids"][0] == ids(tok, ["a", "b", "c"])
    assert dropped["token_type_ids"][0] == tok.types_to_ids(["view", "view", "view"])
    assert dropped["time_gap_ids"][0] == time_gap_ids([0, 20, 40])
    assert read_positions(tok, config, history, unknown="drop") == [[0, 2, 4]]
    with pytest.raises(RecsftError, match="unknown: expected one of unk, drop"):
        model_inputs(tok, config, history, unknown="skip")


def test_settings_are_read_from_the_models_config_and_rows_must_be_parallel():
    model, tokenizer = tiny_parts("bert4rec")
    settings = input_config(model.config)
    assert settings == InputConfig(WINDOW, uses_mask_token=True, use_time_gaps=False)
    assert input_config(model.config.to_dict()) == settings
    with pytest.raises(TypeError, match="no max_position_embeddings"):
        input_config(SimpleNamespace(uses_mask_token=True))
    with pytest.raises(RecsftError, match="max_position_embeddings: expected a positive"):
        input_config(InputConfig(0))
    with pytest.raises(RecsftError, match="use: expected one of query, events, train"):
        model_inputs(tokenizer, model.config, [["i01"]], use="serve")
    with pytest.raises(RecsftError, match=r"event_types\[0\]: expected 2 entries"):
        model_inputs(tokenizer, model.config, [["i01", "i02"]], [["view"]])
    with pytest.raises(RecsftError, match="timestamps: expected one row per history"):
        model_inputs(tokenizer, model.config, [["i01"]], timestamps=[[1], [2]])


# ---------------------------------------------------------------- every path follows it


def gap_model(model_type):
    """A tiny untrained model that reads event types and time gaps."""
    model, tokenizer = tiny_parts(model_type)
    config = model.config
    config.use_time_gaps = True
    assert config.use_event_types
    torch.manual_seed(1)
    return type(model)(config).eval(), tokenizer


def users(n=12, seed=0, unknown=()):
    """Histories (some longer than the window), event types and times; ``unknown`` names
    take some positions of every history."""
    rng = np.random.default_rng(seed)
    histories, types, times = [], [], []
    for row in range(n):
        length = int(rng.integers(2, 14))
        items = [str(i) for i in rng.choice(ITEMS, size=length)]
        for k, name in enumerate(unknown):
            items[length - 1 - (row + 3 * k) % length] = name  # newest first
        histories.append(items)
        types.append([TYPES[int(t)] for t in rng.integers(0, 2, size=length)])
        times.append(np.cumsum(rng.integers(0, 90_000, size=length)).tolist())
    return histories, types, times


@torch.no_grad()
def encoder_vectors(model, tokenizer, histories, types, times, use):
    """The encoder on the rule's inputs: query vectors, or the mean of the event states."""
    inputs = model_inputs(tokenizer, model.config, histories, types, times, use=use)
    if use == "query":
        return model.encode_sequences(**inputs).numpy()
    states = model.encode(**inputs)
    weights = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
    return ((states * weights).sum(1) / weights.sum(1).clamp(min=1.0)).numpy()


def path_vectors(model, tokenizer, histories, types, times):
    """The user vectors of every path that reads histories, by name."""
    from recsft.tasks.classifier import SequenceClassifier
    from recsft.tasks.clustering import user_vectors
    from recsft.tasks.contrastive import UserContrastiveModel, contrastive_vectors
    from recsft.tasks.finetune import _encode
    from recsft.tasks.labels import TaskExamples

    recommender = Recommender(model, tokenizer)
    examples = TaskExamples([f"u{n}" for n in range(len(histories))], histories, types, times,
                            np.zeros(len(histories), dtype=np.int64), ["a", "b"], 0, 1)
    task_inputs = _encode(tokenizer, model.config, examples)
    torch.manual_seed(0)
    contrastive = UserContrastiveModel(model).eval()
    sequences = SimpleNamespace(items=histories, event_types=types, timestamps=times)
    with torch.no_grad():
        task_query = SequenceClassifier(model, 2, "query").eval().pool(**task_inputs).numpy()
        projected = contrastive.projection(torch.from_numpy(
            encoder_vectors(model, tokenizer, histories, types, times, "events")))
    return {
        "recommender": (recommender.encode(histories, types, times), "query"),
        "clustering query": (user_vectors(recommender, histories, types, "query",
                                          timestamps=times), "query"),
        "clustering mean": (user_vectors(recommender, histories, types, "mean",
                                         timestamps=times), "events"),
        "task": (task_query, "query"),
        "contrastive": (contrastive_vectors(contrastive, recommender, sequences),
                        torch.nn.functional.normalize(projected, dim=-1).numpy()),
    }


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec", "gru4rec"])
def test_clustering_task_and_recommender_vectors_are_the_encoders_on_the_same_inputs(
        model_type):
    model, tokenizer = gap_model(model_type)
    histories, types, times = users()
    for name, (vectors, expected) in path_vectors(model, tokenizer, histories, types,
                                                  times).items():
        if isinstance(expected, str):
            expected = encoder_vectors(model, tokenizer, histories, types, times, expected)
        np.testing.assert_array_equal(vectors, expected, err_msg=name)
    # The time gaps are read: clustering used to encode without them.
    from recsft.tasks.clustering import user_vectors

    recommender = Recommender(model, tokenizer)
    assert not np.allclose(user_vectors(recommender, histories, types, "mean", timestamps=times),
                           user_vectors(recommender, histories, types, "mean"))


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_the_evaluator_reads_the_same_inputs_and_scores_the_same_vectors(model_type):
    from recsft.scoring.model import ModelScorer

    model, tokenizer = gap_model(model_type)
    histories, types, times = users(n=10, seed=1, unknown=("zz-new",))
    eval_set = EvalSet([f"u{n}" for n in range(10)], histories, types, ["i01"] * 10,
                       history_timestamps=times)
    evaluator = RankingEvaluator(eval_set, tokenizer, model.config, ks=(2,), batch_size=10)
    rule = model_inputs(tokenizer, model.config, histories, types, times, padding=False,
                        return_tensors=None)
    assert evaluator._input_ids == rule["input_ids"]
    assert evaluator._token_type_ids == rule["token_type_ids"]
    assert evaluator._time_gap_ids == rule["time_gap_ids"]
    assert evaluator.protocol.max_length == WINDOW and evaluator.unknown_history_share > 0
    batch = evaluator._batches(None, 10)[0]
    order = batch["index"].tolist()
    expected = encoder_vectors(model, tokenizer, histories, types, times, "query")[order]
    torch.testing.assert_close(ModelScorer(model).query_vectors(batch).numpy(), expected,
                               atol=1e-5, rtol=1e-5)  # oneDNN-packed maps on the CPU


@pytest.mark.parametrize("model_type", ["sasrec", "bert4rec"])
def test_unknown_items_are_read_as_unk_on_every_path(model_type):
    from recsft.tasks.clustering import user_vectors

    model, tokenizer = gap_model(model_type)
    histories, types, times = users(seed=2, unknown=("zz-new", "yy-new"))
    as_unk = [[UNK if item.endswith("-new") else item for item in row] for row in histories]
    assert histories != as_unk
    assert model_inputs(tokenizer, model.config, histories, types, times,
                        return_tensors=None) != model_inputs(
        tokenizer, model.config, histories, types, times, unknown="drop", return_tensors=None)
    # Vectors: every path reads an unknown item exactly as [UNK].
    got = path_vectors(model, tokenizer, histories, types, times)
    reference = path_vectors(model, tokenizer, as_unk, types, times)
    for name in got:
        np.testing.assert_array_equal(got[name][0], reference[name][0], err_msg=name)
    recommender = Recommender(model, tokenizer)
    # The evaluator's inputs.
    eval_set = EvalSet([f"u{n}" for n in range(len(histories))], histories, types,
                       ["i01"] * len(histories), history_timestamps=times)
    evaluator = RankingEvaluator(eval_set, tokenizer, model.config, ks=(2,))
    assert evaluator._input_ids == model_inputs(tokenizer, model.config, as_unk, types, times,
                                                padding=False, return_tensors=None)["input_ids"]
    # Explanations weigh the unknown events too, as the model reads them.
    for method in ("occlusion", "attention"):
        weights = recommender.explain(histories[0], "i03", event_types=types[0],
                                      timestamps=times[0], method=method)
        same = recommender.explain(as_unk[0], "i03", event_types=types[0],
                                   timestamps=times[0], method=method)
        assert [(w.position, w.weight) for w in weights] == [(w.position, w.weight)
                                                             for w in same]
        read = read_positions(tokenizer, model.config, [histories[0]])[0]
        assert sorted(w.position for w in weights) == read
        assert {histories[0][w.position] for w in weights} >= {"zz-new", "yy-new"}
    # Items: the window counts the unknown events; they carry no item vector.
    matrix = recommender.item_matrix()
    items = user_vectors(recommender, histories, types, "items")
    for row, positions in enumerate(read_positions(tokenizer, model.config, histories,
                                                   use="events")):
        known = [ITEMS.index(histories[row][p]) for p in positions
                 if not histories[row][p].endswith("-new")]
        np.testing.assert_allclose(items[row], matrix[known].mean(axis=0), rtol=1e-6)
    # Recommendations rank by the same vector; only a history with no known item falls back
    # to popularity.
    vector = recommender.encode([histories[0]], [types[0]], [times[0]])[0]
    top = recommender.recommend(histories[0], k=3, event_types=types[0], timestamps=times[0])
    scores = recommender.item_matrix() @ vector
    assert [score for _, score in top] == pytest.approx(
        sorted((scores[ITEMS.index(i)] for i, _ in top), reverse=True), rel=1e-5)
    popular = Recommender(model, tokenizer, popularity={"i05": 3.0, "i07": 9.0})
    assert [i for i, _ in popular.recommend(["zz-new", "yy-new"], k=2)] == ["i07", "i05"]
