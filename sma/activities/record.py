"""Persist the run's state to SQLite; called by the workflow as a local activity after each change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from sma.models.pipeline import RecordResult, RunRecord

if TYPE_CHECKING:  # the workflow imports this module; keep its import light
    from sma.db.engine import Database

if TYPE_CHECKING:  # the workflow imports this module; keep its import light
    from sma.db.engine import Database


class RecorderActivities:
    def __init__(self, database: Database) -> None:
        self.database = database

    @activity.defn(name="record_run")
    async def record_run(self, record: RunRecord) -> RecordResult:
        from sma.db import repo

        await repo.record_run(self.database, record)
        return RecordResult()
