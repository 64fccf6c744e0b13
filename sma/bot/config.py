"""Configuration of the Telegram bot (section `bot:` of config.yaml); the token is a secret.

The approval timings live here too: they apply to every approval whatever channel answers it (bot,
dashboard, CLI), but the bot is what reminds.
"""

from __future__ import annotations

from pydantic import Field

from sma.models.section import Section


class BotSettings(Section):
    enabled: bool = Field(True, description="`sma up` starts the bot when this is on and a token is set")
    allowed_user_ids: list[int] = Field(default_factory=list, description="Telegram user ids that may act")
    default_chat_id: int | None = Field(None, description="chat for projects without telegram_chat_id")
    api_base_url: str = Field("https://api.telegram.org/bot", description="Bot API endpoint (local server)")
    file_base_url: str = Field("https://api.telegram.org/file/bot")
    max_upload_mb: float = Field(50.0, gt=0, description="bigger videos are linked instead of uploaded")
    preview_url: str = Field("", description="link for big videos; {run_id} is replaced; empty = no link")
    reminder_minutes: float = Field(120.0, ge=0, description="remind an undecided approval; 0 = never")
    expiry_hours: float = Field(48.0, ge=0, description="park an undecided run as expired; 0 = never")
    progress: bool = Field(True, description="one progress message per run, edited as steps finish")
    render_progress_s: float = Field(5.0, gt=0, description="how often the bot refreshes progress messages "
                                     "(recorded steps, render percentage)")
    poll_timeout_s: int = Field(30, ge=0, le=50, description="getUpdates long-poll timeout")
