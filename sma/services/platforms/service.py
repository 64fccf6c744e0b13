"""Publish one approved video to one platform, exactly once, with per-platform metadata.

Order of events for a post: (1) a confirmed earlier post in the ledger is returned as is; (2) the
idempotency record is written (`begin`) before any platform call; (3) the video is probed and trimmed to
the platform's cap if needed; (4) the adapter publishes, saving platform-side ids in the record as it
goes and, on a retry, asking the platform about the earlier attempt first; (5) the record is completed.
Transient errors (RetryLater) propagate so Temporal retries; every other mapped error ends this platform
as a `failed` PostResult whose reason tells the creator what to do, without touching other platforms.
"""

from __future__ import annotations

from typing import Any

import structlog

from sma.db.engine import Database
from sma.models.pipeline import PostResult, PublishRequest
from sma.services.artifacts import ArtifactStore
from sma.services.blobs.store import artifact_store
from sma.services.media.ffmpeg import FFmpeg
from sma.services.platforms.base import PublishContext
from sma.services.platforms.credentials import CredentialError, CredentialStore, split_keys
from sma.services.platforms.errors import PlatformError, RetryLater
from sma.services.platforms.ledger import PUBLISHED, PublishLedger, post_of, progress_of
from sma.services.platforms.local import LocalOutbox
from sma.services.platforms.media import MediaPreparer
from sma.services.platforms.metadata import build_draft
from sma.services.platforms.registry import PlatformRegistry
from sma.settings import ConfigError, Settings

log = structlog.get_logger("sma.publish")

class PublishService:
    def __init__(self, settings: Settings, registry: PlatformRegistry, ledger: PublishLedger,
                 media: MediaPreparer) -> None:
        self.settings = settings
        self.registry = registry
        self.ledger = ledger
        self.media = media

    def refusal(self, project_id: str, platform: str) -> str | None:
        """Why this project may not post to this platform, or None (the project's `platforms` list rules)."""
        try:
            project = self.settings.project(project_id)
        except ConfigError:
            return f"project '{project_id}' is not configured"
        if platform not in project.platforms:
            return (f"{platform} is not enabled for project '{project_id}' (projects[].platforms: "
                    f"{', '.join(project.platforms)})")
        return None

    async def publish(self, req: PublishRequest, platform: str) -> PostResult:
        """The post on `platform` for this run: the existing one, a new one, or a failure with its reason."""
        bound = log.bind(run_id=req.run_id, platform=platform, project_id=req.project_id)
        earlier = await self.ledger.get(req.run_id, platform)
        if earlier is not None and earlier.state == PUBLISHED:
            bound.info("already published", url=earlier.url)
            return post_of(earlier)
        refusal = self.refusal(req.project_id, platform)
        if refusal:
            return PostResult(platform=platform, status="skipped", reason=refusal)
        options = self.settings.publishing.options(req.project_id, platform)
        draft = build_draft(platform, req.script, options)
        record = await self.ledger.begin(req.project_id, req.run_id, platform, draft.title, req.video.sha256)

        async def save(progress: dict[str, Any]) -> None:
            await self.ledger.save_progress(req.run_id, platform, progress)

        ctx = PublishContext(request=req, data=progress_of(record), started_at=record.started_at,
                             attempt=record.attempts, saver=save, notes=list(draft.notes))
        adapter = None
        try:
            video = await self.media.load(req.video)
            if platform != "local":
                max_mb = getattr(options, "max_mb", None)
                max_bytes = int(max_mb * 1e6) if max_mb else None
                video = await self.media.fit(video, platform, options.max_duration_s, options.on_too_long, max_bytes)
            adapter = await self.registry.open(req.project_id, platform)
            post = await adapter.publish(draft, video, ctx)
        except RetryLater as exc:
            bound.warning("publish will be retried", reason=str(exc), retry_after=exc.retry_after,
                          attempt=record.attempts)
            raise
        except (PlatformError, CredentialError) as exc:
            reason = f"{platform}: {exc}"
            await self.ledger.fail(req.run_id, platform, reason)
            bound.warning("publish failed", reason=reason, kind=type(exc).__name__)
            return PostResult(platform=platform, status="failed", reason=reason)
        finally:
            if adapter is not None:
                await adapter.aclose()
        await self.ledger.complete(req.run_id, platform, post)
        bound.info("published", url=post.url, external_id=post.external_id, attempt=record.attempts)
        return post


def credential_store(settings: Settings, database: Database) -> CredentialStore | None:
    """The credential store when a Fernet key is configured (else platforms needing credentials say so)."""
    secret = settings.secrets.fernet_key
    keys = split_keys(secret.get_secret_value() if secret else None)
    return CredentialStore(database, keys) if keys else None


def build_registry(settings: Settings, database: Database, store: ArtifactStore | None = None) -> PlatformRegistry:
    artifacts = store or artifact_store(settings)
    media = MediaPreparer(artifacts, FFmpeg(settings.media.ffmpeg))
    bot = settings.secrets.telegram_bot_token
    return PlatformRegistry(settings.publishing, credential_store(settings, database), media,
                            LocalOutbox(settings.data_dir / "outbox"),
                            default_bot_token=bot.get_secret_value() if bot else None,
                            looks=lambda project: settings.media.look_for(project).brand)


def build_publish_service(settings: Settings, database: Database) -> PublishService:
    registry = build_registry(settings, database)
    return PublishService(settings, registry, PublishLedger(database), registry.media)
