"""Telegram Bot API sendVideo to a channel: multipart upload, {"ok", "result"} answers, 429 retry_after."""

from __future__ import annotations

import itertools
import time

from tests.platform_fakes.server import FakeServer, Request, Response


class FakeTelegram(FakeServer):
    name = "telegram"

    def __init__(self, token: str = "123456789:AAH-telegram-bot-token-abcdefghijkl", channel: str = "@devtoolsdaily"):
        super().__init__()
        self.token, self.channel = token, channel
        self.messages: list[dict] = []
        self._ids = itertools.count(41)
        self.route("POST", r"/bot([^/]+)/sendVideo", self._send)

    def _send(self, req: Request) -> Response:
        if req.path.split("/")[1] != f"bot{self.token}":
            return Response(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        form, files = req.form(), req.files()
        if form.get("chat_id") != self.channel:
            return Response(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        if len(form.get("caption", "")) > 1024:
            return Response(400, {"ok": False, "error_code": 400,
                                  "description": "Bad Request: message caption is too long"})
        message = {"message_id": next(self._ids), "date": int(time.time()), "caption": form.get("caption", ""),
                   "chat": {"id": -1001234567890, "title": "Dev Tools Daily", "username": self.channel.lstrip("@"),
                            "type": "channel"},
                   "video": {"file_id": "BAACAgIAAx", "file_unique_id": "AgAD",
                             "duration": int(form.get("duration", 0)),
                             "width": int(form.get("width", 0)), "height": int(form.get("height", 0)),
                             "mime_type": "video/mp4", "file_size": len(files.get("video", b""))}}
        self.messages.append(message)
        return Response(200, {"ok": True, "result": message})
