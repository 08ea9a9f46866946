"""The MCP server: the memory tools over streamable HTTP (at /mcp) and stdio."""
