"""Commands of the bot and autonomy (issue 5): 'sma bot', 'sma autonomy'."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
