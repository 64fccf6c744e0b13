"""A Telegram channel through the Bot API `sendVideo` (the bot must be an admin of the channel).

The Bot API has no idempotency key and no way for a bot to read a channel's history, so an interrupted
send cannot be checked afterwards. The publish record marks `sending` before the call; a retry that finds
it without a message id stops with a clear message (`on_uncertain: skip`, the default, never risks a
second copy) or sends again (`resend`). Errors: {"ok": false, "error_code", "description",
"parameters": {"retry_after"}}.
"""

from __future__ import annotations

from typing import Any

import httpx

from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import TelegramOptions
from sma.services.platforms.errors import (
    NoAnswer,
    PlatformError,
    ReauthRequired,
    Rejected,
    RetryLater,
    Uncertain,
    reauth_hint,
)
from sma.services.platforms.http import ApiClient, json_body, retry_after, scrub
from sma.services.platforms.metadata import PostDraft


def message_url(chat: dict[str, Any], message_id: int) -> str:
    """t.me link of a channel post: public channels by username, private ones by the -100 id."""
    if chat.get("username"):
        return f"https://t.me/{chat['username']}/{message_id}"
    chat_id = str(chat.get("id", ""))
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return ""


class TelegramChannel:
    name = "telegram"

    def __init__(self, base_url: str, bot_token: str, chat_id: str, options: TelegramOptions, http: ApiClient,
                 project_id: str) -> None:
        self.url = f"{base_url.rstrip('/')}/bot{bot_token}/sendVideo"
        self._token = bot_token
        self.chat_id = chat_id
        self.options = options
        self.http = http
        self.project_id = project_id

    def check(self, response: httpx.Response) -> None:
        body = json_body(response)
        if response.status_code < 300 and body.get("ok"):
            return
        code = int(body.get("error_code") or response.status_code)
        description = scrub(str(body.get("description") or ""), self._token)
        if code == 429:
            wait = (body.get("parameters") or {}).get("retry_after")
            raise RetryLater("Telegram rate limit", float(wait) if wait is not None else retry_after(response))
        if code >= 500:
            raise RetryLater(f"Telegram answered {code}")
        if code in (401, 404):
            raise ReauthRequired(reauth_hint(self.project_id, "telegram", "Telegram rejected the bot token"))
        if code == 403 or "chat not found" in description.lower():
            raise ReauthRequired(f"Telegram: {description or 'forbidden'}. Add the bot to channel {self.chat_id} as "
                                 f"an admin that may post, then retry")
        raise Rejected(f"Telegram refused the video: {description or code}")

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        if ctx.data.get("sending") and not ctx.data.get("message_id") and self.options.on_uncertain == "skip":
            raise Uncertain(f"an earlier attempt to post to Telegram channel {self.chat_id} was interrupted and "
                            "Telegram offers no way to check whether it arrived; look at the channel (to post "
                            "again automatically in such cases set publishing.telegram.on_uncertain: resend)")
        await ctx.save(sending=True)
        form = {"chat_id": self.chat_id, "caption": draft.caption, "supports_streaming": "true",
                "duration": str(round(video.duration_s))}
        if video.width and video.height:
            form.update(width=str(video.width), height=str(video.height))
        try:
            with video.path.open("rb") as fh:
                response = await self.http.request("POST", self.url, self.check, data=form,
                                                   files={"video": (video.path.name, fh.read(), "video/mp4")})
        except NoAnswer:
            raise  # it may have arrived: `sending` stays set for the next attempt to see
        except PlatformError:
            await ctx.save(sending=False)  # Telegram answered with an error: nothing was posted
            raise
        message = json_body(response).get("result") or {}
        message_id = int(message.get("message_id") or 0)
        await ctx.save(message_id=message_id)
        return PostResult(platform=self.name, status="published", external_id=str(message_id),
                          url=message_url(message.get("chat") or {}, message_id), reason="; ".join(ctx.notes))

    async def aclose(self) -> None:
        await self.http.close()
