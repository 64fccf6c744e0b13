"""Test helpers: a small real MP4, settings pointing every API at the fakes, and a wired PublishService."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
from cryptography.fernet import Fernet
from pydantic import SecretStr

from sma.db.engine import Database
from sma.models.common import ArtifactRef
from sma.models.pipeline import Beat, PublishRequest, Script
from sma.services.artifacts import ArtifactStore
from sma.services.platforms.config import ApiEndpoints, PublishingSettings
from sma.services.platforms.credentials import Credentials, CredentialStore
from sma.services.platforms.ledger import PublishLedger
from sma.services.platforms.service import PublishService, build_registry
from sma.settings import ProjectSettings, Secrets, Settings

ALL_PLATFORMS = ["local", "youtube", "facebook", "instagram", "tiktok", "telegram"]


def make_video(path: Path, seconds: float = 3.0, bitrate: str = "2M", noise_qp: int | None = None) -> Path:
    """A real H.264/AAC MP4 (vertical, 360x640) made by the bundled ffmpeg; `noise_qp` makes a big one
    (qp 30: about 13 MB for 3 s, enough for TikTok's 5 MB chunk rules)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    quality = ["-vf", "noise=alls=60:allf=t", "-qp", str(noise_qp)] if noise_qp else ["-b:v", bitrate]
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=s=360x640:r=30:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=f=440:d={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", *quality, "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)], check=True, timeout=60)
    return path


def script(title: str = "Why uv is so fast", hashtags: list[str] | None = None, description: str = "") -> Script:
    return Script(title=title, hook="Ever waited for pip?", beats=[Beat(narration="uv resolves in Rust.")],
                  cta="Follow for more.", hashtags=hashtags if hashtags is not None else ["python", "uv", "devtools"],
                  description=description or "How uv installs packages in milliseconds.")


def api_for(**urls: str) -> ApiEndpoints:
    """Endpoints with the given ones replaced (graph=..., youtube=..., ...)."""
    return ApiEndpoints(**urls)


def settings_for(base: Settings, platforms: list[str] | None = None, **publishing: Any) -> Settings:
    """`base` with project 'test' allowed on `platforms`, a Fernet key and the given publishing settings."""
    key = Fernet.generate_key().decode()
    project = ProjectSettings(id="test", niche="developer tools", platforms=platforms or ALL_PLATFORMS)
    pub = PublishingSettings(**{"poll_interval_s": 0.05, "poll_timeout_s": 5.0, **publishing})
    return base.model_copy(update={"projects": [project], "publishing": pub,
                                   "secrets": Secrets(fernet_key=SecretStr(key))})


@dataclass
class Harness:
    settings: Settings
    database: Database
    service: PublishService
    credentials: CredentialStore
    artifacts: ArtifactStore
    video: ArtifactRef

    async def set_credentials(self, platform: str, project_id: str = "test", expires_at: Any = None,
                              **values: str) -> None:
        await self.credentials.put(Credentials(project_id=project_id, platform=platform,
                                               values={k: SecretStr(v) for k, v in values.items()},
                                               expires_at=expires_at))

    def request(self, run_id: str = "content-test-item1", platforms: list[str] | None = None,
                title: str = "Why uv is so fast", video: ArtifactRef | None = None) -> PublishRequest:
        return PublishRequest(project_id="test", run_id=run_id, video=video or self.video,
                              script=script(title), platforms=platforms or ["youtube"])

    @property
    def ledger(self) -> PublishLedger:
        return self.service.ledger


def harness(settings: Settings, database: Database, video_file: Path, youtube_chunk: int = 256 * 1024) -> Harness:
    artifacts = ArtifactStore(settings.data_dir / "artifacts")
    video = artifacts.put(video_file, kind="video")
    registry = build_registry(settings, database, artifacts)
    registry.youtube_chunk_bytes = youtube_chunk
    service = PublishService(settings, registry, PublishLedger(database), registry.media)
    assert registry.credentials is not None
    return Harness(settings, database, service, registry.credentials, artifacts, video)
