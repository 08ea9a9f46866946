"""Mnemo: a local-first memory layer for LLMs served by llama.cpp."""
