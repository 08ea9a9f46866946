"""Mnemo: a local-first memory layer for LLMs served by llama.cpp.

Two memories, each in its own package, over one storage layer:
- conversations/: every turn of every conversation, recalled by meaning, keywords and time, and folded
  into summaries;
- longterm/: typed facts (preferences, project knowledge, solutions) kept across conversations, written
  by people and extracted from chats.
storage/ holds what both use (Chroma, SQLite FTS5, the embedder); llm/ talks to llama.cpp; prompt/ lays
both memories out inside the token budget; turns/ runs one chat turn from prompt to stored reply;
api/ and mcp/ are the only doors in; wiring.py builds the parts once and closes them.
"""
