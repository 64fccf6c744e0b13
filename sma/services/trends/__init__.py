"""Trend discovery: sources, scoring, deduplication, niche filter."""
