"""A local Telegram Bot API server for the bot tests, and the checks that it speaks the wire format.

Requests are POSTed to /bot<token>/<method> as form data or multipart (python-telegram-bot JSON-encodes
every non-string value), answers are {"ok": true, "result": ...} or {"ok": false, "error_code": ...,
"description": ...}, and getUpdates long-polls. The server keeps the messages the bot sent so that
editMessageText can answer "message is not modified" or "message to edit not found" like Telegram does,
records every request, and feeds updates that tests push.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, InvalidToken

TOKEN = "123456:TEST-token-for-a-local-server"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "SMA", "username": "sma_test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
RAW_KEYS = {"text", "caption", "callback_query_id", "file_id", "data", "url", "description", "chat_id_raw"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _decode(params: dict[str, str]) -> dict[str, Any]:
    """Form values are strings; everything that is not free text was JSON-encoded by the client."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in RAW_KEYS:
            out[key] = value
            continue
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


class FakeBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()
        self.fail_methods: dict[str, int] = {}  # method -> how many more calls fail with 502
        self.runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------ feeding updates

    def push(self, update: dict[str, Any]) -> int:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update["update_id"]

    def user(self, user_id: int, name: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name.title(), "username": name}

    def chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Owner"}
        return {"id": chat_id, "type": "supergroup", "title": "SMA"}

    def push_text(self, user: dict[str, Any], chat_id: int, text: str, **extra: Any) -> int:
        """A message from `user`; returns its message id (the bot's replies in groups quote it)."""
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": self.chat(chat_id), "from": user, "text": text, **extra}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.push({"message": message})
        return message["message_id"]

    def push_photo(self, user: dict[str, Any], chat_id: int, data: bytes, caption: str = "") -> int:
        """A photo from `user`; returns its message id."""
        file_id = f"photo{len(self.files) + 1}"
        self.files[file_id] = data
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self.chat(chat_id),
                   "from": user, "caption": caption,
                   "photo": [{"file_id": file_id, "file_unique_id": file_id + "u", "width": 64, "height": 64,
                              "file_size": len(data)}]}
        self.push({"message": message})
        return message["message_id"]

    def push_callback(self, user: dict[str, Any], message: dict[str, Any], data: str) -> str:
        """A tap on an inline button of `message`; returns the callback query id (answers carry it)."""
        query_id = uuid.uuid4().hex
        query = {"id": query_id, "from": user, "message": message, "chat_instance": "test-chat-instance",
                 "data": data}
        self.push({"callback_query": query})
        return query_id

    async def answer_to(self, query_id: str, timeout: float = 30.0) -> Call:
        return await self.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query_id,
                                    timeout=timeout)

    # ------------------------------------------------------------ reading what the bot did

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 30.0) -> Any:
        """Until predicate(calls) is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = predicate(self.calls)
            if value:
                return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                methods = [c.method for c in self.calls[-15:]]
                raise AssertionError(f"timed out waiting on the Bot API; last calls: {methods}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    async def wait_call(self, method: str, where: Callable[[Call], bool] = lambda c: True, after: int = 0,
                        timeout: float = 30.0) -> Call:
        return await self.wait_for(lambda calls: next((c for c in calls[after:] if c.method == method and where(c)),
                                                      None), timeout)

    async def reply_to(self, message_id: int, timeout: float = 30.0) -> Call:
        """The bot's reply quoting this message (python-telegram-bot quotes in groups)."""
        return await self.wait_call(
            "sendMessage", lambda c: (c.params.get("reply_parameters") or {}).get("message_id") == message_id,
            timeout=timeout)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self.messages[(chat_id, message_id)]

    @staticmethod
    def buttons(message: dict[str, Any]) -> dict[str, str]:
        """Button label -> callback_data of a message's inline keyboard."""
        markup = message.get("reply_markup") or {}
        return {b["text"]: b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row}

    # ------------------------------------------------------------ HTTP

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        file_id = path.rsplit("/", 1)[-1].split(".")[0]
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, files)
        if method != "getUpdates":
            self.calls.append(call)
            self._changed.set()
        if self.fail_methods.get(method, 0) > 0:
            self.fail_methods[method] -= 1
            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return await handler(params)

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        raw: dict[str, str] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json()
            return {**raw, **body}, files
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    raw[key] = str(value)
        return _decode(raw), files

    # ------------------------------------------------------------ methods

    async def _m_getMe(self, p: dict[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_setMyCommands(self, p: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_getUpdates(self, p: dict[str, Any]) -> web.Response:
        offset = int(p.get("offset") or 0)
        timeout = min(float(p.get("timeout") or 0), 2.0)  # bounded: tests never hang on a poll
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        pending = [u for u in self._updates if u["update_id"] >= offset]
        if not pending and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout=timeout)
            pending = [u for u in self._updates if u["update_id"] >= offset]
        return _ok(pending[: int(p.get("limit") or 100)])

    def _store(self, chat_id: int, body: dict[str, Any]) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self.chat(chat_id),
                   "from": BOT_USER, **body}
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _m_sendMessage(self, p: dict[str, Any]) -> web.Response:
        if not str(p.get("text", "")).strip():
            return _error(400, "Bad Request: message text is empty")
        body: dict[str, Any] = {"text": p["text"]}
        if "reply_markup" in p:
            body["reply_markup"] = p["reply_markup"]
        if "reply_parameters" in p:
            reply = p["reply_parameters"]
            target = self.messages.get((int(p["chat_id"]), int(reply["message_id"])))
            if target is not None:
                body["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        return _ok(self._store(int(p["chat_id"]), body))

    async def _m_sendVideo(self, p: dict[str, Any]) -> web.Response:
        video = {"file_id": "video1", "file_unique_id": "video1u", "width": 1080, "height": 1920, "duration": 7}
        return _ok(self._store(int(p["chat_id"]), {"video": video, "caption": p.get("caption", "")}))

    async def _m_sendDocument(self, p: dict[str, Any]) -> web.Response:
        document = {"file_id": "doc1", "file_unique_id": "doc1u"}
        return _ok(self._store(int(p["chat_id"]), {"document": document, "caption": p.get("caption", "")}))

    async def _m_editMessageText(self, p: dict[str, Any]) -> web.Response:
        key = (int(p["chat_id"]), int(p["message_id"]))
        message = self.messages.get(key)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = p.get("reply_markup")
        if message.get("text") == p["text"] and message.get("reply_markup") == markup:
            return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                               "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = p["text"]
        if markup is None:
            message.pop("reply_markup", None)  # editing without reply_markup removes the inline keyboard
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return _ok(message)

    async def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> web.Response:
        message = self.messages.get((int(p["chat_id"]), int(p["message_id"])))
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return _ok(message)

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_getFile(self, p: dict[str, Any]) -> web.Response:
        file_id = p["file_id"]
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return _ok({"file_id": file_id, "file_unique_id": file_id + "u", "file_size": len(self.files[file_id]),
                    "file_path": f"photos/{file_id}.jpg"})


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


# ---------------------------------------------------------------- the server speaks what PTB expects


async def test_real_client_round_trip(bot_api: FakeBotAPI) -> None:
    async with Bot(TOKEN, base_url=bot_api.base_url, base_file_url=bot_api.file_url) as bot:
        assert bot.username == "sma_test_bot"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="a1.1.xxxxxxxxxxxxxxxx")]])
        sent = await bot.send_message(-1001234567890, "hello", reply_markup=markup)
        assert sent.chat.id == -1001234567890 and sent.text == "hello"
        assert bot_api.buttons(bot_api.message(sent.chat.id, sent.message_id)) == {"Approve": "a1.1.xxxxxxxxxxxxxxxx"}
        edited = await bot.edit_message_text("hello, edited", chat_id=sent.chat.id, message_id=sent.message_id)
        assert edited.text == "hello, edited"
        assert "reply_markup" not in bot_api.message(sent.chat.id, sent.message_id)
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("hello, edited", chat_id=sent.chat.id, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="not found"):
            await bot.edit_message_text("x", chat_id=sent.chat.id, message_id=1)
        video = await bot.send_video(42, video=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, caption="v")
        assert video.video is not None and bot_api.of("sendVideo")[0].files["video"].startswith(b"\x00\x00")


async def test_wrong_token_is_refused(bot_api: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=bot_api.base_url):
            pass
