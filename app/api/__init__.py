"""HTTP routes; the only package that knows about FastAPI."""
