"""Dual-write logging with secrets redacted from both the JSONL file and the console."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.logging import REDACTED, Redactor, configure_logging, get_logger, reset_logging
from sma.settings import Settings, load_settings

BOT_TOKEN = "123456789:AAHfakeFAKEfakeFAKEfakeFAKEfake_-12345"
API_KEY = "sk-test-0123456789abcdefABCDEF"
ADMIN_PASSWORD = "hunter2-but-longer"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(env={
        "SMA_DATA_DIR": str(tmp_path),
        "SMA_SECRETS__TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "SMA_SECRETS__OPENAI_API_KEY": API_KEY,
        "SMA_SECRETS__ADMIN_PASSWORD": ADMIN_PASSWORD,
    })


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(settings: Settings) -> list[dict]:
    path = settings.data_dir / "logs" / "sma.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _emit_everything() -> None:
    log = get_logger("sma.test")
    log.info(f"connecting with {BOT_TOKEN}")
    log.info("calling llm", api_key=API_KEY, model="gpt")
    log.warning("odd config", detail=f"url=https://api.telegram.org/bot{BOT_TOKEN}/getMe", admin=ADMIN_PASSWORD)
    logging.getLogger("temporalio").warning("activity failed with %s", API_KEY)
    try:
        raise RuntimeError(f"bad token {BOT_TOKEN}")
    except RuntimeError:
        log.exception("structlog traceback")
        logging.getLogger("alembic").exception("stdlib traceback")


def test_secrets_are_redacted_in_file_and_console(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(settings, component="test")
    _emit_everything()
    for handler in logging.getLogger().handlers:
        handler.flush()

    file_text = (settings.data_dir / "logs" / "sma.jsonl").read_text(encoding="utf-8")
    console = capsys.readouterr().err
    for output in (file_text, console):
        assert REDACTED in output
        for secret in (BOT_TOKEN, API_KEY, ADMIN_PASSWORD, "AAHfakeFAKE"):
            assert secret not in output

    events = _json_lines(settings)
    assert [e["event"] for e in events][-2:] == ["structlog traceback", "stdlib traceback"]
    by_event = {e["event"]: e for e in events}
    assert by_event["calling llm"]["api_key"] == REDACTED
    assert by_event["calling llm"]["model"] == "gpt"
    assert by_event["activity failed with [REDACTED]"]["logger"] == "temporalio"
    assert all(e["component"] == "test" and "timestamp" in e and "level" in e for e in events)
    assert "RuntimeError: bad token [REDACTED]" in by_event["stdlib traceback"]["exception"]
    assert "RuntimeError: bad token [REDACTED]" in by_event["structlog traceback"]["exception"]
    assert "stdlib traceback" in console and "RuntimeError: bad token [REDACTED]" in console


def test_configure_twice_does_not_duplicate(settings: Settings) -> None:
    configure_logging(settings)
    configure_logging(settings)
    get_logger("sma.test").info("once")
    lines = [e for e in _json_lines(settings) if e["event"] == "once"]
    assert len(lines) == 1
    own = [h for h in logging.getLogger().handlers if getattr(h, "_sma_handler", False)]
    assert len(own) == 2


def test_level_filters_both_kinds_of_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"SMA_DATA_DIR": str(tmp_path), "SMA_LOGGING__LEVEL": "WARNING"})
    configure_logging(settings)
    get_logger("sma.test").info("quiet")
    logging.getLogger("temporalio").info("quiet too")
    get_logger("sma.test").warning("loud")
    assert [e["event"] for e in _json_lines(settings)] == ["loud"]


def test_redactor_patterns_without_known_values() -> None:
    redactor = Redactor(["short", ""])  # values under 6 characters are ignored
    text = "tok 987654321:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef01 key sk-proj-abcdefghijklmnop1234 short"
    assert redactor.scrub(text) == f"tok {REDACTED} key {REDACTED} short"
    nested = redactor.redact({"headers": {"Authorization": "Bearer x"}, "cookies": ["a"], "prompt_tokens": 812})
    assert nested == {"headers": {"Authorization": REDACTED}, "cookies": REDACTED, "prompt_tokens": 812}
