"""Streamed import of history as NDJSON: its lines, its chunks through the recorder, and the command."""
