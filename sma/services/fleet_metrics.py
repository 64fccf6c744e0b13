"""The deployment-wide gauges: runs by state (database) and work waiting per task queue (Temporal).

One process keeps them (the dashboard), so a Prometheus scrape of every host does not count runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlmodel import col, func, select
from temporalio.client import Client

from sma import metrics, queues
from sma.db.engine import Database
from sma.db.tables import PipelineRun
from sma.temporal_client import backlog

log = structlog.get_logger("sma.metrics")


async def runs_by_state(database: Database) -> dict[str, int]:
    async with database.session() as session:
        rows = (await session.exec(select(PipelineRun.state, func.count()).group_by(col(PipelineRun.state)))).all()
    return {str(state): int(count) for state, count in rows}


async def refresh(database: Database, client: Client | None, suffix: str = "") -> None:
    metrics.set_runs(await runs_by_state(database))
    if client is None:
        return
    for queue in queues.ALL:
        metrics.BACKLOG.labels(queue, "activity").set(await backlog(client, queue + suffix))
    metrics.BACKLOG.labels(queues.WORKFLOWS, "workflow").set(
        await backlog(client, queues.WORKFLOWS + suffix, workflow_queue=True))


async def keep_fresh(database: Database, client_of: Any, every_s: float = 30.0) -> None:
    """Refresh forever (a dashboard background task); an unreachable Temporal leaves the backlog as it was."""
    while True:
        try:
            await refresh(database, await client_of())
        except Exception as exc:  # a scrape shows the last good numbers; the next round tries again
            log.warning("fleet metrics not refreshed", error=repr(exc))
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def running(database: Database, client_of: Any, every_s: float = 30.0) -> Any:
    task = asyncio.create_task(keep_fresh(database, client_of, every_s))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
