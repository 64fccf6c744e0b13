"""TelegramNotifier: the workflow's notices as Telegram messages, routed to each project's chat.

- approval: the video (or a link when it is over the upload limit), then the script, QA reports and
  platforms with signed Approve / Reject buttons. The row in `approval_messages` is created first and
  checked on every call, so a retried or restarted sender never asks twice.
- decided / expired: the approval message is edited in place (who decided and when; or a Re-open button).
- reminder: a reply to the approval message (or the whole approval if it never got out).
- progress: one message per run, edited as steps finish; failures are reported, never raised.
Every notice is also logged (the LogNotifier line), whatever happens to the Telegram call.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, TelegramError

from sma.db.engine import Database
from sma.db.tables_autonomy import ApprovalMessage
from sma.models.autonomy import ApprovalNotice
from sma.models.pipeline import NotifyRequest, NotifyResult
from sma.services.notify.notifier import LogNotifier
from sma.services.telegram import store
from sma.services.telegram.callbacks import CallbackCodec, derive_secret
from sma.services.telegram.texts import approval_text, clip, decision_footer, expired_footer, with_footer
from sma.settings import ConfigError, Settings

log = structlog.get_logger("sma.bot.notifier")
QUIET_KINDS = {"progress", "script"}


def make_bot(settings: Settings) -> Bot:
    assert settings.secrets.telegram_bot_token is not None
    return Bot(settings.secrets.telegram_bot_token.get_secret_value(), base_url=settings.bot.api_base_url,
               base_file_url=settings.bot.file_base_url)


def make_codec(settings: Settings) -> CallbackCodec:
    secret = settings.secrets.callback_secret
    token = settings.secrets.telegram_bot_token
    return CallbackCodec(derive_secret(secret.get_secret_value() if secret else None,
                                       token.get_secret_value() if token else None))


def chat_for(settings: Settings, project_id: str) -> int | None:
    """The project's own chat, else the bot's default chat."""
    try:
        chat = settings.project(project_id).telegram_chat_id
    except ConfigError:
        chat = None
    return chat if chat is not None else settings.bot.default_chat_id


def approval_buttons(codec: CallbackCodec, approval_id: int, round_no: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("✅ Approve", callback_data=codec.encode("a", approval_id, round_no)),
        InlineKeyboardButton("✏️ Reject", callback_data=codec.encode("r", approval_id, round_no)),
    ]])


def reopen_button(codec: CallbackCodec, approval_id: int, round_no: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("↩️ Re-open", callback_data=codec.encode("o", approval_id,
                                                                                                  round_no))]])


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in str(exc).lower()


class TelegramNotifier:
    name = "telegram"

    def __init__(self, bot: Bot, settings: Settings, database: Database, codec: CallbackCodec) -> None:
        self.bot = bot
        self.settings = settings
        self.database = database
        self.codec = codec
        self.fallback = LogNotifier()
        self._initialized = False
        self._init_lock = asyncio.Lock()
        self._run_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @classmethod
    def from_settings(cls, settings: Settings, database: Database) -> TelegramNotifier:
        return cls(make_bot(settings), settings, database, make_codec(settings))

    async def _ready(self) -> None:
        async with self._init_lock:
            if not self._initialized:
                await self.bot.initialize()
                self._initialized = True

    async def close(self) -> None:
        if self._initialized:
            await self.bot.shutdown()
            self._initialized = False

    async def send(self, req: NotifyRequest) -> NotifyResult:
        if req.kind != "progress":  # the log keeps every notice but the step-by-step progress
            await self.fallback.send(req)
        chat = chat_for(self.settings, req.project_id)
        if chat is None:
            return NotifyResult(delivered=False, channel="log", tier="log", notes=["no Telegram chat for project"])
        if req.kind == "progress" and not self.settings.bot.progress:
            return NotifyResult(delivered=False, channel="log", tier="log", notes=["progress messages are off"])
        handler = {
            "approval": self._approval, "decided": self._decided, "expired": self._expired,
            "reminder": self._reminder, "progress": self._progress,
        }.get(req.kind, self._plain)
        key = req.run_id or req.project_id
        lock = self._run_locks.get(key)
        if lock is None:
            lock = self._run_locks[key] = asyncio.Lock()
        try:
            await self._ready()
            async with lock:
                notes = await handler(chat, req)
        except TelegramError as exc:
            log.warning("telegram notice failed", project=req.project_id, run=req.run_id, kind=req.kind,
                        error=str(exc))
            if req.kind == "approval":
                raise  # the activity retries; the approval row makes the retry safe
            return NotifyResult(delivered=False, channel=self.name, tier=self.name, notes=[str(exc)])
        return NotifyResult(delivered=True, channel=self.name, tier=self.name, notes=notes)

    # ------------------------------------------------------------ kinds

    async def _plain(self, chat: int, req: NotifyRequest) -> list[str]:
        await self.bot.send_message(chat, clip(req.text), disable_notification=req.kind in QUIET_KINDS)
        return []

    async def _approval(self, chat: int, req: NotifyRequest) -> list[str]:
        notice = req.approval or ApprovalNotice(title=req.text)
        row, _ = await store.approval_row(self.database, req.project_id, req.run_id, notice.round, notice.seq,
                                          notice.title)
        if row.state != "pending":
            return [f"approval already {row.state}; not sent again"]
        assert row.id is not None
        video_message_id, video_note = row.video_message_id, ""
        if video_message_id is None:
            video_message_id, video_note = await self._send_video(chat, req, notice)
            if video_message_id is not None:
                await store.update_approval(self.database, row.id, video_message_id=video_message_id)
        text = approval_text(notice, req.project_id, video_note)
        reply = ReplyParameters(message_id=video_message_id, allow_sending_without_reply=True) \
            if video_message_id else None
        message = await self.bot.send_message(chat, text, reply_markup=approval_buttons(self.codec, row.id,
                                                                                         notice.round),
                                              reply_parameters=reply)
        await store.mark_sent(self.database, row.id, chat, message.message_id, text, video_message_id)
        await store.supersede(self.database, req.run_id, keep_id=row.id)
        return [f"approval message {message.message_id}"]

    async def _send_video(self, chat: int, req: NotifyRequest, notice: ApprovalNotice) -> tuple[int | None, str]:
        video = req.video
        if video is None or not Path(video.path).is_file():
            return None, "(no video file to show)"
        limit = self.settings.bot.max_upload_mb * 1024 * 1024
        if video.size > limit:
            link = self.settings.bot.preview_url.format(run_id=req.run_id) if self.settings.bot.preview_url else ""
            where = f": {link}" if link else "; open it from the dashboard"
            return None, f"The video is {video.size / 1e6:.0f} MB, over the upload limit{where}"
        with open(video.path, "rb") as fh:
            message = await self.bot.send_video(chat, video=fh, caption=clip(f"{notice.title} (round {notice.round})",
                                                                            1024),
                                                supports_streaming=True, write_timeout=300, read_timeout=60)
        return message.message_id, ""

    async def _row_for(self, req: NotifyRequest) -> ApprovalMessage | None:
        notice = req.approval
        if notice is None:
            return await store.latest_approval(self.database, req.run_id)
        rows = [r for r in await store.approvals_of_run(self.database, req.run_id)
                if r.round == notice.round and (notice.seq == 0 or r.seq == notice.seq)]
        return rows[-1] if rows else None

    async def _decided(self, chat: int, req: NotifyRequest) -> list[str]:
        notice = req.approval or ApprovalNotice()
        row = await self._row_for(req)
        if row is None or row.id is None or row.message_id is None or row.chat_id is None:
            return ["no approval message to update"]
        if row.state == "answered":
            return ["already shown as decided"]  # the bot edited it when the person tapped
        approved = bool(notice.approved)
        await store.record_decision(self.database, row.id, "approved" if approved else "rejected", notice.by)
        await store.close_prompts(self.database, row.id)
        await self._edit(row.chat_id, row.message_id,
                         with_footer(row.text, decision_footer(approved, notice.by, feedback=notice.feedback)))
        return ["approval message updated"]

    async def _expired(self, chat: int, req: NotifyRequest) -> list[str]:
        row = await self._row_for(req)
        if row is None or row.id is None or row.message_id is None or row.chat_id is None:
            await self._plain(chat, req)
            return ["no approval message; sent a notice"]
        await store.set_state(self.database, row.id, "expired", only_from=("sent", "pending"))
        await store.close_prompts(self.database, row.id)
        await self._edit(row.chat_id, row.message_id, with_footer(row.text, expired_footer()),
                         markup=reopen_button(self.codec, row.id, row.round))
        return ["approval message marked expired"]

    async def _reminder(self, chat: int, req: NotifyRequest) -> list[str]:
        row = await self._row_for(req)
        if row is None or row.state == "pending":  # the approval itself never got out: send it now
            if req.approval is not None:
                return await self._approval(chat, req.model_copy(update={"kind": "approval"}))
            await self._plain(chat, req)
            return ["reminder sent without an approval message"]
        if row.state != "sent" or row.reminded or row.id is None:
            return [f"no reminder: approval is {row.state}"]
        reply = ReplyParameters(message_id=row.message_id, allow_sending_without_reply=True) \
            if row.message_id else None
        await self.bot.send_message(row.chat_id or chat, "⏰ " + clip(req.text), reply_parameters=reply)
        await store.mark_reminded(self.database, row.id)
        return ["reminder sent"]

    async def _progress(self, chat: int, req: NotifyRequest) -> list[str]:
        text = clip(req.text)
        row = await store.progress_row(self.database, req.run_id)
        if row is not None and row.text == text:
            return ["progress unchanged"]
        if row is not None:
            try:
                await self.bot.edit_message_text(text, chat_id=row.chat_id, message_id=row.message_id)
                await store.save_progress(self.database, req.project_id, req.run_id, row.chat_id, row.message_id,
                                          text)
                return ["progress edited"]
            except BadRequest as exc:
                if _not_modified(exc):
                    return ["progress unchanged"]
                log.info("progress message gone; sending a new one", run=req.run_id, error=str(exc))
        message = await self.bot.send_message(chat, text, disable_notification=True)
        await store.save_progress(self.database, req.project_id, req.run_id, chat, message.message_id, text)
        return ["progress sent"]

    async def _edit(self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        try:
            await self.bot.edit_message_text(clip(text), chat_id=chat_id, message_id=message_id, reply_markup=markup)
        except BadRequest as exc:
            if not _not_modified(exc):
                raise
