"""recsft: pretrained-transformer representations of e-commerce behaviour sequences.

Heavy submodules are imported on first use, so ``import recsft`` and ``recsft --help`` are fast.
Importing recsft also arranges for its models to be registered with the transformers Auto classes
as soon as transformers loads them (:mod:`recsft._auto`): after ``import recsft``,
``AutoModel.from_pretrained(run_dir)`` works without ``trust_remote_code``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Recommender": "recsft.retrieval.recommender",
    "ItemIndex": "recsft.retrieval.index",
    "BehaviorTokenizer": "recsft.tokenization",
    "Bert4RecConfig": "recsft.modeling",
    "Bert4RecModel": "recsft.modeling",
    "RunConfig": "recsft.config",
    "read_events": "recsft.data.readers",
    "EventLog": "recsft.data.events",
    "train": "recsft.training.api",
    "TrainedRun": "recsft.training.api",
}

__all__ = sorted(_LAZY)

from recsft._auto import install as _install_auto_registration  # noqa: E402

_install_auto_registration()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recsft' has no attribute {name!r}")
