"""Conversation memory: embedding, storage in Chroma, retrieval and summaries."""
