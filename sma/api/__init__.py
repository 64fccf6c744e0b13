"""The public REST API under /api/v1 (plans/022-api-mcp.md)."""
