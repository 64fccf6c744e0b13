"""Commands of the media engine (issue 3): 'sma qa video', 'sma qa audio'."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
