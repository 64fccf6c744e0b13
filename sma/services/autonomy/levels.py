"""The one source of truth for a project's autonomy level, and the level a new run starts with.

The project's stored level (its history is `autonomy_events`) is the truth; `projects[].autonomy` in the
config is only the initial value of a project that has none stored yet. Every entry point that starts a
run (CLI `run` and `demo`, the dashboard, calendar slots, bot `/new` and media) asks `level_for_new_run`
through `sma.services.runs.new_run_input`, so no entry point reads the config level on its own.

A run normally *follows* its project: the policy applies the stored level at every decision, so a change
made from the bot, the dashboard or the CLI reaches runs that have not passed their approval step even if
their `set_autonomy` signal was lost. An explicit per-run override (`sma run --autonomy`, the demo, which is
autonomous by design) *pins* the run to that level; it is logged, and a later change of the project's level
still reaches the run by signal. Guards (kill switch, quiet hours, caps, blocklist, fall back) apply to
every run whatever its level came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from sma.db.engine import Database
from sma.models.autonomy import LEVELS, Level
from sma.services.autonomy import store
from sma.settings import Settings

log = structlog.get_logger("sma.autonomy.levels")
Origin = Literal["stored", "config", "override"]


@dataclass(frozen=True)
class RunLevel:
    """The level a new run starts with, where it came from, and whether the run keeps it (pinned)."""

    level: Level
    origin: Origin
    pinned: bool


def project_level(stored: Level | None, configured: Level) -> tuple[Level, Origin]:
    """The project's level: the stored one; the configured one only while nothing is stored."""
    return (stored, "stored") if stored is not None else (configured, "config")


async def level_for_new_run(settings: Settings, database: Database, project_id: str, entry: str,
                            override: str | None = None) -> RunLevel:
    """The level every entry point gives a new run; `override` pins the run to an explicit level."""
    configured = settings.project(project_id).autonomy
    stored = store.stored_level(await store.get_state(database, project_id))
    level, origin = project_level(stored, configured)
    if override is None:
        log.debug("run level", project=project_id, autonomy=level, origin=origin, entry=entry)
        return RunLevel(level=level, origin=origin, pinned=False)
    if override not in LEVELS:
        raise ValueError(f"autonomy must be manual, assisted or autonomous, not {override!r}")
    log.info("run level override", project=project_id, autonomy=override, project_autonomy=level, origin=origin,
             entry=entry)
    return RunLevel(level=override, origin="override", pinned=True)
