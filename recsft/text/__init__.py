"""Item text and pretrained text encoders (issue 23, parts 1 and 2).

* :mod:`recsft.text.items`: each item's text from an item table and a template.
* :mod:`recsft.text.encoder`: :class:`~recsft.text.encoder.TextEncoder`, pooled sentence vectors
  from a local sentence-transformers or transformers checkpoint.
* :mod:`recsft.text.cache`: :func:`~recsft.text.cache.encode_cached`, the same vectors cached
  as safetensors keyed by the model's and the texts' digests.

Nothing here is imported by ``recsft`` itself; torch and transformers load on first use.
"""
