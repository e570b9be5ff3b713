"""Register recsft's models with the transformers Auto classes when transformers loads them.

After ``import recsft``, ``AutoConfig`` / ``AutoModel`` / ``AutoTokenizer.from_pretrained(run_dir)``
load a recsft run folder without ``trust_remote_code``. Registering needs the classes, and
importing the models (torch, transformers' modeling code) would make ``import recsft`` and
``recsft --help`` slow. So ``import recsft`` installs an import hook instead: right after
transformers has executed one of its Auto modules, the hook registers what that module serves,
taking the Auto class from the module itself (its package may still be importing):

* ``configuration_auto``: the config classes (their modules import only ``PretrainedConfig``);
* ``modeling_auto``: the models (their modules import no Auto module when imported);
* ``tokenization_auto``: :class:`~recsft.tokenization.BehaviorTokenizer` for every config.

If transformers loaded those modules before ``import recsft``, registration happens at once.
The registration functions live in :mod:`recsft.modeling` (which never imports this module).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


def _register(name: str) -> Callable[[Any], None]:
    """The registration function ``name`` of :mod:`recsft.modeling`, imported when called (the
    modeling package is imported only once transformers loads an Auto module)."""

    def register(auto_class: Any) -> None:
        import recsft.modeling

        getattr(recsft.modeling, name)(auto_class)

    return register


_HOOKS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "transformers.models.auto.configuration_auto": ("AutoConfig", _register("register_configs")),
    "transformers.models.auto.modeling_auto": ("AutoModel", _register("register_models")),
    "transformers.models.auto.tokenization_auto": ("AutoTokenizer",
                                                   _register("register_tokenizer")),
}


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds the watched transformers modules as usual, then registers after they execute."""

    def find_spec(self, fullname: str, path=None, target: ModuleType | None = None):
        if fullname not in _HOOKS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, execute = spec.loader, spec.loader.exec_module
        attribute, register = _HOOKS[fullname]

        def exec_module(module: ModuleType) -> None:
            execute(module)
            register(getattr(module, attribute))

        loader.exec_module = exec_module  # this spec's own loader instance
        return spec


def install() -> None:
    """Register now with the Auto modules transformers has loaded; hook the others."""
    for name, (attribute, register) in _HOOKS.items():
        if name in sys.modules:
            register(getattr(sys.modules[name], attribute))
    if not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
