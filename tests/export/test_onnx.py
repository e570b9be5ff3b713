"""ONNX export of the sequence encoder (recsft.export): on tiny trained runs of every model type
and item representation, onnxruntime's user vectors equal the eager model's within 1e-4 and
give the Recommender's top-10 for every test user; the CLI writes the file into the run (which
still verifies) and never overwrites a file recsft did not write; a broken file is one error
line."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from recsft.errors import RecsftError, ResourceError, RunFolderError
from tests.conftest import tiny_config

#: name -> (model type, model fields, reads item text)
VARIANTS = {
    # Two layers: with one, only the last query's attention row counts, which no mask changes.
    "sasrec": ("sasrec", {"num_hidden_layers": 2}, False),
    "bert4rec": ("bert4rec", {"num_hidden_layers": 2}, False),
    "gru4rec": ("gru4rec", {"num_hidden_layers": 2}, False),
    # Time gaps and item categories: one more input and an embedding bag.
    "lstm_attention": ("lstm_attention", {"use_time_gaps": True, "use_categories": True}, False),
    "sasrec-text": ("sasrec", {"item_representation": "text"}, True),
    "bert4rec-id+text": ("bert4rec", {"item_representation": "id+text", "text_fusion": "gate"},
                         True),
}
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """``train(name)``: the folder of a tiny run of :data:`VARIANTS` ``[name]``, trained once."""
    root = tmp_path_factory.mktemp("onnx")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSFT_CACHE", str(root / "cache"))
    done = {}

    def trained(name: str):
        if name not in done:
            done[name] = _train(root, name)
        return done[name]

    yield trained
    mp.undo()


def _train(root, name):
    import pandas as pd

    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    model_type, fields, text = VARIANTS[name]
    raw = tiny_config(root / "runs", model_type=model_type, epochs=2).to_dict()
    raw["name"] = name
    raw["model"].update(fields)
    if text:
        from recsft.runs.data import load_log
        from tests.text.checkpoint import WORDS, tiny_bert

        bert = root / "bert"
        if not bert.exists():
            tiny_bert(bert, pooling="mean")
        items = load_log(RunConfig.from_dict(raw)).items
        words = [w for w in WORDS if w.isascii() and w.isalpha()]
        names = sorted(items["category"].unique())
        texts = {c: " ".join(words[3 * n:3 * n + 3]) for n, c in enumerate(names)}
        table = root / "items.csv"
        pd.DataFrame({"item_id": items["item_id"],
                      "title": [texts[c] for c in items["category"]]}).to_csv(table, index=False)
        raw["data"].update(item_table=str(table), item_text="title", text_encoder=str(bert))
    config = RunConfig.from_dict(raw)
    run_training(config)
    return Path(config.run_dir)


@pytest.fixture(scope="module", params=list(VARIANTS))
def exported(request, train, tmp_path_factory):
    """A copy of each variant's run with its encoder exported by the API; returns the run
    folder."""
    from recsft.export import export_onnx

    folder = tmp_path_factory.mktemp("exported") / request.param
    shutil.copytree(train(request.param), folder)
    path = export_onnx(folder)
    assert path.name == "encoder.onnx" and path.is_file()
    return path.parent


def _batches(test, size):
    for start in range(0, len(test), size):
        stop = start + size
        yield (test.histories[start:stop], test.history_event_types[start:stop],
               test.history_timestamps[start:stop] or None)


def test_user_vectors_and_top10_equal_eager_for_every_test_user(exported):
    from recsft import Recommender
    from recsft.export import OnnxEncoder
    from recsft.runs import Run

    encoder = OnnxEncoder.for_run(exported, threads=1)
    recommender = Recommender.from_pretrained(exported)
    test = Run.open(exported).splits().test
    assert len(test) > 500
    worst, checked = 0.0, 0
    # Batches of 97: many full ones and a smaller last one.
    for histories, types, times in _batches(test, 97):
        inputs = recommender.model_inputs(histories, types, times)
        with torch.no_grad():
            eager = recommender.model.encode_sequences(**inputs).numpy()
        onnx = encoder.encode(inputs)
        assert onnx.dtype == np.float32 and onnx.shape == eager.shape
        assert float(eager.std()) > 1e-3  # real vectors, not zeros on both sides
        worst = max(worst, float(np.abs(onnx - eager).max()))
        # Top-10 as the Recommender ranks: the run's index, the history excluded.
        _, found = recommender.index.search(onnx, 10, exclude=[list(h) for h in histories])
        expected = recommender.recommend_batch(histories, 10, event_types=types,
                                               timestamps=times)
        for ids, answer in zip(found, expected):
            assert [i for i in ids if i is not None] == [item for item, _ in answer]
            checked += 1
    assert checked == len(test)
    assert worst <= TOLERANCE, worst
    recorded = float(encoder.metadata["recsft.max_abs_diff"])
    assert 0.0 <= recorded <= TOLERANCE


def test_batch_sizes_and_lengths_one_and_many(exported):
    """One session answers batches of 1 and many, lengths 1 to past the window, padded or not
    (eager takes shortcuts without padding: no mask, no packing), as eager does, and a user's
    vector does not depend on the batch around it."""
    from recsft import Recommender
    from recsft.export import OnnxEncoder

    encoder = OnnxEncoder.for_run(exported)
    recommender = Recommender.from_pretrained(exported)
    items = recommender.tokenizer.item_ids
    window = recommender.max_length
    rng = np.random.default_rng(0)

    def history(n):
        return [items[i] for i in rng.integers(0, len(items), n)]

    cases = [[history(1)], [history(window + 5)], [history(window - 1)],
             [history(n % (window + 3) + 1) for n in range(57)],
             [history(5) for _ in range(9)]]  # equal lengths: no padding at all
    for histories in cases:
        inputs = recommender.model_inputs(histories)
        with torch.no_grad():
            eager = recommender.model.encode_sequences(**inputs).numpy()
        onnx = encoder.encode(inputs)
        assert onnx.shape == (len(histories), encoder.dim)
        assert float(np.abs(onnx - eager).max()) <= TOLERANCE
    mixed = cases[3]
    alone = np.concatenate([encoder.encode(recommender.model_inputs([h])) for h in mixed[:8]])
    together = encoder.encode(recommender.model_inputs(mixed[:8]))
    assert float(np.abs(alone - together).max()) <= 1e-5


def test_the_cli_writes_the_encoder_into_the_run_which_still_verifies(train, tmp_path, capsys):
    from recsft.cli import main
    from recsft.export import OnnxEncoder
    from recsft.runs import Run

    run_dir = tmp_path / "run"
    shutil.copytree(train("gru4rec"), run_dir)
    assert main(["export", "onnx", "--run", str(run_dir)]) == 0
    path = run_dir / "encoder.onnx"
    assert str(path) in capsys.readouterr().out
    listed = Run.open(run_dir).manifest.files["encoder.onnx"]
    assert listed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["run", "verify", "--run", str(run_dir)]) == 0
    assert "complete and intact" in capsys.readouterr().out
    assert OnnxEncoder.for_run(run_dir).model_type == "gru4rec"
    # Again (its own file is replaced), and elsewhere with another opset, as JSON.
    assert main(["export", "onnx", "--run", str(run_dir)]) == 0
    assert main(["run", "verify", "--run", str(run_dir)]) == 0
    outside = tmp_path / "elsewhere" / "gru.onnx"
    capsys.readouterr()
    assert main(["export", "onnx", "--run", str(run_dir), "--output", str(outside),
                 "--opset", "18", "--json"]) == 0
    import json

    record = json.loads(capsys.readouterr().out)
    assert record["opset"] == 18 and record["max_abs_diff"] <= TOLERANCE
    assert "gru.onnx" not in Run.open(run_dir).manifest.files
    assert OnnxEncoder.for_run(run_dir, path=outside).opset == 18
    assert main(["export", "onnx", "--run", str(run_dir), "--output", str(outside)]) == 0


def test_never_overwrites_what_recsft_did_not_write(train, tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    from recsft.cli import main

    run_dir = train("sasrec")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    theirs = tmp_path / "theirs.onnx"
    theirs.write_bytes(b"somebody's file")
    # A valid ONNX model, but not one recsft exported.
    other = tmp_path / "identity.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), other)
    other_bytes = other.read_bytes()
    for output, kept in ((theirs, b"somebody's file"), (other, other_bytes)):
        assert main(["export", "onnx", "--run", str(run_dir), "--output", str(output)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("recsft export onnx: error: --output")
        assert "recsft did not write" in err[-1]
        assert output.read_bytes() == kept
    # Inside the run folder: only a top-level *.onnx name; the run's own files are never hit.
    for name in ("config.json", "model.safetensors", "data/x.onnx"):
        assert main(["export", "onnx", "--run", str(run_dir), "--output",
                     str(run_dir / name)]) == 2
        assert "only a top-level '*.onnx' name" in capsys.readouterr().err
    assert main(["export", "onnx", "--run", str(run_dir), "--opset", "12"]) == 2
    assert "--opset 12: expected an integer from 18" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert after == before
    # An encoder.onnx the user put into the run folder is not replaced by the default either.
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "encoder.onnx").write_bytes(b"the user's own")
    assert main(["export", "onnx", "--run", str(copy)]) == 2
    assert "recsft did not write" in capsys.readouterr().err
    assert (copy / "encoder.onnx").read_bytes() == b"the user's own"


def test_a_broken_or_foreign_file_is_one_error_line(train, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from recsft.export import OnnxEncoder, export_onnx

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 this is not a protobuf \xff\xfe" * 40)
    good = export_onnx(train("sasrec"), tmp_path / "good.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (garbage, truncated):
        with pytest.raises(RecsftError) as caught:
            OnnxEncoder(path)
        message = str(caught.value)
        assert "\n" not in message and message.startswith(f"{path}: not a valid ONNX model")
    foreign = tmp_path / "foreign.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), foreign)
    with pytest.raises(RecsftError, match="not a sequence encoder recsft exported"):
        OnnxEncoder(foreign)
    with pytest.raises(RecsftError, match="no such ONNX file"):
        OnnxEncoder(tmp_path / "missing.onnx")
    with pytest.raises(RecsftError, match="threads"):
        OnnxEncoder(good, threads=0)


def test_an_encoder_from_other_weights_is_refused(train, tmp_path):
    from recsft.export import OnnxEncoder, export_onnx

    sasrec = export_onnx(train("sasrec"), tmp_path / "sasrec.onnx")
    with pytest.raises(RunFolderError, match="exported from other weights"):
        OnnxEncoder.for_run(train("gru4rec"), path=sasrec)
    with pytest.raises(RunFolderError, match="no encoder.onnx; export it"):
        OnnxEncoder.for_run(train("bert4rec"))


def test_encode_checks_its_inputs(train, tmp_path):
    from recsft import Recommender
    from recsft.export import OnnxEncoder, export_onnx

    run_dir = train("lstm_attention")
    encoder = OnnxEncoder(export_onnx(run_dir, tmp_path / "lstm.onnx"))
    assert encoder.input_names == ["input_ids", "token_type_ids", "attention_mask",
                                   "time_gap_ids"]
    recommender = Recommender.from_pretrained(run_dir)
    inputs = recommender.model_inputs([recommender.tokenizer.item_ids[:4]], timestamps=[[0] * 4])
    with pytest.raises(RecsftError, match="missing 'time_gap_ids'"):
        encoder.encode({k: v for k, v in inputs.items() if k != "time_gap_ids"})
    too_long = {k: torch.cat([v] * 10, dim=1) for k, v in inputs.items()}
    with pytest.raises(ResourceError, match="exceeds the model's window"):
        encoder.encode(too_long)
    unknown = dict(inputs, input_ids=inputs["input_ids"] + 10_000)
    with pytest.raises(ResourceError, match="input_ids outside"):
        encoder.encode(unknown)
    numpy_inputs = {k: v.numpy() for k, v in inputs.items()}
    assert np.array_equal(encoder.encode(numpy_inputs), encoder.encode(inputs))
    assert encoder.encode({k: v[:0] for k, v in numpy_inputs.items()}).shape == (0, encoder.dim)


def test_traceable_steps_equal_the_models_own_and_are_undone():
    from recsft.export.traceable import full_attention_mask, run_compacted, traceable
    from recsft.modeling.rnn import run_over_real_positions
    from recsft.modeling.sasrec import _sdpa_causal_mask
    from tests.retrieval.tiny_run import tiny_parts

    torch.manual_seed(0)
    gru = torch.nn.GRU(8, 6, num_layers=2, batch_first=True).eval()
    inputs = torch.randn(5, 7, 8)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1],
                         [1, 0, 1, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0]])  # padding anywhere
    with torch.no_grad():
        assert torch.allclose(run_compacted(gru, inputs, mask),
                              run_over_real_positions(gru, inputs, mask), atol=1e-6)
    padded = mask[:3]
    assert torch.equal(full_attention_mask(padded, causal=True), _sdpa_causal_mask(padded))
    assert torch.equal(full_attention_mask(padded, causal=False),
                       padded.bool()[:, None, None, :])
    for model_type, name in (("sasrec", "_attention_mask"), ("gru4rec", "encode")):
        model, _ = tiny_parts(model_type)
        with traceable(model):
            assert name in vars(model)
        assert name not in vars(model)
