"""Per-project guards of autonomous publishing (key `guards:` of a project)."""

from __future__ import annotations

from sma.models.section import Section


class GuardSettings(Section):
    """Filled in by the bot and autonomy issue."""
