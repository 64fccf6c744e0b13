"""Semantic memory of each project (Mem0): covered topics and learned insights, retrieved per topic."""
