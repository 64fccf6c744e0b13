"""Step 1: photos and videos sent to the bot, described by a vision model into context, mood and subjects.

Photos are downscaled with Pillow; videos are sampled into a few frames with the bundled ffmpeg. With no
media, no vision-capable provider, or nothing readable, the step is skipped with a note saying why.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tempfile
import time
from pathlib import Path

import structlog

from sma.models.llm import CallContext, ChatMessage, ImageInput, LLMRequest, VisionDraft
from sma.models.pipeline import MediaAnalysis, MediaRequest
from sma.services.llm.errors import AllProvidersFailed, BudgetExceeded
from sma.services.llm.gateway import LLMGateway
from sma.services.llm.prompts import PromptError, PromptLibrary
from sma.settings import Settings

log = structlog.get_logger("sma.vision")
STAGE = "vision"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}
MAX_SIDE = 768


def _jpeg(data: bytes, label: str) -> ImageInput:
    """Any image Pillow reads, as a JPEG no larger than MAX_SIDE on its long side."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        img = opened.convert("RGB")
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=85)
    return ImageInput(media_type="image/jpeg", data_b64=base64.b64encode(out.getvalue()).decode(), label=label)


def sample_frames(path: Path, count: int, ffmpeg_path: str | None = None, timeout: float = 60.0) -> list[bytes]:
    """`count` frames spread evenly over the video, as JPEG bytes (blocking: run it in a thread)."""
    from sma.services.media.ffmpeg import FFmpeg, probe

    duration = probe(path).duration_s or 1.0
    with tempfile.TemporaryDirectory(prefix="sma-frames-") as tmp:
        pattern = str(Path(tmp) / "frame_%02d.jpg")
        rate = max(count / duration, 0.01)
        FFmpeg(ffmpeg_path).run(["-i", str(path), "-vf", f"fps={rate:.4f},scale={MAX_SIDE}:-2",
                                 "-frames:v", str(count), "-q:v", "4", pattern], timeout=timeout)
        return [f.read_bytes() for f in sorted(Path(tmp).glob("frame_*.jpg"))]


class VisionService:
    def __init__(self, gateway: LLMGateway | None, settings: Settings, prompts: PromptLibrary) -> None:
        self.gateway = gateway
        self.settings = settings
        self.prompts = prompts

    def _resolve(self, item: str) -> Path | None:
        path = Path(item)
        for candidate in (path, self.settings.data_dir / path):
            if candidate.is_file():
                return candidate
        return None

    def _load(self, media: list[str], notes: list[str]) -> list[ImageInput]:
        """Every readable photo and sampled video frame; unreadable files become notes, not errors."""
        images: list[ImageInput] = []
        for item in media:
            path = self._resolve(item)
            if path is None:
                notes.append(f"{Path(item).name}: file not found")
                continue
            try:
                if path.suffix.lower() in VIDEO_SUFFIXES:
                    frames = sample_frames(path, self.settings.llm.vision_frames, self.settings.media.ffmpeg)
                    images += [_jpeg(f, f"{path.name} frame {i + 1}/{len(frames)}") for i, f in enumerate(frames)]
                else:
                    images.append(_jpeg(path.read_bytes(), path.name))
            except Exception as exc:  # a bad file must not stop the run: step 1 is optional
                notes.append(f"{path.name}: not readable as image or video ({type(exc).__name__})")
        return images

    async def analyse(self, req: MediaRequest, may_retry: bool = False) -> MediaAnalysis:
        """`may_retry`: the caller retries later, so a transient failure of every provider raises
        AllProvidersFailed instead of skipping the step."""
        started = time.perf_counter()
        if not req.media:
            return MediaAnalysis(skipped=True, tier="none", notes=["no media sent with this run"])
        if self.gateway is None or not self.gateway.available(STAGE):
            return MediaAnalysis(skipped=True, tier="none", notes=["no vision provider configured"])
        notes: list[str] = []
        images = await asyncio.to_thread(self._load, req.media, notes)
        if not images:
            return MediaAnalysis(skipped=True, tier="none", notes=[*notes, "no readable media"])
        try:
            draft, tier, version = await self._describe(req, images)
        except BudgetExceeded:
            raise
        except Exception as exc:  # step 1 is optional: any failure skips it with the reason
            if may_retry and isinstance(exc, AllProvidersFailed) and exc.transient:
                raise
            if not isinstance(exc, AllProvidersFailed | PromptError):
                log.exception("vision crashed; step skipped", run_id=req.run_id)
            log.warning("vision failed; step skipped", run_id=req.run_id, error=str(exc))
            return MediaAnalysis(skipped=True, tier="none", notes=[*notes, f"vision failed: {exc}"],
                                 seconds=round(time.perf_counter() - started, 3))
        subjects = [s.strip() for s in draft.subjects if s.strip()][:8]
        # The workflow hands only `context` to step 2, so it carries mood and subjects too.
        context = " ".join(draft.context.split())
        context += f" Mood: {draft.mood.strip()}." if draft.mood.strip() else ""
        context += f" Subjects: {', '.join(subjects)}." if subjects else ""
        return MediaAnalysis(
            skipped=False, tier=tier, context=context.strip(), mood=draft.mood.strip(), subjects=subjects,
            notes=[*notes, f"{len(images)} image(s) described; prompt {version}"],
            seconds=round(time.perf_counter() - started, 3),
        )

    async def _describe(self, req: MediaRequest, images: list[ImageInput]) -> tuple[VisionDraft, str, str]:
        assert self.gateway is not None
        project = self.settings.project(req.project_id)
        prompt = self.prompts.get(STAGE)
        labels = json.dumps([img.label for img in images], ensure_ascii=False)
        request = LLMRequest(
            system=prompt.system(),
            messages=[ChatMessage(role="user", images=images, text=prompt.user(
                count=len(images), project_name=project.name or project.id, niche=project.niche or "general",
                labels=labels.replace("<", "\\u003c")))],
            schema_name="media_analysis", max_tokens=600,
        )
        ctx = CallContext(project_id=project.id, run_id=req.run_id, stage=STAGE)
        out = await self.gateway.structured(ctx, request, VisionDraft)
        return out.value, out.result.tier, prompt.full_version
