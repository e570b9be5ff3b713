"""recsft: pretrained-transformer representations of e-commerce behaviour sequences.

Heavy submodules are imported on first use, so ``import recsft`` and ``recsft --help`` are fast.
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
    "RunConfig": "recsft.training.arguments",
    "read_events": "recsft.data.events",
    "EventLog": "recsft.data.events",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recsft' has no attribute {name!r}")
