"""HTTP: routes, schemas, per-part dependencies, one error mapping, the SSE relay; the only package
that knows FastAPI."""
