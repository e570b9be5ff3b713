"""Text vectors cached as safetensors, keyed by the model's digest and each text's digest.

Layout: ``<cache>/<key>/<name>.safetensors``, where ``key`` is the SHA-256 of the encoder's
:func:`~recsft.text.encoder.model_digest` and its settings (pooling, normalisation, input
limit), and each file holds ``digests`` (``(n, 32)`` uint8, the SHA-256 of each text's UTF-8
bytes) and ``vectors`` (``(n, dim)`` float32). A run reads every file of its key, encodes only
the texts none of them holds, and adds one new file with those vectors.

Safe to share between runs: files are written to a temporary name and renamed
(:func:`recsft.fileio.atomic_save`), and each file is named by the SHA-256 of its own contents,
so two runs never write different bytes to one name and a reader sees whole files only. A file
whose name does not match its contents (or with wrong shapes or dtypes) is ignored: its texts
are encoded again into a new file, and the damaged file is removed.

The cache folder is ``$RECSFT_CACHE/text``, else ``~/.cache/recsft/text``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recsft.text.encoder import TextEncoder

DIGEST_BYTES = 32
#: A cache file's stem: 64 lowercase hex digits.
NAME = re.compile(r"[0-9a-f]{64}")


def default_cache_folder() -> Path:
    """``$RECSFT_CACHE/text``, else ``~/.cache/recsft/text``."""
    from recsft.fileio import cache_root

    return cache_root() / "text"


def text_digests(texts: Sequence[str]) -> np.ndarray:
    """``(len(texts), 32)`` uint8: the SHA-256 of each text's UTF-8 bytes."""
    out = np.zeros((len(texts), DIGEST_BYTES), dtype=np.uint8)
    for row, text in enumerate(texts):
        out[row] = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), dtype=np.uint8)
    return out


def cache_key(encoder: TextEncoder) -> str:
    """The folder name of an encoder's vectors: its digest and settings, hashed (64 hex)."""
    blob = json.dumps({"model": encoder.digest, **encoder.settings()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def content_name(digests: np.ndarray, vectors: np.ndarray) -> str:
    """A cache file's name: the SHA-256 of its digests and vectors (64 hex)."""
    hasher = hashlib.sha256(np.ascontiguousarray(digests).tobytes())
    hasher.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return hasher.hexdigest()


def read_cache_file(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A cache file's ``(digests, vectors)``, or ``None`` when it cannot be trusted.

    Untrusted: unreadable, other keys, dtypes or shapes than expected (``(n, 32)`` uint8,
    ``(n, dim)`` float32), non-finite vectors, or a name other than its contents' digest.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, ValueError, SafetensorError):
        return None
    digests, vectors = tensors.get("digests"), tensors.get("vectors")
    if set(tensors) != {"digests", "vectors"} or digests.dtype != np.uint8 or \
            vectors.dtype != np.float32 or digests.ndim != 2 or vectors.ndim != 2 or \
            digests.shape[1] != DIGEST_BYTES or vectors.shape != (len(digests), dim):
        return None
    if not np.isfinite(vectors).all() or content_name(digests, vectors) != path.stem:
        return None
    return digests, vectors


@dataclass
class CachedVectors:
    """What :func:`encode_cached` gives back.

    Attributes:
        vectors: ``(len(texts), dim)`` float32, in the order of the texts.
        encoded: Distinct texts the encoder ran on in this call.
        cached: Distinct texts whose vectors came from the cache.
        ignored: Cache files found damaged (skipped, then removed).
        folder: The folder of this encoder's cache files.
    """

    vectors: np.ndarray
    encoded: int
    cached: int
    ignored: list[Path]
    folder: Path


def encode_cached(encoder: TextEncoder, texts: Sequence[str],
                  cache_folder: str | os.PathLike | None = None,
                  batch_size: int | None = None) -> CachedVectors:
    """Vectors of ``texts``, encoding only those the cache lacks; says how many on stderr.

    Args:
        encoder: The text encoder.
        texts: The texts (repeats are encoded once).
        cache_folder: The cache's root (:func:`default_cache_folder` when ``None``).
        batch_size: Texts per forward pass (default: the encoder's).

    Returns:
        A :class:`CachedVectors`; the note ``text vectors: E encoded, C from cache (folder)``
        goes to stderr through :func:`recsft.progress.note`.
    """
    from safetensors.numpy import save_file

    from recsft import progress
    from recsft.fileio import atomic_save, make_folder

    root = Path(cache_folder) if cache_folder is not None else default_cache_folder()
    folder = root / cache_key(encoder)
    texts = list(texts)
    digests = text_digests(texts)
    keys = [row.tobytes() for row in digests]
    wanted = set(keys)
    found: dict[bytes, np.ndarray] = {}
    ignored: list[Path] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.safetensors")):
            if len(found) == len(wanted):
                break
            content = read_cache_file(path, encoder.dim)
            if content is None:
                ignored.append(path)
                continue
            for digest, vector in zip(content[0], content[1]):
                key = digest.tobytes()
                if key in wanted:
                    found.setdefault(key, vector)
    for path in ignored:  # before writing: the new file may take a damaged one's name
        if NAME.fullmatch(path.stem):  # only recsft's own content-addressed names
            progress.note(f"text vectors: removed the damaged cache file {path}")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            progress.note(f"text vectors: ignored {path} (not a readable cache file)")
    missing: dict[bytes, int] = {}
    for row, key in enumerate(keys):
        if key not in found and key not in missing:
            missing[key] = row
    if missing:
        rows = list(missing.values())
        new = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
        new_digests = digests[rows]
        make_folder(folder)
        name = content_name(new_digests, new)
        atomic_save(folder / f"{name}.safetensors",
                    lambda tmp: save_file({"digests": new_digests, "vectors": new}, tmp))
        found.update(zip(missing, new))
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for row, key in enumerate(keys):
        vectors[row] = found[key]
    cached = len(wanted) - len(missing)
    progress.note(f"text vectors: {len(missing)} encoded, {cached} from cache ({folder})")
    return CachedVectors(vectors, len(missing), cached, ignored, folder)
