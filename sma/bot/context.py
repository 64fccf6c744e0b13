"""What every handler needs, built once and kept in `application.bot_data` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from telegram.ext import ContextTypes
from temporalio.client import Client

from sma.client import RunClient
from sma.db.engine import Database
from sma.services.artifacts import ArtifactStore
from sma.services.autonomy.service import AutonomyService
from sma.services.telegram.callbacks import CallbackCodec
from sma.settings import ProjectSettings, Settings

KEY = "sma"


@dataclass
class BotDeps:
    settings: Settings
    database: Database
    client: Client
    service: AutonomyService
    codec: CallbackCodec
    store: ArtifactStore
    queue_suffix: str = ""  # tests route runs started from the bot to their own workers

    @cached_property
    def runs(self) -> RunClient:
        """Every run the bot starts, reads or steers goes through the one run client."""
        return RunClient(self.client, self.settings, self.database, queue_suffix=self.queue_suffix)

    def allowed(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.bot.allowed_user_ids

    def projects_for_chat(self, chat_id: int | None) -> list[ProjectSettings]:
        """Projects routed to this chat; a chat no project names (a private chat) sees every project."""
        routed = [p for p in self.settings.projects if chat_id is not None and p.telegram_chat_id == chat_id]
        return routed or list(self.settings.projects)

    def project_ids(self, chat_id: int | None) -> list[str]:
        return [p.id for p in self.projects_for_chat(chat_id)]


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    found: BotDeps = context.application.bot_data[KEY]
    return found


def who(user: object) -> str:
    """How a person is named in decisions and history: telegram:@name (or the numeric id)."""
    username = getattr(user, "username", None)
    return f"telegram:@{username}" if username else f"telegram:{getattr(user, 'id', '?')}"
