import pytest

from recsft.training.arguments import ConfigError, RunConfig


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
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.from_yaml(tmp_path / "missing.yaml")


def test_configs_of_earlier_versions_still_load():
    config = RunConfig.from_dict({"data": {"collapse_repeats": True}})
    assert config.data.preprocess == {"collapse_repeats": True}


def test_every_shipped_config_loads():
    import glob
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    paths = sorted(glob.glob(os.path.join(root, "*.yaml")))
    assert len(paths) >= 10
    for path in paths:
        config = RunConfig.from_yaml(path)
        # (two early configs spell their run name lstm_attention-…; their results keep it)
        assert config.name.replace("_", "-") == os.path.basename(path)[:-5], path


@pytest.mark.parametrize("key", ["epochs", "batch_size", "eval_every"])
@pytest.mark.parametrize("value", [0, -2, 1.5])
def test_counts_below_one_are_rejected_with_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"<dict>: training\.{key} must be an integer"):
        RunConfig.from_dict({"training": {key: value}})
