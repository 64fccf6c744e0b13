"""Steps 6 to 9: music, background, images, render and the video gates (queue sma-cpu)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio import activity

from sma.activities.heartbeat import keepalive
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
    from sma.services.media.music import MusicService
    from sma.services.media.render import RenderService


class MediaActivities:
    def __init__(
        self,
        ffmpeg: FFmpeg,
        background: BackgroundService,
        music: MusicService,
        images: ImageService,
        render: RenderService,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.backgrounds = background
        self.musics = music
        self.image_service = images
        self.renderer = render

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
        from sma.services.qa_video import check_video

        started = time.perf_counter()
        with keepalive(detail="check_video"):
            reports = check_video(self.ffmpeg, Path(req.video.path), req.expected_duration_s,
                                  target_lufs=self.renderer.settings.target_lufs)
        return VideoCheckResult(reports=reports, tier="ffmpeg", seconds=round(time.perf_counter() - started, 3))
