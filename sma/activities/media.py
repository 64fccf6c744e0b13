"""Steps 6 to 9: music, background, images, render, the video gates and platform variants (queue sma-cpu;
music and images also on sma-gpu, where the workflow sends them when a configured tier needs CUDA)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio import activity

from sma.activities.heartbeat import keepalive
from sma.models.media import VariantRequest, VariantResult
from sma.models.pipeline import (
    BackgroundRequest,
    BackgroundResult,
    ImagesRequest,
    ImagesResult,
    MusicRequest,
    MusicResult,
    RenderRequest,
    RenderResult,
    VideoCheckRequest,
    VideoCheckResult,
)

if TYPE_CHECKING:
    from sma.services.media.background import BackgroundService
    from sma.services.media.ffmpeg import FFmpeg
    from sma.services.media.images import ImageService
    from sma.services.media.render import RenderService
    from sma.services.media.variants import PublishCap, VariantService
    from sma.services.music.service import MusicService
    from sma.services.platforms.config import PublishingSettings


class MediaActivities:
    def __init__(
        self,
        ffmpeg: FFmpeg,
        background: BackgroundService,
        music: MusicService,
        images: ImageService,
        render: RenderService,
        variants: VariantService | None = None,
        publishing: PublishingSettings | None = None,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.backgrounds = background
        self.musics = music
        self.image_service = images
        self.renderer = render
        self.variants = variants
        self.publishing = publishing

    @activity.defn(name="music")
    def music(self, req: MusicRequest) -> MusicResult:
        with keepalive(detail="music"):
            return self.musics.make(req)

    @activity.defn(name="background")
    def background(self, req: BackgroundRequest) -> BackgroundResult:
        with keepalive(detail="background"):
            return self.backgrounds.make(req)

    @activity.defn(name="images")
    def images(self, req: ImagesRequest) -> ImagesResult:
        with keepalive(detail="images"):
            return self.image_service.make(req)

    @activity.defn(name="render")
    def render(self, req: RenderRequest) -> RenderResult:
        """Heartbeats carry the render progress, so the bot and dashboard can show a percentage."""

        def progress(fraction: float) -> None:
            activity.heartbeat(round(fraction, 3))  # the SDK throttles heartbeats to the server

        return self.renderer.render(req, on_progress=progress)

    @activity.defn(name="check_video")
    def check_video(self, req: VideoCheckRequest) -> VideoCheckResult:
        from sma.services.qa.video import check_video

        started = time.perf_counter()
        with keepalive(detail="check_video"):
            look = self.renderer.settings.look_for(req.project_id)
            reports = check_video(self.ffmpeg, Path(req.video.path), req.expected_duration_s,
                                  target_lufs=self.renderer.settings.target_lufs, monotony_s=look.monotony_s,
                                  strict_monotony=req.autonomy == "autonomous" and not look.allow_monotony)
        return VideoCheckResult(reports=reports, tier="ffmpeg", seconds=round(time.perf_counter() - started, 3))

    @activity.defn(name="variant")
    def variant(self, req: VariantRequest) -> VariantResult:
        """The upload for one platform: the master itself, or a re-cut / re-levelled copy (cached)."""
        from sma.services.media.variants import VariantService

        started = time.perf_counter()
        service = self.variants or VariantService(self.renderer.store, self.ffmpeg, self.renderer.settings)
        words = req.words
        if not words and req.words_artifact is not None:
            from sma.services.media.images import load_words

            words = load_words(service.store.read_json(req.words_artifact))
        with keepalive(detail=f"variant {req.platform}"):
            result = service.variant(req.video, req.platform, words or None, self._publish_cap(req))
        return result.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})

    def _publish_cap(self, req: VariantRequest) -> PublishCap | None:
        """The project's publishing options for the platform: the variant cuts where the upload would."""
        from sma.services.media.layout import normalize_platform
        from sma.services.media.variants import PublishCap

        if self.publishing is None:
            return None
        options = self.publishing.options(req.project_id, normalize_platform(req.platform))
        return PublishCap(options.max_duration_s, recut=options.on_too_long == "recut")
