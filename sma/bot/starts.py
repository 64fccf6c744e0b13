"""Starting runs from the chat: one rule for /new, a link, a photo or video, and a trend's Produce button."""

from __future__ import annotations

import structlog

from sma.bot import readmodels
from sma.bot.context import BotDeps
from sma.client import Started
from sma.models.pipeline import Topic
from sma.models.topic import TopicError
from sma.settings import ProjectSettings

log = structlog.get_logger("sma.bot.commands")


async def start_run(d: BotDeps, project: ProjectSettings, topic: Topic, media: list[str],
                    item_id: str | None = None, force: bool = False) -> tuple[Started, str]:
    """A run with the caller's business key (`item_id`), else once per topic (the run client's rule)."""
    started = await d.runs.start(topic, project.id, entry="bot", media=media, force=force, item_id=item_id)
    log.info("run started from telegram", run=started.workflow_id, project=project.id, media=len(media),
             existing=started.existing)
    return started, started.autonomy


async def produce_trend(d: BotDeps, trend_id: int) -> str:
    """Start a run for a scored topic; a second tap finds the run already started (same workflow id)."""
    found = await readmodels.trend(d.database, trend_id)
    if found is None:
        return "That topic is gone (a newer scan replaced it)."
    project = next((p for p in d.settings.projects if p.id == found["project_id"]), None)
    if project is None:
        return "That topic belongs to a project that is not configured any more."
    try:
        topic = Topic.from_source(found["title"], found["summary"],
                                  source_urls=[found["url"]] if found["url"] else [])
    except TopicError as exc:
        return f"That topic cannot start a video: {exc}."
    started, level = await start_run(d, project, topic, [], item_id=f"trend-{trend_id}")
    if started.existing:
        return "That topic is already being produced."
    return f"Producing '{topic.title[:80]}' (autonomy {level}): {started.workflow_id}"
