"""Personalised product search: search events, first-stage candidates (BM25, dense, the
behaviour model's top-N) and their re-ranking (issue 25). Submodules import their heavy
dependencies (bm25s, torch, faiss) only when used."""
