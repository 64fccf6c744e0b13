"""`sma bot`: the Telegram bot, until Ctrl-C."""

from __future__ import annotations

import asyncio

import typer

from sma.cli import common


def register(app: typer.Typer) -> None:
    """Add this command to the `sma` app."""
    app.command("bot")(bot)


def bot() -> None:
    """Run the Telegram bot (needs secrets.telegram_bot_token and bot.allowed_user_ids) until Ctrl-C."""
    from sma.bot.runner import run_bot
    from sma.settings import ConfigError

    loaded = common.settings()
    try:
        asyncio.run(run_bot(loaded))
    except ConfigError as exc:
        common.fail(str(exc))
