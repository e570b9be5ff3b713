import glob
import os
import stat

import pytest

from recsft.config import ConfigError, ModelSection, RunConfig, apply_override, check_value
from recsft.errors import RecsftError
from recsft.modeling import MODEL_FIELDS

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\ndata: {max_length: 30}\ntraining: {epochs: 3}\n")
    config = RunConfig.from_yaml(path, ["training.epochs=7", "model.hidden_size=32",
                                        "evaluation.ks=[1, 5]"])
    assert config.training.epochs == 7
    assert config.model.hidden_size == 32
    assert config.evaluation.ks == [1, 5]
    assert config.data.max_length == 30
    assert config.run_dir.endswith("x")


def test_config_error_is_a_recsft_error():
    assert issubclass(ConfigError, RecsftError) and issubclass(ConfigError, ValueError)


def test_unknown_key_names_the_file_and_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training: {epoch: 3}\n")
    with pytest.raises(ConfigError, match=r"run.yaml: unknown key\(s\) \['epoch'\] in section"):
        RunConfig.from_yaml(path)


def test_bad_override_and_missing_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\n")
    with pytest.raises(ConfigError, match="section.key=value"):
        RunConfig.from_yaml(path, ["oops"])
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        RunConfig.from_yaml(tmp_path / "missing.yaml")


def test_configs_of_earlier_versions_still_load():
    config = RunConfig.from_dict({"data": {"collapse_repeats": True}})
    assert config.data.preprocess == {"collapse_repeats": True}


def test_every_shipped_config_loads():
    paths = sorted(glob.glob(os.path.join(CONFIGS, "*.yaml")))
    assert len(paths) >= 10
    for path in paths:
        config = RunConfig.from_yaml(path)
        # (two early configs spell their run name lstm_attention-…; their results keep it)
        assert config.name.replace("_", "-") == os.path.basename(path)[:-5], path
        assert RunConfig.from_dict(config.to_dict()) == config, path


@pytest.mark.parametrize("key", ["epochs", "batch_size", "eval_every"])
@pytest.mark.parametrize("value", [0, -2, 1.5])
def test_counts_below_one_are_rejected_with_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"<dict>: training\.{key} must be an integer"):
        RunConfig.from_dict({"training": {key: value}})


# -- the model section ---------------------------------------------------------------------

@pytest.mark.parametrize("model_type", sorted(MODEL_FIELDS))
def test_naming_only_the_model_type_gives_the_model_classes_own_defaults(model_type):
    from recsft.modeling.factory import model_classes, model_config
    from recsft.tokenization import BehaviorTokenizer

    config = RunConfig.from_dict({"model": {"model_type": model_type}})
    built = model_config(config, BehaviorTokenizer.from_sequences([["a", "b"]]))
    config_class, _ = model_classes(model_type)
    own = config_class()
    assert type(built) is config_class
    names = config.model.field_names()
    assert names and "vocab_size" not in names
    for name in names:
        assert getattr(built, name) == getattr(own, name), name
        # (the section reads the declared default: embedding_size None means hidden_size)
        assert getattr(config.model, name) == MODEL_FIELDS[model_type].defaults()[name], name
    assert config.model.fields == {}


def test_model_defaults_differ_by_model_type():
    sasrec = RunConfig.from_dict({"model": {"model_type": "sasrec"}}).model
    bert4rec = RunConfig.from_dict({"model": {"model_type": "bert4rec"}}).model
    gru4rec = RunConfig.from_dict({"model": {"model_type": "gru4rec"}}).model
    assert (sasrec.num_attention_heads, sasrec.intermediate_size, sasrec.hidden_act) == (
        1, 64, "relu")
    assert (bert4rec.num_attention_heads, bert4rec.intermediate_size) == (2, 256)
    assert gru4rec.num_hidden_layers == 1 and not hasattr(gru4rec, "num_attention_heads")


