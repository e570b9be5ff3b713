"""Each token's text vector, in the tokenizer's item order: what the models and the content
baseline read.

Example:
    >>> texts = TokenTexts.from_config(config.data, tokenizer)
    >>> texts.vectors.shape, texts.missing
    ((4385, 384), 0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recsft.data.config import DataConfig
    from recsft.text.encoder import TextEncoder


@dataclass
class TokenTexts:
    """Text vectors of a list of items (the tokenizer's, in its order).

    Attributes:
        vectors: ``(num_items, dim)`` float32; zero rows for items without text.
        has_text: ``(num_items,)`` booleans.
        encoder: The encoder's checkpoint folder (recorded in the run).
    """

    vectors: np.ndarray
    has_text: np.ndarray
    encoder: str

    @property
    def missing(self) -> int:
        """Items without text."""
        return int((~self.has_text).sum())

    @classmethod
    def encode(cls, texts: Mapping[str, str], items: Sequence[str], encoder: TextEncoder,
               cache_folder: str | os.PathLike | None = None) -> TokenTexts:
        """Vectors of ``items`` from their ``texts`` (``{item_id: text}``), through the cache
        (:func:`recsft.text.cache.encode_cached`, which notes how many texts were encoded).

        Args:
            texts: Each item's text; absent or empty means no text.
            items: The item ids, in order.
            encoder: The text encoder.
            cache_folder: The text-vector cache's root; ``None`` for the default.
        """
        from recsft.text.cache import encode_cached

        rows = [(row, texts[item]) for row, item in enumerate(items) if texts.get(item)]
        vectors = np.zeros((len(items), encoder.dim), dtype=np.float32)
        has_text = np.zeros(len(items), dtype=bool)
        if rows:
            index = [row for row, _ in rows]
            vectors[index] = encode_cached(encoder, [text for _, text in rows],
                                           cache_folder=cache_folder).vectors
            has_text[index] = True
        return cls(vectors, has_text, str(encoder.folder))

    @classmethod
    def from_config(cls, data: DataConfig, items: Sequence[str],
                    cache_folder: str | os.PathLike | None = None,
                    purpose: str = "item text") -> TokenTexts:
        """Vectors of ``items`` from ``data.item_table``, ``data.item_text`` and
        ``data.text_encoder``; notes on stderr how many items have no text.

        Raises:
            RecsftError: ``data.item_table`` / ``data.item_text`` unset, the table cannot be
                read, the template names a missing column, or the encoder cannot be loaded.
        """
        from recsft import progress
        from recsft.errors import RecsftError
        from recsft.text.encoder import TextEncoder
        from recsft.text.items import table_texts

        table, template = item_text_source(data)
        if not table or not template:
            raise RecsftError(f"{purpose} needs data.item_table and data.item_text (the item "
                              "table and a template over its columns, docs/text.md)")
        texts = table_texts(table, template)
        result = cls.encode(texts, list(items), TextEncoder(data.text_encoder),
                            cache_folder=cache_folder)
        if result.missing:
            progress.note(f"{purpose}: {result.missing} of {len(items)} items have no text in "
                          f"{table} (zero vectors)")
        return result


def item_text_source(data: DataConfig) -> tuple[str | None, str | None]:
    """The item table and template of a data section: ``data.item_table`` /
    ``data.item_text``, else, for a named dataset that has one, the registry's item table
    beside its events (:func:`recsft.data.registry.locate_item_table`) and template.

    Returns:
        ``(table, template)``; either is ``None`` when there is none.
    """
    table, template = data.item_table, data.item_text
    if table is None and isinstance(data.source, str) and not os.path.exists(data.source):
        from recsft.data.registry import REGISTRY, get_spec, locate_item_table

        if data.source in REGISTRY and get_spec(data.source).item_table:
            found = locate_item_table(data.source, data.path)
            table = None if found is None else str(found)
            template = template or get_spec(data.source).item_text
    return table, template
