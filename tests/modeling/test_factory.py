"""The model factory: model classes by model type, models built from a run config."""

import subprocess
import sys

import numpy as np
import pytest

from recsft.config import ConfigError, RunConfig
from recsft.modeling import MODEL_FIELDS, model_types
from recsft.modeling.factory import create_model, model_classes, model_config, uses_mask_token
from recsft.tokenization import BehaviorTokenizer

TOKENIZER = BehaviorTokenizer.from_sequences([[f"i{k}" for k in range(12)]])


@pytest.mark.parametrize("model_type", sorted(MODEL_FIELDS))
def test_model_classes_by_run_and_by_saved_model_type(model_type):
    config_class, model_class = model_classes(model_type)
    assert (config_class, model_class) == model_types()[model_type]
    assert config_class.model_type == f"recsft_{model_type}"
    assert model_classes(config_class.model_type) == (config_class, model_class)
    assert issubclass(config_class, MODEL_FIELDS[model_type])


def test_unknown_model_type_is_a_config_error():
    for name in ("transformer-xl", "recsft_", None, ["sasrec"]):
        with pytest.raises(ConfigError, match="unknown model_type .*; expected one of bert4rec, "
                                              "gru4rec, lstm_attention, sasrec"):
            model_classes(name)


def test_uses_mask_token_only_for_the_cloze_model():
    assert {t: uses_mask_token(t) for t in MODEL_FIELDS} == {
        "bert4rec": True, "sasrec": False, "gru4rec": False, "lstm_attention": False}
    assert uses_mask_token("recsft_bert4rec")


def test_reading_a_config_and_the_mask_rule_do_not_import_transformers():
    script = ("import sys\nfrom recsft.config import RunConfig\n"
              "from recsft.modeling.factory import uses_mask_token\n"
              "c = RunConfig.from_yaml('configs/sasrec-ml100k.yaml')\n"
              "c.to_dict(); assert not uses_mask_token(c.model.model_type)\n"
              "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=__file__.rsplit("/tests/", 1)[0])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("model_type", sorted(MODEL_FIELDS))
def test_create_model_sizes_the_model_to_the_tokenizer_and_data(model_type):
    config = RunConfig.from_dict({"data": {"max_length": 12},
                                  "model": {"model_type": model_type, "hidden_size": 16}})
    model = create_model(config, TOKENIZER)
    assert type(model) is model_classes(model_type)[1]
    assert model.config.vocab_size == len(TOKENIZER)
    assert model.config.max_position_embeddings == 12
    assert model.config.hidden_size == 16
    assert model.config.mask_token_id == TOKENIZER.mask_token_id
    assert model.config.uses_mask_token == uses_mask_token(model_type)


def test_categories_come_from_the_table():
    config = RunConfig.from_dict({"model": {"model_type": "sasrec", "use_categories": True,
                                            "hidden_size": 8}})
    with pytest.raises(ValueError, match="model.use_categories needs the item category table"):
        create_model(config, TOKENIZER)
    table = np.zeros((len(TOKENIZER), 2), dtype=np.int64)
    table[TOKENIZER.first_item_id:, 0] = 1 + np.arange(12) % 3
    built = model_config(config, TOKENIZER, table)
    assert (built.num_categories, built.max_item_categories) == (3, 2)
    assert create_model(config, TOKENIZER, table).config.num_categories == 3


def test_model_fields_of_another_model_type_are_rejected():
    config = RunConfig.from_dict({"model": {"model_type": "sasrec", "norm_first": True}})
    assert create_model(config, TOKENIZER).config.norm_first
    config.model.model_type = "gru4rec"
    with pytest.raises(ValueError, match="model.norm_first does not apply to model_type "
                                         "'gru4rec'"):
        create_model(config, TOKENIZER)


def test_the_light_and_the_full_registries_name_the_same_model_types():
    assert list(MODEL_FIELDS) == list(model_types())
