"""Builds every service and activity instance, one function per worker pool.

The activity modules hold classes whose dependencies come in through their constructors; this module is the
one place that decides which concrete services they get from the settings (DESIGN.md convention 4).
`sma.worker` registers what these functions return, by name, on the pool's task queue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from sma.activities.analytics import AnalyticsActivities
from sma.activities.approval import ApprovalActivities
from sma.activities.intelligence import IntelligenceActivities
from sma.activities.media import MediaActivities
from sma.activities.notify import NotifyActivities
from sma.activities.publish import PublishActivities
from sma.activities.record import RecorderActivities
from sma.activities.scheduler import SchedulerActivities
from sma.activities.script import ScriptActivities
from sma.activities.trends import TrendActivities
from sma.activities.trends_cpu import TrendRankActivities
from sma.activities.voice import VoiceActivities
from sma.db.engine import Database
from sma.services.analytics.collector import build_analytics_service
from sma.services.artifacts import ArtifactStore
from sma.services.autonomy.service import AutonomyService
from sma.services.blobs.store import artifact_store as configured_store
from sma.services.captions.service import CaptionService
from sma.services.intelligence.config import intelligence_settings
from sma.services.intelligence.guidance import HookGuidance, NoGuidance, guidance_for
from sma.services.intelligence.service import build_intelligence_service
from sma.services.llm.gateway import LLMGateway
from sma.services.llm.prompts import PromptLibrary
from sma.services.llm.store import DBUsageStore, MemoryUsageStore, UsageStore
from sma.services.llm.vision import VisionService
from sma.services.media.background import BackgroundService
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.imagegen import build_chain
from sma.services.media.images import ImageService
from sma.services.media.pexels import PexelsClient
from sma.services.media.render import RenderService
from sma.services.media.usage import BackgroundUsage
from sma.services.media.variants import VariantService
from sma.services.memory.config import memory_settings
from sma.services.memory.providers import MemoryContext, MemoryCoverageChecker
from sma.services.memory.service import build_memory_service
from sma.services.music.service import MusicService
from sma.services.notify.notifier import LogNotifier, Notifier
from sma.services.platforms.service import build_publish_service
from sma.services.scheduling.calendar import CalendarService
from sma.services.scheduling.history import PostMetricsHistory
from sma.services.script.llm import LLMScriptWriter, ScriptService
from sma.services.script.template import TemplateScriptWriter
from sma.services.speech.whisper import CachedTranscriber, Transcriber
from sma.services.trends.coverage import CoverageChecker, ProducedTitlesChecker
from sma.services.trends.niche import NicheFilter, SentenceEmbedder
from sma.services.trends.sources import build_sources
from sma.services.voice.engines.piper import PiperEngine, load_piper_voice
from sma.services.voice.service import VoiceService
from sma.settings import Settings
from sma.temporal_client import client_for


@dataclass(frozen=True)
class WorkflowPool:
    """The light IO activities of the sma-workflows worker (LLM calls, database, notifications, publishing)."""

    script: ScriptActivities
    notify: NotifyActivities
    approval: ApprovalActivities
    publish: PublishActivities
    record: RecorderActivities
    analytics: AnalyticsActivities
    trends: TrendActivities
    scheduler: SchedulerActivities
    intelligence: IntelligenceActivities


@dataclass(frozen=True)
class CpuPool:
    """The sma-cpu worker: media steps with every configured tier, and trend ranking (embeddings)."""

    media: MediaActivities
    trends: TrendRankActivities


@dataclass(frozen=True)
class GpuPool:
    """The sma-gpu worker: voice and captions, plus music and images for tiers that need CUDA
    (sma.services.routing decides where the workflow sends them)."""

    voice: VoiceActivities
    media: MediaActivities


def workflow_pool(settings: Settings, database: Database, client: Client | None = None) -> WorkflowPool:
    """`client` is the worker's own Temporal client (the scheduler starts slot workflows through it);
    without one a client is connected on first use."""
    scripts, vision = script_services(settings, database)
    note = notifier(settings, database)
    calendar = CalendarService(settings, database, PostMetricsHistory(database))
    return WorkflowPool(
        script=ScriptActivities(scripts, vision),
        notify=NotifyActivities(note),
        approval=ApprovalActivities(AutonomyService(settings, database, notifier=note,
                                                    calendar=calendar)),
        publish=PublishActivities(build_publish_service(settings, database), settings.publishing.heartbeat_s),
        record=RecorderActivities(database),
        analytics=AnalyticsActivities(build_analytics_service(settings, database)),
        trends=TrendActivities(settings, database, build_sources(settings), coverage_checker(settings, database)),
        scheduler=SchedulerActivities(calendar, _fixed(client) if client is not None else lazy_client(settings)),
        intelligence=intelligence_activities(settings, database),
    )


def cpu_pool(settings: Settings) -> CpuPool:
    embedder = SentenceEmbedder(settings.trends.embedding_model)  # loads on first use, then stays loaded
    niche_filter = NicheFilter(embedder, settings.trends.off_niche_topics)
    return CpuPool(media=media_activities(settings, stock=True), trends=TrendRankActivities(settings, niche_filter))


def gpu_pool(settings: Settings) -> GpuPool:
    store = artifact_store(settings)
    transcriber = CachedTranscriber(Transcriber(settings.captions), store)  # QA_TTS words reused by captions
    voice = VoiceService.from_settings(settings, store, transcriber)
    captions = CaptionService(store, transcriber, settings.captions, settings.media, settings.project_language)
    return GpuPool(voice=VoiceActivities(voice, captions), media=media_activities(settings, stock=False))


# ---------------------------------------------------------------- shared builders


def artifact_store(settings: Settings) -> ArtifactStore:
    """Local, or the local cache of the shared bucket (artifacts.backend)."""
    return configured_store(settings)


def warm_gpu_models(settings: Settings) -> None:
    """Load the voice and Whisper models before polling, so the first run does not pay for it."""
    load_piper_voice(PiperEngine.from_settings(settings.tts).voice_path)
    Transcriber(settings.captions).model()


def script_services(settings: Settings, database: Database | None = None) -> tuple[ScriptService, VisionService]:
    """The script and vision services over one shared gateway (one circuit breaker per process); without a
    database, LLM usage is kept in memory."""
    store: UsageStore = DBUsageStore(database) if database is not None else MemoryUsageStore()
    gateway = LLMGateway(settings.llm, settings.secrets, store)
    prompts = PromptLibrary(settings.llm.prompts_dir, settings.llm.prompt_versions)
    # Memories and insights (Mem0) for both tiers; nothing is loaded until the project has stored some.
    memory = build_memory_service(settings)
    context = MemoryContext(memory) if memory is not None else None
    guidance: HookGuidance = guidance_for(memory.backend, memory_settings(settings).cache_s) if memory else NoGuidance()
    writer = LLMScriptWriter(gateway, settings, prompts, memory=context, insights=context)
    template = TemplateScriptWriter(settings.pipeline, settings.llm.qa, guidance,
                                    intelligence_settings(settings).exploit_max)
    scripts = ScriptService(settings, template, store, writer)
    return scripts, VisionService(gateway, settings, prompts)


def notifier(settings: Settings, database: Database | None) -> Notifier:
    """The Telegram notifier when a token is configured (and a database holds its messages), else the log."""
    if settings.secrets.telegram_bot_token is None or database is None:
        return LogNotifier()
    from sma.services.telegram.notifier import TelegramNotifier  # loaded only when Telegram is on

    return TelegramNotifier.from_settings(settings, database)


def coverage_checker(settings: Settings, database: Database) -> CoverageChecker:
    """Semantic coverage from Mem0 when the project memory is on; the produced-titles check is the floor."""
    titles = ProducedTitlesChecker(database, settings.trends.coverage_threshold)
    memory = build_memory_service(settings)
    if memory is None:
        return titles
    return MemoryCoverageChecker(memory, memory_settings(settings).coverage_threshold, fallback=titles)


def intelligence_activities(settings: Settings, database: Database) -> IntelligenceActivities:
    service = build_intelligence_service(settings, database)
    if service.memory is not None and service.memory.backend.exists():
        # Load mem0 and the embedding model off the event loop now, not in the middle of the first script.
        threading.Thread(target=service.memory.backend.warm, name="sma-memory-warm", daemon=True).start()
    return IntelligenceActivities(service, settings)


def media_activities(settings: Settings, stock: bool) -> MediaActivities:
    """Every configured media tier: Pexels (key + freshness database, only where `stock`), the image
    generation chain (ComfyUI URL, OpenAI key), Mermaid, and the per-platform variants."""
    media, secrets = settings.media, settings.secrets
    store = artifact_store(settings)
    ffmpeg = FFmpeg(media.ffmpeg, threads=media.threads)
    pexels_key = secrets.pexels_api_key.get_secret_value() if secrets.pexels_api_key and stock else None
    openai_key = secrets.openai_api_key.get_secret_value() if secrets.openai_api_key else None
    pexels = PexelsClient(media.visuals, pexels_key) if pexels_key else None
    usage = BackgroundUsage(settings.database_url) if pexels is not None else None
    return MediaActivities(
        ffmpeg,
        BackgroundService(store, ffmpeg, media, stock=pexels, usage=usage),
        MusicService(store, ffmpeg, settings.music, settings.secrets),
        ImageService(store, media, generators=build_chain(media.visuals, openai_key)),
        RenderService(store, ffmpeg, media),
        VariantService(store, ffmpeg, media),
        settings.publishing,
    )


def lazy_client(settings: Settings) -> Callable[[], Awaitable[Client]]:
    """A Temporal client made on first use (through sma.temporal_client, the one place that connects)."""
    cache: list[Client] = []
    lock = asyncio.Lock()

    async def get() -> Client:
        async with lock:
            if not cache:
                cache.append(await client_for(settings, attempts=10))
            return cache[0]

    return get


def _fixed(client: Client) -> Callable[[], Awaitable[Client]]:
    async def get() -> Client:
        return client

    return get
