"""A photo or video sent to the bot starts a pipeline with that media for step 1 (vision)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog
from telegram import PhotoSize, Update, Video
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from sma.bot.context import deps
from sma.bot.handlers.commands import FORCE_WORDS, pick_project
from sma.bot.starts import start_run
from sma.models.pipeline import Topic
from sma.models.topic import TopicError

log = structlog.get_logger("sma.bot.media")
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves files up to 20 MB


async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    d = deps(context)
    attachment: PhotoSize | Video
    if message.photo:
        attachment, suffix, kind = message.photo[-1], ".jpg", "image"
    elif message.video:
        attachment, suffix, kind = message.video, ".mp4", "video"
    else:
        return
    if (attachment.file_size or 0) > DOWNLOAD_LIMIT:
        await message.reply_text("That file is over the 20 MB a bot may download; send a smaller one.")
        return
    caption = (message.caption or "").strip()
    project, words = pick_project(d, message.chat.id, caption.split())
    if project is None:
        await message.reply_text("No such project.")
        return
    force = bool(words) and words[0] in FORCE_WORDS
    try:
        topic = Topic.checked(" ".join(words[1:] if force else words) or f"{kind.title()} from Telegram")
    except TopicError as exc:
        await message.reply_text(f"Nothing was started: {exc} (the caption is the topic).")
        return
    try:
        tg_file = await attachment.get_file()
        with tempfile.TemporaryDirectory(dir=d.store.tmp) as folder:
            path = Path(folder) / f"upload{suffix}"
            await tg_file.download_to_drive(path)
            ref = d.store.put(path, kind=kind)
    except TelegramError as exc:
        log.warning("media download failed", error=str(exc))
        await message.reply_text("I could not download that file from Telegram; please send it again.")
        return
    started, level = await start_run(d, project, topic, [ref.path], force=force)
    if started.existing:
        await message.reply_text(f"{started.note_for('--force at the start of the caption')}.\n{started.workflow_id}")
        return
    await message.reply_text(f"Got it. Started '{topic.title}' with your {kind} (autonomy {level}).\n"
                             f"{started.workflow_id}")
