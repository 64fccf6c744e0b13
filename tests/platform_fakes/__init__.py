"""Local HTTP servers that speak the real wire formats of the platforms (for tests only)."""
