"""`python -m app.mcp`: the memory tools over stdio, for desktop MCP clients.

Opens the same data folder as the service (MNEMO_DATA_DIR, or MNEMO_CHROMA_URL for a shared
Chroma); llama.cpp is not needed. Logs go to stderr: stdout carries the protocol.
"""

from __future__ import annotations

import logging
import sys

import anyio

from app.mcp.server import build_mcp_server
from app.settings import Settings
from app.wiring import open_services


async def serve(settings: Settings) -> None:
    async with open_services(settings) as services:
        await build_mcp_server(services.require_memories).run_stdio_async()


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    anyio.run(serve, Settings())


if __name__ == "__main__":
    main()
