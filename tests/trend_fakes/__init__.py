"""A local HTTP server speaking the wire formats of the trend sources (tests only)."""