def test_a_field_of_another_model_type_is_an_error_naming_the_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: {model_type: gru4rec, num_attention_heads: 2}\n")
    with pytest.raises(ConfigError, match=r"run.yaml: model.num_attention_heads does not apply "
                                          r"to model_type 'gru4rec' \(it is a field of "
                                          r"bert4rec, sasrec\)"):
        RunConfig.from_yaml(path)
    with pytest.raises(ConfigError, match=r"unknown key 'hiden_size' in section 'model'"):
        RunConfig.from_dict({"model": {"hiden_size": 3}})
    with pytest.raises(ConfigError, match=r"<dict>: unknown model_type 'transformer-xl'; "
                                          r"expected one of bert4rec, gru4rec"):
        RunConfig.from_dict({"model": {"model_type": "transformer-xl"}})
    # Set in code after reading: caught when the model is resolved.
    config = RunConfig.from_dict({"model": {"model_type": "sasrec"}})
    config.model.attention_type = "dot"
    with pytest.raises(ConfigError, match="model.attention_type does not apply to model_type"):
        config.model.resolved()
    del config.model.attention_type
    assert config.model.resolved()["num_attention_heads"] == 1


def test_the_models_own_rules_are_checked_when_the_config_is_read():
    with pytest.raises(ConfigError, match=r"<dict>: model: hidden_size \(64\) must be a multiple "
                                          r"of num_attention_heads \(3\)"):
        RunConfig.from_dict({"model": {"num_attention_heads": 3}})
    with pytest.raises(ConfigError, match="unknown attention_type 'max'"):
        RunConfig.from_dict({"model": {"model_type": "lstm_attention", "attention_type": "max"}})


def test_null_takes_the_models_default():
    model = RunConfig.from_dict({"model": {"model_type": "sasrec", "intermediate_size": None,
                                           "use_categories": None}}).model
    assert model.intermediate_size == 64 and model.use_categories is False
    assert model.fields == {}


def test_to_dict_records_every_resolved_field_and_reads_back():
    config = RunConfig.from_dict({"model": {"model_type": "gru4rec", "hidden_size": 32}})
    model = config.to_dict()["model"]
    assert model["model_type"] == "gru4rec" and model["hidden_size"] == 32
    assert model["num_hidden_layers"] == 1 and model["embedding_size"] is None
    assert "num_attention_heads" not in model and "vocab_size" not in model
    again = RunConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()


def test_a_whole_model_section_recorded_by_an_earlier_version_still_loads():
    # run_config.yaml of earlier versions: every field of every model type, null = default.
    legacy = {
        "model_type": "gru4rec", "hidden_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 256, "hidden_dropout_prob": 0.3,
        "attention_probs_dropout_prob": 0.2, "use_event_types": False, "use_time_gaps": False,
        "use_categories": False, "use_output_transform": None, "norm_first": None,
        "initializer_range": 0.02, "loss": "ce", "num_negatives": 256,
        "negative_sampling": "uniform", "gbce_t": 0.75, "embedding_size": None,
        "use_output_projection": None, "attention_type": None,
    }
    model = RunConfig.from_dict({"model": legacy}).model
    assert model.hidden_dropout_prob == 0.3 and model.use_event_types is False
    assert model.use_output_projection is True  # null: the model's default
    assert "num_attention_heads" not in model.fields
    # A section that merely sets such a field is an error.
    with pytest.raises(ConfigError, match="num_attention_heads does not apply"):
        RunConfig.from_dict({"model": {"model_type": "gru4rec", "num_attention_heads": 2}})


def test_model_section_copies_and_compares():
    import copy
    import pickle

    section = ModelSection("sasrec", hidden_size=32)
    assert copy.deepcopy(section) == section == pickle.loads(pickle.dumps(section))
    assert section != ModelSection("sasrec")
    assert "hidden_size=32" in repr(section)
    with pytest.raises(AttributeError, match="has no field 'embedding_size'"):
        section.embedding_size  # noqa: B018


# -- value types ---------------------------------------------------------------------------

def test_override_values_are_checked_against_the_field_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\n")
    config = RunConfig.from_yaml(path, ["training.learning_rate=1e-3",
                                        "model.hidden_dropout_prob=5e-2"])
    assert config.training.learning_rate == 0.001
    assert isinstance(config.training.learning_rate, float)
    assert config.model.hidden_dropout_prob == 0.05
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path, ["model.hidden_size=abc"])
    assert str(error.value) == "--set: model.hidden_size must be an integer, got 'abc'"
    with pytest.raises(ConfigError, match=r"^--set: training.deterministic must be true or false, "
                                          r"got 'maybe'$"):
        RunConfig.from_yaml(path, ["training.deterministic=maybe"])
    with pytest.raises(ConfigError, match=r"evaluation.ks must be a list of integers, got"):
        RunConfig.from_yaml(path, ["evaluation.ks=[5, ten]"])
    with pytest.raises(ConfigError, match=r"data.max_length must be an integer, got 2.5"):
        RunConfig.from_yaml(path, ["data.max_length=2.5"])


