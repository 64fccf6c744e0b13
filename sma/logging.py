"""Process-wide logging: JSON lines in the data dir plus readable console lines, secrets redacted.

structlog and stdlib loggers (temporalio, alembic, httpx, ...) share one pair of stdlib handlers, each
with a structlog `ProcessorFormatter`, so every record is written to both outputs the same way and passes
through the same redactor. Workflow code must not import this module (structlog's locks break inside the
Temporal sandbox); workflows use `workflow.logger`, which lands here through stdlib logging.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from io import TextIOWrapper
from pathlib import Path
from typing import Any, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from sma.environment import open_private, private_logs
from sma.settings import Settings

REDACTED = "[REDACTED]"
LOG_FILE = "sma.jsonl"
MIN_SECRET_LENGTH = 6

SENSITIVE_KEY = re.compile(r"token|secret|password|api_key|apikey|authorization|cookie|fernet", re.IGNORECASE)
# Shapes of credentials we may not know the value of: Telegram bot tokens, OpenAI/Anthropic-style keys,
# and bearer headers.
SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}=*"),
)
# Libraries that log every HTTP request at INFO (python-telegram-bot polls every few seconds).
_CHATTY_LOGGERS = ("httpx", "httpcore", "alembic")
_HANDLER_MARK = "_sma_handler"


class Redactor:
    """Removes secrets from event dicts and rendered lines.

    Usable as a structlog processor (dict in, dict out) and, through `scrub_rendered`, as the last step
    after a renderer, which catches anything a renderer produced from objects the dict pass could not see
    (tracebacks, reprs).
    """

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        values = sorted({v for v in secret_values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def scrub(self, text: str) -> str:
        """Replace every known secret value and every secret-shaped substring in `text`."""
        if self._values is not None:
            text = self._values.sub(REDACTED, text)
        for pattern in SECRET_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def redact(self, value: Any, key: str | None = None) -> Any:
        """A copy of `value` with sensitive keys blanked and strings scrubbed, recursing into containers."""
        if key is not None and SENSITIVE_KEY.search(key) and not _is_harmless(value):
            return REDACTED
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {k: self.redact(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        return value

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        # exc_info stays as is: the renderer formats it and scrub_rendered cleans the text.
        return {
            k: v if k in ("exc_info", "_record", "_from_structlog") else self.redact(v, k)
            for k, v in event_dict.items()
        }

    def scrub_rendered(self, _: WrappedLogger, __: str, rendered: Any) -> Any:
        return self.scrub(rendered) if isinstance(rendered, str) else rendered


def _is_harmless(value: Any) -> bool:
    """Values a sensitive-looking key may keep: empty ones and numbers (prompt_tokens=812)."""
    return value is None or value == "" or isinstance(value, bool | int | float)


def _add_component(component: str) -> Processor:
    def add(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("component", component)
        return event_dict

    return add


def _pre_chain() -> list[Processor]:
    """What both structlog events and foreign stdlib records get before formatting."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(renderer: Processor, redactor: Redactor, component: str, *, json: bool) -> logging.Formatter:
    exc: list[Processor] = [structlog.processors.format_exc_info] if json else []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_component(component),
            *exc,
            redactor,
            renderer,
            redactor.scrub_rendered,
        ],
    )


def _mark(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _HANDLER_MARK, True)
    return handler


def _remove_own_handlers(root: logging.Logger) -> None:
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()


class PrivateFileHandler(logging.FileHandler):
    """Opens its file at the first record, in a private `logs/` folder and as a 0600 file, so a command
    that logs nothing creates nothing."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)

    def _open(self) -> TextIOWrapper:
        path = Path(self.baseFilename)
        private_logs(path.parent.parent)
        return cast(TextIOWrapper, open_private(path, "a", encoding="utf-8"))  # text mode opens a TextIOWrapper


def _handlers(settings: Settings, redactor: Redactor, component: str) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    if settings.logging.json_file:
        file_handler = PrivateFileHandler((settings.data_dir / "logs" / LOG_FILE).absolute())
        file_handler.setFormatter(
            _formatter(structlog.processors.JSONRenderer(), redactor, component, json=True)
        )
        handlers.append(file_handler)
    if settings.logging.console:
        console = logging.StreamHandler(sys.stderr)
        # plain_traceback: rich's pretty tracebacks show truncated locals, which could leak part of a secret.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        console.setFormatter(_formatter(renderer, redactor, component, json=False))
        handlers.append(console)
    return handlers


def configure_logging(settings: Settings, component: str = "sma") -> None:
    """Send structlog and stdlib logging to the JSONL file and stderr; safe to call again (replaces)."""
    level = logging.getLevelName(settings.logging.level)
    redactor = Redactor(settings.secrets.values())
    root = logging.getLogger()
    _remove_own_handlers(root)
    for handler in _handlers(settings, redactor, component):
        handler.setLevel(level)
        root.addHandler(_mark(handler))
    root.setLevel(level)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_pre_chain(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so a second configure_logging (tests, `sma up` after config reload) takes effect.
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Undo configure_logging: drop our handlers and restore structlog's defaults (for tests)."""
    _remove_own_handlers(logging.getLogger())
    structlog.reset_defaults()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named like a stdlib one, so levels and handlers apply per module."""
    return structlog.stdlib.get_logger(name)
