"""The model configs share their fields through one declaration, load what earlier versions
saved, and round-trip through save_pretrained / from_pretrained and AutoConfig."""

import dataclasses
import json

import pytest
from transformers import AutoConfig

from recsft.modeling import MODEL_FIELDS, model_types
from recsft.modeling.configuration_fields import (
    RecurrentFields,
    SequenceModelFields,
    TransformerFields,
)

CONFIG_CLASSES = {model_type: config for model_type, (config, _) in model_types().items()}


def _own_fields(cls):
    return {f.name: f.default for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("model_type", sorted(MODEL_FIELDS))
def test_a_config_class_is_its_fields_plus_pretrained_config(model_type):
    config_class, fields_class = CONFIG_CLASSES[model_type], MODEL_FIELDS[model_type]
    config = config_class()
    for name, default in _own_fields(fields_class).items():
        expected = config.hidden_size if name == "embedding_size" and default is None else default
        assert getattr(config, name) == expected, name
    assert set(fields_class.field_names()) <= set(config.to_dict())


def test_fields_shared_by_every_model_are_declared_once():
    shared = set.intersection(*(set(f.field_names()) for f in MODEL_FIELDS.values()))
    assert shared == set(SequenceModelFields.field_names())
    declared = {}
    for cls in (SequenceModelFields, TransformerFields, RecurrentFields, *MODEL_FIELDS.values()):
        for name in cls.__annotations__:
            declared.setdefault(name, []).append(cls.__name__)
    # A field is declared again only to state the model's own default.
    again = {name: owners for name, owners in declared.items() if len(owners) > 1}
    assert again == {
        "uses_mask_token": ["SequenceModelFields", "Bert4RecFields"],
        "num_hidden_layers": ["SequenceModelFields", "RecurrentFields"],
        "num_attention_heads": ["TransformerFields", "SASRecFields"],
        "intermediate_size": ["TransformerFields", "SASRecFields"],
        "hidden_act": ["TransformerFields", "SASRecFields"],
        "use_output_transform": ["TransformerFields", "SASRecFields"],
    }
    for model_type, cls in MODEL_FIELDS.items():
        assert issubclass(CONFIG_CLASSES[model_type], cls)


def test_the_models_differ_from_the_shared_defaults_where_the_papers_do():
    sasrec, bert4rec = MODEL_FIELDS["sasrec"](), MODEL_FIELDS["bert4rec"]()
    assert (sasrec.num_attention_heads, sasrec.intermediate_size, sasrec.hidden_act,
            sasrec.use_output_transform) == (1, 64, "relu", False)
    assert (bert4rec.num_attention_heads, bert4rec.intermediate_size, bert4rec.hidden_act,
            bert4rec.use_output_transform, bert4rec.uses_mask_token) == (2, 256, "gelu", True, True)
    assert MODEL_FIELDS["gru4rec"]().num_hidden_layers == 1


@pytest.mark.parametrize("model_type", sorted(MODEL_FIELDS))
def test_save_and_load_round_trip(model_type, tmp_path):
    config_class = CONFIG_CLASSES[model_type]
    config = config_class(vocab_size=40, hidden_size=16, use_time_gaps=True, num_negatives=7)
    config.save_pretrained(tmp_path)
    again = config_class.from_pretrained(tmp_path)
    assert again.to_diff_dict() == config.to_diff_dict()
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is config_class and loaded.to_diff_dict() == config.to_diff_dict()
    assert loaded.model_type == f"recsft_{model_type}"


# config.json files as an earlier version (explicit __init__ per class) wrote them.
EARLIER = {
    "gru4rec": {
        "architectures": ["GRU4RecModel"], "dtype": "float32", "embedding_size": 64,
        "first_item_id": 4, "gbce_t": 0.75, "hidden_dropout_prob": 0.3, "hidden_size": 64,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "loss": "ce", "mask_token_id": 2,
        "max_item_categories": 1, "max_position_embeddings": 50,
        "model_type": "recsft_gru4rec", "negative_sampling": "uniform", "num_categories": 0,
        "num_hidden_layers": 1, "num_negatives": 256, "num_token_types": 4, "pad_token_id": 0,
        "transformers_version": "5.25.0", "use_event_types": False,
        "use_output_projection": True, "use_time_gaps": False, "uses_mask_token": False,
        "vocab_size": 34,
    },
    "sasrec": {
        "add_cross_attention": False, "architectures": ["SASRecModel"],
        "attention_probs_dropout_prob": 0.2, "dtype": "float32", "first_item_id": 4,
        "gbce_t": 0.75, "hidden_act": "relu", "hidden_dropout_prob": 0.2, "hidden_size": 64,
        "initializer_range": 0.02, "intermediate_size": 256, "is_decoder": True,
        "layer_norm_eps": 1e-12, "loss": "ce", "mask_token_id": 2, "max_item_categories": 1,
        "max_position_embeddings": 200, "model_type": "recsft_sasrec",
        "negative_sampling": "uniform", "norm_first": False, "num_attention_heads": 2,
        "num_categories": 0, "num_hidden_layers": 2, "num_negatives": 256, "num_token_types": 4,
        "pad_token_id": 0, "transformers_version": "5.25.0", "use_event_types": False,
        "use_output_transform": False, "use_time_gaps": False, "uses_mask_token": False,
        "vocab_size": 34,
    },
}


@pytest.mark.parametrize("model_type", sorted(EARLIER))
def test_config_json_of_an_earlier_version_loads_with_the_same_values(model_type, tmp_path):
    saved = EARLIER[model_type]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is CONFIG_CLASSES[model_type]
    values = config.to_dict()
    for key, value in saved.items():
        if key not in ("dtype", "transformers_version"):
            assert values[key] == value, key
    config.save_pretrained(tmp_path / "again")
    written = json.loads((tmp_path / "again" / "config.json").read_text())
    # Fields added since (item text, issue 23) are written with their defaults: an id-only model.
    added = {"item_representation": "id", "text_fusion": "sum", "text_dim": 0,
             "text_experts": 8, "text_dropout": 0.2, "similarity": "dot", "temperature": 0.07,
             "id_dropout": 0.0}
    assert {k: v for k, v in written.items() if k != "dtype"} == {
        **{k: v for k, v in saved.items() if k != "dtype"}, **added}


def test_the_models_rules_are_checked_by_the_config_classes():
    with pytest.raises(ValueError, match=r"hidden_size \(64\) must be a multiple of "
                                         r"num_attention_heads \(3\)"):
        CONFIG_CLASSES["bert4rec"](num_attention_heads=3)
    with pytest.raises(ValueError, match=r"SASRec takes no \[MASK\] token"):
        CONFIG_CLASSES["sasrec"](uses_mask_token=True)
    with pytest.raises(ValueError, match="GRU4Rec takes no .* uses_mask_token must be False"):
        CONFIG_CLASSES["gru4rec"](uses_mask_token=True)
    with pytest.raises(ValueError, match="num_hidden_layers must be at least 1, got 0"):
        CONFIG_CLASSES["lstm_attention"](num_hidden_layers=0)
    assert CONFIG_CLASSES["bert4rec"](uses_mask_token=False).uses_mask_token is False
