"""Activities of the approval capability for the sma-workflows worker."""

from __future__ import annotations

from sma.settings import Settings


def build(settings: Settings, database: object) -> list:
    """The activities this module contributes to the sma-workflows worker."""
    return []
