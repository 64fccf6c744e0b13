"""Workers, one per task queue (DESIGN.md convention 5); each can run as its own process."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from sma import metrics, queues, wiring
from sma.activities.attempts import AttemptRecorder
from sma.activities.localize import ArtifactLocalizer
from sma.activities.observe import MetricsInterceptor
from sma.db.engine import Database
from sma.services.blobs.store import sweep
from sma.settings import Settings
from sma.temporal_client import client_for
from sma.workflows.analytics import AnalyticsCollectorWorkflow
from sma.workflows.intelligence import IntelligenceWorkflow
from sma.workflows.pipeline import ContentPipelineWorkflow
from sma.workflows.scheduler import CalendarSlotWorkflow, ContentSchedulerWorkflow
from sma.workflows.trends import TrendScanWorkflow

log = structlog.get_logger("sma.worker")

# How many activities of each pool run at once on one worker: the CPU pool is bounded by cores (a render
# uses all of them), the GPU pool keeps one model busy at a time.
CONCURRENCY = {queues.WORKFLOWS: 16, queues.CPU: 2, queues.GPU: 1}

# Every workflow runs on sma-workflows; its activities go to the pool each step names.
WORKFLOWS: list[type] = [
    ContentPipelineWorkflow,
    ContentSchedulerWorkflow,
    CalendarSlotWorkflow,
    TrendScanWorkflow,
    AnalyticsCollectorWorkflow,
    IntelligenceWorkflow,
]


def workflow_activities(pool: wiring.WorkflowPool) -> list[Callable[..., Any]]:
    """Light IO: LLM calls, the database, notifications, publishing, Temporal client calls."""
    p = pool
    return [
        p.script.analyse_media, p.script.write_script,
        p.notify.notify,
        p.approval.approval_policy,
        p.publish.publish,
        p.record.record_run,
        p.analytics.plan, p.analytics.collect,
        p.trends.plan, p.trends.fetch_reddit, p.trends.fetch_hackernews, p.trends.fetch_google_trends,
        p.trends.fetch_github, p.trends.fetch_youtube, p.trends.fetch_feeds, p.trends.coverage, p.trends.store,
        p.scheduler.plan, p.scheduler.start_slots, p.scheduler.check_slot, p.scheduler.update_slot,
        p.scheduler.slot_hold,
        p.intelligence.analyse, p.intelligence.remember,
    ]


def cpu_activities(pool: wiring.CpuPool) -> list[Callable[..., Any]]:
    """FFmpeg work and embeddings, sync on the worker's thread pool."""
    m = pool.media
    return [m.music, m.background, m.images, m.render, m.check_video, m.variant, pool.trends.rank]


def gpu_activities(pool: wiring.GpuPool) -> list[Callable[..., Any]]:
    """Models: voice and Whisper; music and images when a configured tier needs CUDA."""
    return [pool.voice.voiceover, pool.voice.captions, pool.media.music, pool.media.images]


def build_worker(client: Client, queue: str, settings: Settings, database: Database | None = None,
                 task_queue: str | None = None) -> Worker:
    """A Worker for one pool; `task_queue` (the pool's queue plus a suffix) lets tests give each test its
    own queues. The sma-workflows pool needs `database`; the others open it only to note a failed attempt."""
    if queue == queues.WORKFLOWS:
        if database is None:
            raise ValueError("the sma-workflows worker needs the database: pass one to build_worker")
        activities, workflows = workflow_activities(wiring.workflow_pool(settings, database, client)), WORKFLOWS
    elif queue == queues.GPU:
        activities, workflows = gpu_activities(wiring.gpu_pool(settings)), []
    elif queue == queues.CPU:
        activities, workflows = cpu_activities(wiring.cpu_pool(settings)), []
    else:
        raise ValueError(f"unknown task queue {queue!r}; expected one of {', '.join(queues.ALL)}")
    concurrency = CONCURRENCY[queue]
    interceptors: list[Interceptor] = [
        AttemptRecorder(database if database is not None else _database_opener(settings)), MetricsInterceptor()]
    if settings.artifacts.backend == "s3":
        interceptors.append(ArtifactLocalizer(wiring.artifact_store(settings)))
    return Worker(
        client,
        task_queue=task_queue or queue,
        workflows=workflows,
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=concurrency + 2),
        max_concurrent_activities=concurrency,
        graceful_shutdown_timeout=timedelta(seconds=10),
        interceptors=interceptors,
    )


def _database_opener(settings: Settings) -> Callable[[], Database]:
    """CPU and GPU workers open the database only when an attempt fails (to note why on the run)."""
    def open_database() -> Database:
        return Database(settings.database_url)
    return open_database


async def run_worker(settings: Settings, queue: str, suffix: str = "") -> None:
    """Run one pool until SIGINT/SIGTERM, then finish in-flight tasks within the graceful timeout."""
    metrics.start(settings, queue)
    client = await client_for(settings, attempts=60, role=queue)
    database = Database(settings.database_url) if queue == queues.WORKFLOWS else None
    await asyncio.to_thread(sweep, wiring.artifact_store(settings), settings)
    if queue == queues.GPU:
        await asyncio.to_thread(wiring.warm_gpu_models, settings)
    worker = build_worker(client, queue, settings, database, task_queue=queue + suffix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", queue=queue + suffix, address=settings.temporal_address)
    async with worker:
        await stop.wait()
        log.info("worker stopping", queue=queue)
    if database is not None:
        await database.close()
    log.info("worker stopped", queue=queue)
