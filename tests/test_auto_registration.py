"""``import recsft`` is enough for the transformers Auto classes to load a run folder, whatever
the import order, without importing torch for ``recsft --help``. Each case runs in a fresh
interpreter: registrations are process-wide."""

import subprocess
import sys

import pytest

CASES = {
    "recsft first": "import recsft\nfrom transformers import AutoConfig, AutoModel, AutoTokenizer",
    "transformers first": "from transformers import AutoConfig, AutoModel, AutoTokenizer\n"
                          "import recsft",
    "a recsft submodule first": "from recsft.tokenization import BehaviorTokenizer\n"
                                "from transformers import AutoConfig, AutoModel, AutoTokenizer",
}


@pytest.mark.slow
@pytest.mark.parametrize("imports", CASES.values(), ids=list(CASES))
def test_auto_classes_load_a_run_after_import_recsft(trained_run, imports):
    config, _ = trained_run
    script = f"""{imports}
run = {str(config.run_dir)!r}
print(type(AutoConfig.from_pretrained(run)).__name__, type(AutoModel.from_pretrained(run)).__name__,
      type(AutoTokenizer.from_pretrained(run)).__name__)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == ["Bert4RecConfig", "Bert4RecModel", "BehaviorTokenizer"]


@pytest.mark.slow
def test_without_recsft_transformers_does_not_know_the_model(trained_run):
    config, _ = trained_run
    script = ("from transformers import AutoConfig\n"
              f"AutoConfig.from_pretrained({str(config.run_dir)!r})")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0 and "recsft_bert4rec" in done.stderr


def _imported_modules(path):
    import ast

    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # function-level imports included
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_models_do_not_import_the_registration_hook():
    """``recsft._auto`` imports ``recsft.modeling`` (to register it); never the other way."""
    from pathlib import Path

    package = Path(__file__).parents[1] / "recsft"
    assert "recsft.modeling" in set(_imported_modules(package / "_auto.py"))
    for path in sorted((package / "modeling").glob("*.py")):
        assert not any(name.startswith("recsft._auto") for name in _imported_modules(path)), path
