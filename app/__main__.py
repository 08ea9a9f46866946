"""`python -m app`: serve Mnemo with uvicorn (llama.cpp must already be running)."""

from __future__ import annotations

import sys

import uvicorn

from app.binding import UNGUARDED_EXIT, unguarded
from app.main import create_app
from app.settings import Settings


def main() -> None:
    settings = Settings()
    if refusal := unguarded(settings):
        print(f"mnemo: {refusal}", file=sys.stderr, flush=True)
        sys.exit(UNGUARDED_EXIT)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