def test_a_value_from_the_file_names_the_file_and_one_from_set_names_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: {hidden_size: abc}\ntraining: {epochs: 2}\n")
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path)
    assert str(error.value) == f"{path}: model.hidden_size must be an integer, got 'abc'"
    assert RunConfig.from_yaml(path, ["model.hidden_size=32"]).model.hidden_size == 32
    assert RunConfig.from_yaml(path, ["model={hidden_size: 16}"]).model.hidden_size == 16
    with pytest.raises(ConfigError, match=r"^--set: training.epochs must be an integer of at "
                                          r"least 1, got 0$"):
        RunConfig.from_yaml(path, ["model.hidden_size=32", "training.epochs=0"])
    with pytest.raises(ConfigError, match=r"^--set: unknown key\(s\) \['epoch'\] in section"):
        RunConfig.from_yaml(path, ["model.hidden_size=32", "training.epoch=3"])
    with pytest.raises(ConfigError, match=r"^--set: unknown key 'num_layers' in section 'model'"):
        RunConfig.from_yaml(path, ["model.hidden_size=32", "model.num_layers=3"])


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("training.epochs", "true", "an integer"),               # a bool is not an int
    ("training.learning_rate", "true", "a number"),          # nor a number
    ("training.seed", "'7'", "an integer"),                  # a quoted number is a string
    ("model.use_event_types", "1", "true or false"),         # 1 is not true
    ("name", "2024", "a string"),
    ("training.report_to", "[tensorboard, 3]", "a string or a list of strings"),
    ("data.columns", "{user_id: 3}", "a mapping of strings to strings"),
    ("data.cutoff", "[1]", "an integer or a number or a string or a date or null"),
    ("data.synthetic.num_users", "many", "an integer"),
    ("data.synthetic.successor_weights", "[0.5, x]", "a list of numbers"),
    ("data.preprocess.user_k", "2.5", "an integer"),
    ("data.preprocess.event_weights", "{buy: heavy}", "a mapping of strings to numbers or null"),
])
def test_a_mistyped_value_is_one_line_naming_key_value_and_type(tmp_path, key, value, expected):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\n")
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path, [f"{key}={value}"])
    message = str(error.value)
    assert message.startswith(f"--set: {key} must be {expected}, got "), message
    assert "\n" not in message


def test_numbers_are_floats_where_floats_are_expected_and_strings_stay_strings(tmp_path):
    config = RunConfig.from_dict({
        "training": {"weight_decay": 0, "learning_rate": "2e-4", "report_to": "none"},
        "data": {"synthetic": {"sessions_per_user": 3, "buy_rate": "5e-1",
                               "successor_weights": [1, 1]},
                 "preprocess": {"start": "2020-01-01", "end": 1601728000}, "cutoff": "1e9"}})
    assert config.training.weight_decay == 0.0 and isinstance(config.training.weight_decay, float)
    assert config.training.learning_rate == 2e-4
    synthetic = config.data.synthetic
    assert synthetic == {"sessions_per_user": 3.0, "buy_rate": 0.5, "successor_weights": [1.0, 1.0]}
    assert isinstance(synthetic["successor_weights"], list)  # (a tuple field; YAML writes lists)
    assert config.data.preprocess == {"start": "2020-01-01", "end": 1601728000}
    assert config.data.cutoff == "1e9"  # a string is one of the cut-off's types: kept
    assert RunConfig.from_dict(config.to_dict()) == config


def test_the_synthetic_and_preprocess_options_are_checked_when_the_config_is_read():
    with pytest.raises(ConfigError, match=r"^<dict>: unknown key\(s\) \['num_user'\] in "
                                          r"'data.synthetic'; expected some of \["):
        RunConfig.from_dict({"data": {"synthetic": {"num_user": 5}}})
    with pytest.raises(ConfigError, match=r"^<dict>: unknown key\(s\) \['min_len'\] in "
                                          r"'data.preprocess'"):
        RunConfig.from_dict({"data": {"preprocess": {"min_len": 5}}})
    with pytest.raises(ConfigError, match=r"^<dict>: data.synthetic: num_items must be >= "
                                          r"num_categories$"):
        RunConfig.from_dict({"data": {"synthetic": {"num_items": 3, "num_categories": 5}}})
    with pytest.raises(ConfigError, match=r"^<dict>: data.synthetic: buy_rate must be in \[0, 1\]"):
        RunConfig.from_dict({"data": {"synthetic": {"buy_rate": 2}}})


