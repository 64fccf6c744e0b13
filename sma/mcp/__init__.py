"""The MCP server: SMA's run operations as tools for AI agents (plans/022-api-mcp.md)."""
