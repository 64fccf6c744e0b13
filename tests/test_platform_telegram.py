"""Telegram channel adapter against a local Bot API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.config import TelegramOptions
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.telegram import FakeTelegram


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server  # type: ignore[misc]


async def _harness(tg: FakeTelegram, settings: Settings, database: Database, video: Path, **options: object) -> Harness:
    s = settings_for(settings, api=api_for(telegram=tg.url), telegram=TelegramOptions(**options))
    h = harness(s, database, video)
    await h.set_credentials("telegram", chat_id=tg.channel, bot_token=tg.token)
    return h


@pytest.fixture
async def h(tg: FakeTelegram, settings: Settings, database: Database, video_file: Path) -> Harness:
    return await _harness(tg, settings, database, video_file)


async def test_posts_the_video_with_caption_and_link(h: Harness, tg: FakeTelegram) -> None:
    post = await h.service.publish(h.request(), "telegram")
    assert post.status == "published", post.reason
    [message] = tg.messages
    assert post.url == f"https://t.me/devtoolsdaily/{message['message_id']}"
    assert message["caption"].startswith("Why uv is so fast") and message["video"]["file_size"] == h.video.size
    assert (message["video"]["width"], message["video"]["height"], message["video"]["duration"]) == (360, 640, 3)


async def test_429_retry_after_is_honoured(h: Harness, tg: FakeTelegram) -> None:
    tg.fail("POST", r"/sendVideo", 429, {"ok": False, "error_code": 429,
                                         "description": "Too Many Requests: retry after 1",
                                         "parameters": {"retry_after": 1}})
    post = await h.service.publish(h.request(), "telegram")
    assert post.status == "published" and len(tg.calls("POST", r"/sendVideo")) == 2


async def test_interrupted_send_is_never_repeated_blindly(h: Harness, tg: FakeTelegram) -> None:
    tg.drop_after("POST", r"/sendVideo")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "telegram")
    post = await h.service.publish(h.request(), "telegram")
    assert post.status == "failed" and "look at the channel" in post.reason
    assert len(tg.messages) == 1


async def test_interrupted_send_is_repeated_when_configured(tg: FakeTelegram, settings: Settings,
                                                            database: Database, video_file: Path) -> None:
    h = await _harness(tg, settings, database, video_file, on_uncertain="resend")
    tg.drop_after("POST", r"/sendVideo")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "telegram")
    post = await h.service.publish(h.request(), "telegram")
    assert post.status == "published" and len(tg.messages) == 2  # the documented trade-off of `resend`


async def test_wrong_channel_and_wrong_token_say_what_to_do(h: Harness, tg: FakeTelegram) -> None:
    await h.set_credentials("telegram", chat_id="@elsewhere", bot_token=tg.token)
    post = await h.service.publish(h.request(run_id="run-chat"), "telegram")
    assert post.status == "failed" and "Add the bot to channel @elsewhere" in post.reason

    await h.set_credentials("telegram", chat_id=tg.channel, bot_token="999:wrong-token-for-this-test-xxxxxx")
    post = await h.service.publish(h.request(run_id="run-token"), "telegram")
    assert post.status == "failed" and "sma credentials set test telegram" in post.reason
    assert "wrong-token" not in post.reason
