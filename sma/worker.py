"""Workers, one per task queue (DESIGN.md convention 5); each can run as its own process."""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from sma import queues
from sma.activities.attempts import AttemptRecorder
from sma.services.artifacts import ArtifactStore
from sma.settings import Settings
from sma.workflows import all_workflows

log = structlog.get_logger("sma.worker")

# How many activities of each pool run at once on one worker: the CPU pool is bounded by cores (a render
# uses all of them), the GPU pool keeps one model busy at a time.
CONCURRENCY = {queues.WORKFLOWS: 16, queues.CPU: 2, queues.GPU: 1}


def artifact_store(settings: Settings) -> ArtifactStore:
    return ArtifactStore(settings.data_dir / "artifacts")


# Modules under sma.activities that contribute to the sma-workflows worker through `build(settings, db)`.
WORKFLOW_QUEUE_MODULES = (
    "script", "notify", "approval", "publish", "analytics", "trends", "scheduler", "intelligence", "record",
)


def workflow_activities(settings: Settings, database: Any) -> list[Callable[..., Any]]:
    """Light IO activities; each capability's module builds its own (and owns its wiring)."""
    activities: list[Callable[..., Any]] = []
    for name in WORKFLOW_QUEUE_MODULES:
        module = importlib.import_module(f"sma.activities.{name}")
        activities += module.build(settings, database)
    return activities


def gpu_activities(settings: Settings) -> list[Callable[..., Any]]:
    from sma.activities import media
    from sma.activities.voice import VoiceActivities
    from sma.services.captions import CachedTranscriber, CaptionService, Transcriber
    from sma.services.tts import VoiceService

    store = artifact_store(settings)
    transcriber = CachedTranscriber(Transcriber(settings.captions), store)  # QA_TTS words reused by captions
    voice = VoiceService.from_settings(settings, store, transcriber)
    captions = CaptionService(store, transcriber, settings.captions, settings.media, settings.project_language)
    acts = VoiceActivities(voice, captions)
    # Music and images come here too when a configured tier needs CUDA (sma.services.routing).
    return [acts.voiceover, acts.captions, *media.build_gpu(settings)]


def cpu_activities(settings: Settings) -> list[Callable[..., Any]]:
    from sma.activities import media, trends_cpu

    return [*media.build(settings), *trends_cpu.build(settings)]


def warm_gpu_models(settings: Settings) -> None:
    """Load the voice and Whisper models before polling, so the first run does not pay for it."""
    from sma.services.captions import Transcriber
    from sma.services.tts import PiperEngine, load_piper_voice

    load_piper_voice(PiperEngine.from_settings(settings.tts).voice_path)
    Transcriber(settings.captions).model()


def build_worker(client: Client, queue: str, settings: Settings, database: Any = None,
                 task_queue: str | None = None) -> Worker:
    """A Worker for one pool; `task_queue` lets tests give each test its own queue names."""
    if queue == queues.WORKFLOWS:
        activities = workflow_activities(settings, database)
        workflows = all_workflows()
    elif queue == queues.GPU:
        activities, workflows = gpu_activities(settings), []
    elif queue == queues.CPU:
        activities, workflows = cpu_activities(settings), []
    else:
        raise ValueError(f"unknown task queue {queue!r}; expected one of {', '.join(queues.ALL)}")
    concurrency = CONCURRENCY[queue]
    return Worker(
        client,
        task_queue=task_queue or queue,
        workflows=workflows,
        activities=activities,
        activity_executor=ThreadPoolExecutor(max_workers=concurrency + 2),
        max_concurrent_activities=concurrency,
        graceful_shutdown_timeout=timedelta(seconds=10),
        interceptors=[AttemptRecorder(database if database is not None else _database_opener(settings))],
    )


def _database_opener(settings: Settings) -> Callable[[], Any]:
    """CPU and GPU workers open the database only when an attempt fails (to note why on the run)."""
    def open_database() -> Any:
        from sma.db.engine import Database

        return Database(settings.database_url)
    return open_database


async def run_worker(settings: Settings, queue: str, suffix: str = "") -> None:
    """Run one pool until SIGINT/SIGTERM, then finish in-flight tasks within the graceful timeout."""
    from sma.db.engine import Database
    from sma.temporal_client import client_for

    client = await client_for(settings, attempts=60)
    database = Database(settings.database_url) if queue == queues.WORKFLOWS else None
    artifact_store(settings).sweep_stale()
    if queue == queues.GPU:
        await asyncio.to_thread(warm_gpu_models, settings)
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
