"""BM25 over item texts with ``bm25s`` (the ``recsft[search]`` extra).

Texts and queries go through :func:`recsft.search.terms.search_terms` (NFKC, lower case, CJK
characters and bigrams). An item that shares no term with a query is not returned: its slot
stays empty (score ``-inf``, id ``None``) rather than filled with arbitrary zero-score items.

The index is saved as a folder: bm25s's own files (the score matrix as three ``.npy`` arrays
written and read with ``allow_pickle=False``, the vocabulary and parameters as JSON) plus
``bm25_items.json`` (the item ids and the tokenizer setting). No pickle anywhere.

Example:
    >>> retriever = BM25Retriever({"a": "Epoxy glue", "b": "Duct tape", "c": "胶水 強力"})
    >>> scores, ids = retriever.search(["glue", "胶水"], k=2)
    >>> ids
    [['a', None], ['c', None]]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsft.errors import RecsftError
from recsft.search.terms import check_cjk_mode, search_terms

ITEMS_FILE = "bm25_items.json"
FORMAT = "recsft-bm25"
FORMAT_VERSION = 1


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError:
        raise RecsftError("BM25 search needs bm25s: pip install 'recsft[search]'") from None
    return bm25s


class BM25Retriever:
    """Lexical retrieval over ``{item_id: text}``.

    Args:
        texts: Each item's text (:func:`recsft.text.items.table_texts`); items with empty text
            are indexed but never match.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        method: bm25s's variant (``"lucene"``, ``"robertson"``, ``"atire"``, ``"bm25l"``,
            ``"bm25+"``).
        cjk: How CJK runs become terms (:func:`recsft.search.terms.search_terms`).

    Attributes:
        item_ids: The items, in index order.

    Raises:
        RecsftError: no items, a bad ``cjk`` mode, or bm25s is not installed.
    """

    def __init__(self, texts: Mapping[str, str], k1: float = 1.5, b: float = 0.75,
                 method: str = "lucene", cjk: str = "both") -> None:
        if not texts:
            raise RecsftError("BM25Retriever: no item texts to index")
        self.cjk = check_cjk_mode(cjk)
        self.item_ids = [str(item) for item in texts]
        bm25s = _bm25s()
        # create_empty_token: a query whose terms are all unknown scores every item 0.
        self._model = bm25s.BM25(k1=k1, b=b, method=method)
        corpus = [search_terms(text or "", self.cjk) for text in texts.values()]
        self._model.index(corpus, create_empty_token=True, show_progress=False)

    def __len__(self) -> int:
        return len(self.item_ids)

    def terms(self, text: str) -> list[str]:
        """The terms this index makes of ``text``."""
        return search_terms(text, self.cjk)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every item for one query: ``(len(self),)`` float32."""
        vocab = self._model.vocab_dict
        ids = [vocab[term] for term in self.terms(query) if term in vocab]
        if not ids:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, queries: Sequence[str], k: int
               ) -> tuple[np.ndarray, list[list[str | None]]]:
        """The ``k`` best items of each query.

        Args:
            queries: Query texts.
            k: Results per query, ``k >= 1`` (more than the items leaves empty slots).

        Returns:
            ``(scores, item_ids)``: float32 ``(len(queries), k)`` descending per row, and one
            list of ``k`` ids per query; slots past the matching items hold ``-inf`` / ``None``.
            Ties keep index order.

        Raises:
            RecsftError: ``k < 1`` or a query is not a string.
        """
        if isinstance(queries, str):
            raise RecsftError("BM25Retriever.search takes a list of queries, not one string")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise RecsftError(f"BM25Retriever.search: k={k!r}, expected an integer >= 1")
        out = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids: list[list[str | None]] = []
        width = min(int(k), len(self))
        for row, query in enumerate(queries):
            if not isinstance(query, str):
                raise RecsftError(f"BM25Retriever.search: query {row} is "
                                  f"{type(query).__name__}, expected a string")
            scores = self.scores(query)
            top = np.argpartition(-scores, width - 1)[:width] if width < len(self) \
                else np.arange(len(self))
            top = top[np.lexsort((top, -scores[top]))]
            top = top[scores[top] > 0]
            out[row, :len(top)] = scores[top]
            ids.append([self.item_ids[i] for i in top] + [None] * (k - len(top)))
        return out, ids

    def save(self, folder: str | os.PathLike) -> None:
        """Write the index to ``folder`` (created, or replaced whole when it holds a saved
        BM25 index; a folder holding anything else is refused).

        Raises:
            RecsftError: ``folder`` exists and is not a saved BM25 index (or is a file).
        """
        from recsft.fileio import atomic_write_text, swap_in, temporary_folder

        final = Path(folder)
        if final.exists() and (not final.is_dir() or
                               (any(final.iterdir()) and not (final / ITEMS_FILE).is_file())):
            raise RecsftError(f"{final} exists and is not a saved BM25 index; refusing to "
                              "overwrite it (choose a new folder)")
        work = temporary_folder(final.parent, final.name)
        try:
            self._model.save(str(work), show_progress=False, allow_pickle=False)
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "cjk": self.cjk,
                    "item_ids": self.item_ids}
            atomic_write_text(work / ITEMS_FILE, json.dumps(meta, ensure_ascii=False))
            swap_in(work, final)
        except BaseException:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: str | os.PathLike) -> BM25Retriever:
        """Read an index written by :meth:`save` (arrays read with ``allow_pickle=False``).

        Raises:
            RecsftError: the folder is missing, not a saved BM25 index, or its files disagree
                (one line naming the file).
        """
        from recsft.fileio import read_json

        root = Path(folder)
        meta_path = root / ITEMS_FILE
        if not meta_path.is_file():
            raise RecsftError(f"{meta_path} is missing: {root} is not a saved BM25 index")
        meta = read_json(meta_path, "BM25 index file")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT \
                or meta.get("format_version") != FORMAT_VERSION:
            raise RecsftError(f"{meta_path}: expected format {FORMAT!r} version "
                              f"{FORMAT_VERSION}")
        items = meta.get("item_ids")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise RecsftError(f"{meta_path}: item_ids must be a list of strings")
        bm25s = _bm25s()
        try:
            model = bm25s.BM25.load(str(root), allow_pickle=False, load_corpus=False)
        except (OSError, ValueError, KeyError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise RecsftError(f"{root}: BM25 index files unreadable: {first}") from None
        if int(model.scores["num_docs"]) != len(items):
            raise RecsftError(f"{meta_path}: {len(items)} item ids but the index holds "
                              f"{model.scores['num_docs']} documents")
        obj = cls.__new__(cls)
        obj.cjk = check_cjk_mode(meta.get("cjk", "both"))
        obj.item_ids = items
        obj._model = model
        return obj
