"""SMA: a self-hosted social media automation engine."""

__version__ = "0.1.0"
