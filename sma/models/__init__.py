"""Pydantic contracts between workflows, activities and services."""
