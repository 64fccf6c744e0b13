"""Publishing adapters, one per platform, behind the `Platform` protocol."""
