"""The video as each platform gets it: probed, and trimmed when it is longer than that platform's cap.

A trim is a stream copy of the first N seconds by the bundled ffmpeg (no re-encode, so it takes well under
a second), stored in the content-addressed store under a key of (source hash, cap): a retry uploads the
same bytes, which is what lets a resumable upload session continue instead of starting over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg, FFmpegError, probe
from sma.services.platforms.base import VideoFile
from sma.services.platforms.errors import Rejected

TRIM_MARGIN_S = 0.25
LABELS = {"youtube": "YouTube Shorts", "facebook": "Facebook Reels", "instagram": "Instagram Reels",
          "tiktok": "TikTok", "telegram": "Telegram",
          "mastodon": "Mastodon", "bluesky": "Bluesky", "x": "X", "threads": "Threads", "linkedin": "LinkedIn"}


class MediaPreparer:
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg | None = None) -> None:
        self.store = store
        self._ffmpeg = ffmpeg

    @property
    def ffmpeg(self) -> FFmpeg:
        if self._ffmpeg is None:
            self._ffmpeg = FFmpeg()
        return self._ffmpeg

    async def load(self, ref: ArtifactRef) -> VideoFile:
        path = Path(ref.path)
        if not path.is_file():
            raise Rejected(f"the rendered video {path.name} is missing from the artifact store")
        return await asyncio.to_thread(_describe, path, ref.sha256)

    async def fit(self, video: VideoFile, platform: str, cap_s: float | None, policy: str,
                  max_bytes: int | None = None) -> VideoFile:
        """`video`, or its trimmed copy when longer than `cap_s`; Rejected when the policy says fail."""
        label = LABELS.get(platform, platform)
        if cap_s is not None and video.duration_s > cap_s + 0.05:
            if policy != "recut":
                raise Rejected(f"the video is {video.duration_s:.1f} s long and {label} accepts at most "
                               f"{cap_s:.0f} s (set publishing.{platform}.on_too_long: recut to trim it)")
            video = await asyncio.to_thread(self._trim, video, cap_s)
        if max_bytes is not None and video.size > max_bytes:
            raise Rejected(f"the video is {video.size / 1e6:.1f} MB and {label} accepts at most "
                           f"{max_bytes / 1e6:.0f} MB")
        return video

    def _trim(self, video: VideoFile, cap_s: float) -> VideoFile:
        key = input_key("publish-trim", {"sha256": video.sha256, "cap_s": cap_s})
        ref = self.store.lookup(key)
        if ref is None:
            with self.store.staging(".mp4") as out:
                try:
                    self.ffmpeg.run(["-i", str(video.path), "-t", f"{cap_s - TRIM_MARGIN_S:.3f}", "-map", "0",
                                     "-c", "copy", "-movflags", "+faststart", "-fflags", "+bitexact",
                                     "-map_metadata", "-1", str(out)], timeout=120)
                except FFmpegError as exc:
                    raise Rejected(f"trimming the video to {cap_s:.0f} s failed: {exc}") from exc
                ref = self.store.put(out, kind="video", key=key)
        trimmed = _describe(Path(ref.path), ref.sha256)
        if trimmed.duration_s > cap_s + 0.05:
            raise Rejected(f"the trimmed video is still {trimmed.duration_s:.1f} s (cap {cap_s:.0f} s)")
        return trimmed


def _describe(path: Path, sha256: str) -> VideoFile:
    try:
        info = probe(path)
    except FFmpegError as exc:
        raise Rejected(f"the video cannot be read: {exc}") from exc
    return VideoFile(path=path, sha256=sha256, size=path.stat().st_size, duration_s=info.duration_s,
                     width=info.width, height=info.height)
