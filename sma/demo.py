"""`sma demo`: the whole product once, end to end, on the embedded stack and the offline tiers (an entry
point like the CLI: it starts the stack and drives a run through the run client)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sma.client import RunClient
from sma.db.engine import Database
from sma.models.pipeline import PipelineStatus, Topic
from sma.runtime import Stack
from sma.services.runs import new_run_input
from sma.settings import Settings
from sma.temporal_client import connect


def summarize(status: PipelineStatus, wall_s: float, video: Path | None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "workflow_id": status.workflow_id,
        "state": status.state.value,
        "title": status.title,
        "video": str(video) if video else None,
        "wall_seconds": round(wall_s, 2),
        "steps": {
            name: {"status": step.state.value, "tier": step.tier, "seconds": step.seconds}
            for name, step in status.steps.items()
        },
        "qa": {q.gate: {"passed": q.passed, "reasons": q.reasons} for q in status.qa},
        "posts": [p.model_dump() for p in status.posts],
    }
    if status.error:
        summary["error"] = status.error
    return summary


def outbox_video(settings: Settings, status: PipelineStatus) -> Path | None:
    path = settings.data_dir / "outbox" / status.project_id / status.workflow_id / "video.mp4"
    return path.resolve() if path.is_file() else None


async def _produce(settings: Settings, stack: Stack, topic: Topic, timeout: float) -> PipelineStatus:
    client = await connect(stack.address, settings.temporal.namespace, attempts=120, settings=settings)
    database = Database(settings.database_url)
    try:  # the demo shows the whole product with no human: an explicit, logged override (services/autonomy/levels.py)
        runs = RunClient(client, settings, database)
        inp = await new_run_input(settings, database, topic, settings.projects[0].id, entry="demo",
                                  autonomy="autonomous")
        started = await runs.start_input(inp, force=True)
        return await runs.wait(started.workflow_id, timedelta(seconds=timeout))
    finally:
        await database.close()


def run_demo(settings: Settings, topic: Topic, config_path: str | None = None,
             timeout: float = 900) -> dict[str, Any]:
    """Start everything, run one autonomous pipeline to the local outbox, stop everything."""
    started = time.perf_counter()
    with Stack(settings, config_path=config_path, ephemeral_ports=True) as stack:
        status = asyncio.run(_produce(settings, stack, topic, timeout))
    return summarize(status, time.perf_counter() - started, outbox_video(settings, status))
