"""Commands of the publishing and analytics (issue 7): 'sma stats', 'sma secrets rotate', credentials."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
