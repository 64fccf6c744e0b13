"""The allow-list: the first handler (group -1) refuses anyone not listed, logs it, and stops there."""

from __future__ import annotations

import structlog
from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from sma.bot.context import deps
from sma.services.telegram.texts import REFUSAL

log = structlog.get_logger("sma.bot.access")


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let allow-listed users through; answer everyone else politely, log the attempt, stop processing."""
    user = update.effective_user
    if deps(context).allowed(user.id if user else None):
        return
    chat = update.effective_chat
    query = update.callback_query
    log.warning("refused stranger", user_id=user.id if user else None, username=user.username if user else None,
                chat_id=chat.id if chat else None, kind="callback" if query else "message",
                text=(update.effective_message.text or "")[:80] if update.effective_message and not query else None)
    if query is not None:
        await query.answer(REFUSAL, show_alert=True)
    elif update.effective_message is not None and chat is not None:
        text = update.effective_message.text or ""
        if chat.type == "private" or text.startswith("/"):  # in groups, only answer what was addressed to us
            await update.effective_message.reply_text(REFUSAL)
    raise ApplicationHandlerStop
