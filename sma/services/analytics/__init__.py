"""Metrics collection and engagement scores."""
