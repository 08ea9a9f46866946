"""The memory book on a real store, with the hashing embedder."""

import pytest

from app.longterm.book import Memories
from app.longterm.store import MemoryStore
from tests.fakes import HashEmbedder


@pytest.fixture
def book(memory_store: MemoryStore, embedder: HashEmbedder) -> Memories:
    return Memories(memory_store, embedder, "hash-384")
