"""The one place that wires the bot: the allow-list first, then commands, buttons, reasons and media.

`build_application` returns a python-telegram-bot Application; `run_bot` (sma/bot/runner.py) polls with
it, and the tests drive the same Application against a local Bot API server.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from sma.bot.access import gate
from sma.bot.context import KEY, BotDeps
from sma.bot.handlers import approvals, autonomy, commands, media
from sma.services.telegram.texts import COMMANDS

log = structlog.get_logger("sma.bot")
# The application as ApplicationBuilder().build() makes it; its six type parameters are the defaults.
BotApplication = Application[Any, Any, Any, Any, Any, Any]

LINK_ONLY = r"^\s*[hH][tT][tT][pP][sS]?://\S+\s*$"  # a message that is just a link starts a run from it
COMMAND_HANDLERS = {
    "start": commands.start,
    "help": commands.help_command,
    "status": commands.status,
    "queue": commands.queue,
    "new": commands.new,
    "trends": commands.trends,
    "schedule": commands.schedule,
    "stats": commands.stats,
    "autonomy": autonomy.autonomy,
    "pause": autonomy.pause,
    "resume": autonomy.resume,
    "limits": autonomy.limits,
    "cancel": commands.cancel,
    "retry": commands.retry,
}


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log and keep going: one bad update must never stop the bot."""
    log.error("bot handler failed", error=repr(context.error), update_id=getattr(update, "update_id", None))
    if isinstance(update, Update) and update.callback_query is not None:
        with contextlib.suppress(Exception):  # best effort: the query may be too old already
            await update.callback_query.answer("Something went wrong; nothing was changed.", show_alert=True)


async def _post_init(application: BotApplication) -> None:
    await application.bot.set_my_commands([BotCommand(name, what[:256]) for name, what in COMMANDS])


def build_application(deps: BotDeps, token: str) -> BotApplication:
    settings = deps.settings.bot
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .post_init(_post_init)
        .updater(None)  # sma/bot/runner.py polls: it confirms an update only after handling it
        .build()
    )
    application.bot_data[KEY] = deps
    register(application)
    return application


def register(application: BotApplication) -> None:
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, handler in COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, handler))
    application.add_handler(CallbackQueryHandler(approvals.on_button))
    application.add_handler(MessageHandler(filters.PHOTO | filters.VIDEO, media.on_media))
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(text & filters.Regex(LINK_ONLY), commands.on_link))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, approvals.on_reason))
    application.add_error_handler(on_error)
    assert set(COMMAND_HANDLERS) == {name for name, _ in COMMANDS}, "help and handlers disagree"
