"""Retrieval: FAISS item index and the Recommender facade."""
