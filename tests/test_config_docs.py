"""docs/config.md is generated from the config dataclasses and kept true by these tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import yaml

from recsft.config import RunConfig
from recsft.config_docs import HEADER, all_keys, dataclass_keys, main, model_rows, render
from recsft.errors import RecsftError
from recsft.modeling import MODEL_FIELDS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_docs_config_md_is_the_generated_page():
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/config.md is out of date: regenerate it with `python -m recsft.config_docs`")


def test_every_key_has_a_meaning_and_every_model_field_is_listed():
    keys = all_keys()  # raises for a field whose docstring has no meaning
    names = [key.key for key in keys]
    assert len(names) == len(set(names))
    assert all(len(key.meaning) > 5 and "See Args" not in key.meaning for key in keys)
    for section in ("data.", "data.synthetic.", "data.preprocess.", "training.", "evaluation."):
        assert any(name.startswith(section) for name in names), section
    model_types, rows = model_rows()
    assert model_types == list(MODEL_FIELDS)
    listed = {key for key, *_ in rows}
    for model_type, fields_class in MODEL_FIELDS.items():
        settable = {f"model.{name}" for name in fields_class.field_names()
                    if name not in fields_class.DERIVED}
        assert settable <= listed, model_type
        assert settable <= set(names), model_type
    assert "model.vocab_size" not in listed


def test_the_documented_defaults_read_back_as_the_defaults(tmp_path):
    # Every key set to its default as the page writes it (YAML) gives the default config:
    # the page's keys exist, its defaults are valid YAML of the right type ("no" quoted).
    path = tmp_path / "run.yaml"
    path.write_text("name: run\n")
    first_type = next(iter(MODEL_FIELDS))
    applies = set(MODEL_FIELDS[first_type].field_names())
    overrides = [f"{key.key}={key.default}" for key in all_keys()
                 if key.key.split(".")[0] in ("name", "output_dir", "training", "evaluation")
                 or key.key.startswith("data.")
                 and key.key not in ("data.synthetic", "data.preprocess")
                 or key.key.startswith("model.") and key.key.split(".")[1] in applies]
    config = RunConfig.from_yaml(path, overrides)
    default = RunConfig()
    assert (config.training, config.evaluation) == (default.training, default.evaluation)
    assert config.model == default.model
    synthetic = config.data.synthetic
    preprocess = config.data.preprocess
    config.data.synthetic = config.data.preprocess = {}
    assert config.data == default.data
    from recsft.data.preprocess import PreprocessConfig
    from recsft.data.synthetic import SyntheticConfig

    assert synthetic == {name: list(value) if isinstance(value, tuple) else value
                         for name, value in asdict(SyntheticConfig()).items()}
    assert PreprocessConfig.from_dict(preprocess) == PreprocessConfig()
    assert yaml.safe_load("mixed_precision: " + next(
        key.default for key in all_keys() if key.key == "training.mixed_precision")) == {
        "mixed_precision": "no"}


def test_a_field_without_a_meaning_is_an_error():
    @dataclass
    class Section:
        """A section.

        Attributes:
            documented: What it does,
                over two lines.
            other: See Args.
        """

        documented: int = 1
        undocumented: str | None = None
        other: float = 0.5

    with pytest.raises(RecsftError, match=r"Section.undocumented has no meaning"):
        dataclass_keys(Section, "x.")
    key = dataclass_keys(Section, "x.", skip=("undocumented", "other"))[0]
    assert (key.key, key.type, key.default, key.meaning) == (
        "x.documented", "int", "1", "What it does, over two lines.")
    with pytest.raises(RecsftError, match=r"Section.other has no meaning"):
        dataclass_keys(Section, "x.", skip=("undocumented",))


def test_the_generator_writes_checks_and_never_overwrites_a_page_it_did_not_write(tmp_path,
                                                                                    capsys):
    page = tmp_path / "config.md"
    assert main(["--output", str(page), "--check"]) == 1
    assert "regenerate it with `python -m recsft.config_docs`" in capsys.readouterr().err
    assert main(["--output", str(page)]) == 0
    assert page.read_text(encoding="utf-8").startswith(HEADER + "\n")
    assert main(["--output", str(page), "--check"]) == 0
    page.write_text(page.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert main(["--output", str(page), "--check"]) == 1
    assert main(["--output", str(page)]) == 0  # its own page: regenerated
    mine = tmp_path / "notes.md"
    mine.write_text("# my notes\n")
    with pytest.raises(RecsftError, match="not a page generated by recsft.config_docs"):
        main(["--output", str(mine)])
    assert mine.read_text() == "# my notes\n"
