"""What an MCP client over streamable HTTP sends first, shared by the tests that speak it."""

from __future__ import annotations

from typing import Any

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
CLIENT_INFO = {"name": "test", "version": "0"}


def rpc(ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}


INITIALIZE = rpc(
    1, "initialize", {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": CLIENT_INFO}
)
