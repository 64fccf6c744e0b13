"""`sma bot`: long-poll Telegram until SIGINT/SIGTERM, riding out Telegram and Temporal outages.

The poller confirms an update to Telegram (by asking for the next offset) only after its handler
finished, so a crash or a kill re-delivers it: at least once. Handlers are idempotent (an approval row is
claimed once, the workflow ignores a repeated decision), so a repeat is harmless. Network errors back off
up to a minute and never stop the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

import structlog
from telegram.error import InvalidToken, TelegramError

from sma import metrics
from sma.bot.app import BotApplication, build_application
from sma.bot.context import BotDeps
from sma.bot.progress import progress_loop
from sma.db.engine import Database
from sma.services.autonomy.service import AutonomyService
from sma.services.blobs.store import artifact_store
from sma.services.telegram.notifier import TelegramNotifier, make_codec
from sma.settings import ConfigError, Settings

log = structlog.get_logger("sma.bot")
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BACKOFF_S = 60.0


@dataclass
class RunningBot:
    application: BotApplication
    database: Database
    notifier: TelegramNotifier
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        self.stopping.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        await self.notifier.close()
        await self.database.close()


def token_of(settings: Settings) -> str:
    if settings.secrets.telegram_bot_token is None:
        raise ConfigError("no Telegram bot token: set secrets.telegram_bot_token in config/secrets.yaml "
                          "(or SMA_SECRETS__TELEGRAM_BOT_TOKEN)")
    return settings.secrets.telegram_bot_token.get_secret_value()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _initialize(running: RunningBot) -> None:
    """getMe until Telegram answers (or we are stopped); a refused token is a configuration error."""
    delay = 1.0
    while True:
        try:
            await running.application.initialize()
            return
        except InvalidToken:
            raise ConfigError("Telegram refused the bot token (secrets.telegram_bot_token)") from None
        except TelegramError as exc:
            if running.stopping.is_set():
                raise
            log.warning("telegram unreachable; retrying", error=str(exc), retry_in_s=delay)
            await _sleep_unless(running.stopping, delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


async def poll(application: BotApplication, stop: asyncio.Event, timeout_s: int) -> None:
    """getUpdates, handle each update, then move the offset past it (the next call confirms it)."""
    offset = 0
    delay = 1.0
    while not stop.is_set():
        try:
            updates = await application.bot.get_updates(offset=offset, timeout=timeout_s,
                                                        allowed_updates=ALLOWED_UPDATES,
                                                        read_timeout=timeout_s + 10)
        except InvalidToken:
            log.error("Telegram refused the bot token; stopping the poller")
            return
        except TelegramError as exc:
            log.warning("telegram polling error; retrying", error=str(exc), retry_in_s=delay)
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        delay = 1.0
        for update in updates:
            await application.process_update(update)  # handler errors go to the error handler
            offset = update.update_id + 1
    if offset:  # a graceful stop confirms what was handled, so a restart does not handle it again
        with contextlib.suppress(TelegramError):
            await application.bot.get_updates(offset=offset, timeout=0, limit=1)


async def start_bot(settings: Settings, client: object, queue_suffix: str = "") -> RunningBot:
    """Build the application, wait for Telegram, and start polling in the background."""
    token = token_of(settings)
    metrics.start(settings, "bot")
    if not settings.bot.allowed_user_ids:
        log.warning("bot.allowed_user_ids is empty: every message will be refused")
    database = Database(settings.database_url)
    notifier = TelegramNotifier.from_settings(settings, database)
    deps = BotDeps(settings=settings, database=database, client=client,  # type: ignore[arg-type]  # start_bot takes its client untyped
                   service=AutonomyService(settings, database, notifier), codec=make_codec(settings),
                   store=artifact_store(settings), queue_suffix=queue_suffix)
    application = build_application(deps, token)
    running = RunningBot(application, database, notifier)
    try:
        await _initialize(running)
        await application.bot.delete_webhook()  # getUpdates does not work while a webhook is set
        if application.post_init:
            await application.post_init(application)
    except BaseException:
        await running.stop()
        raise
    running.tasks.append(asyncio.create_task(poll(application, running.stopping, settings.bot.poll_timeout_s)))
    if settings.bot.progress:
        running.tasks.append(asyncio.create_task(progress_loop(deps, notifier, running.stopping)))
    log.info("bot started", username=application.bot.username, allowed=len(settings.bot.allowed_user_ids))
    return running


async def run_bot(settings: Settings) -> None:
    """`sma bot`: run until SIGINT/SIGTERM."""
    from sma.db.migrate import upgrade
    from sma.temporal_client import client_for

    token_of(settings)  # a missing token is a config error, before waiting on Temporal
    from sma.environment import private_dir

    private_dir(settings.data_dir)
    await asyncio.to_thread(upgrade, settings.database_url)  # a no-op under `sma up`, which migrated first
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await client_for(settings, attempts=120, role="bot")
    running = await start_bot(settings, client)
    try:
        await stop.wait()
    finally:
        log.info("bot stopping")
        with contextlib.suppress(Exception):
            await running.stop()
