"""What both memories stand on: the Chroma client and collections, SQLite FTS5, blocking calls run in
threads with their errors mapped once, the embedder, and the C heap."""
