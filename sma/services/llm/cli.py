"""Commands of the LLM gateway (issue 4): e.g. 'sma llm test', 'sma script --topic T'."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