def test_check_value_converts_integers_for_floats_and_accepts_unions():
    import datetime

    assert check_value(0, float, "training.weight_decay") == 0
    assert isinstance(check_value(0, float, "training.weight_decay"), float)
    assert check_value(["tensorboard", "wandb"], str | list[str], "training.report_to")
    assert check_value(None, int | None, "data.train_stride") is None
    day = datetime.date(2020, 1, 1)
    moment = datetime.datetime(2020, 1, 1, 12, 30)  # YAML's 2020-01-01 12:30:00
    config = RunConfig.from_dict({"data": {"cutoff": day, "test_end": 1.5e9,
                                           "valid_cutoff": moment}})
    assert (config.data.cutoff, config.data.valid_cutoff) == (day, moment)
    with pytest.raises(ConfigError, match="must be an integer or null, got True"):
        check_value(True, int | None, "data.train_stride")
    with pytest.raises(ConfigError, match="^<config>: training.learning_rate must be a number, "
                                          "got False$"):
        check_value(False, float, "training.learning_rate")


def test_messages_never_print_an_unbounded_value():
    with pytest.raises(ConfigError) as error:
        RunConfig.from_dict({"x" * 100_000: 1})
    assert len(str(error.value)) < 300
    with pytest.raises(ConfigError) as error:
        RunConfig.from_dict({"training": {f"k{i}": i for i in range(10_000)}})
    assert len(str(error.value)) < 1000
    with pytest.raises(ConfigError) as error:
        RunConfig.from_dict({"model": {"hidden_size": "y" * 100_000}})
    assert len(str(error.value)) < 300 and "\n" not in str(error.value)


# -- safe YAML -----------------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{','.join(['*' + chr(ord('a') + i - 1)] * 9)}]"
       for i in range(1, 9)])


def test_an_alias_bomb_is_refused_at_the_first_alias(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + "\n")
    assert len(path.read_bytes()) < 600  # 9**9 leaves when expanded
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path)
    assert str(error.value) == (f"{path}, line 2, column 8: YAML aliases (*a) are not allowed "
                                "here; write the value out")


def test_aliases_in_overrides_and_deep_nesting_are_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\n")
    with pytest.raises(ConfigError, match="YAML aliases"):
        RunConfig.from_yaml(path, ["evaluation.ks=[&k 1, *k]"])
    path.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"run.yaml, line 1, column \d+: nested deeper than 64"):
        RunConfig.from_yaml(path)


def test_invalid_yaml_is_one_line_with_line_and_column(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\ntraining: {epochs: 3\n")
    with pytest.raises(ConfigError) as error:
        RunConfig.from_yaml(path)
    message = str(error.value)
    assert message.startswith(f"{path}, line 3, column 1: invalid YAML: ") and "\n" not in message
    path.write_text("name: !!python/object:os.system x\n")
    with pytest.raises(ConfigError, match="invalid YAML: could not determine a constructor"):
        RunConfig.from_yaml(path)


def test_a_config_that_is_not_a_regular_small_text_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a folder; expected a config file"):
        RunConfig.from_yaml(tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ConfigError, match="is a FIFO; expected a regular config file"):
        RunConfig.from_yaml(fifo)  # would block forever if opened
    if os.path.exists("/dev/zero"):
        with pytest.raises(ConfigError, match="is a device"):
            RunConfig.from_yaml("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        RunConfig.from_yaml(big)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 6\)"):
        RunConfig.from_yaml(binary)


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="run.yaml: expected a mapping of name, output_dir"):
        RunConfig.from_yaml(path)
    path.write_text("")
    assert RunConfig.from_yaml(path) == RunConfig()


def test_an_override_below_a_value_is_refused():
    with pytest.raises(ConfigError, match="'name' is not a section"):
        apply_override({"name": "x"}, "name.first=y")


def test_the_command_line_reports_a_mistyped_override_in_one_line(tmp_path, capsys):
    from recsft.cli import main

    code = main(["train", "--config", os.path.join(CONFIGS, "demo.yaml"), "--set",
                 f"output_dir={tmp_path}", "--set", "model.hidden_size=abc"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("recsft train: error: --set: model.hidden_size must be an integer, "
                           "got 'abc'")
    assert list(tmp_path.iterdir()) == []  # nothing loaded or written
