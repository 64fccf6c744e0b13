"""Configuration of the Telegram bot (section `bot:` of config.yaml); the token is a secret."""

from __future__ import annotations

from sma.models.section import Section


class BotSettings(Section):
    """Filled in by the bot and autonomy issue."""
