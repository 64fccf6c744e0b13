"""Step 1: photos and video frames described by a vision model over the real SDKs; clean skips otherwise."""

from __future__ import annotations

import base64
import io
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
from PIL import Image
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from sma.activities.script import ScriptActivities
from sma.models.pipeline import MediaRequest
from sma.services.llm.config import ProviderSettings
from sma.services.llm.store import MemoryUsageStore
from sma.services.llm.vision import sample_frames
from sma.wiring import script_services
from tests.test_llm_fakes import VISION, FakeLLMServer, llm_settings, serving


@pytest.fixture
def oai() -> Iterator[FakeLLMServer]:
    with serving("openai") as server:
        server.default = {"json": VISION}
        yield server


@pytest.fixture
def ant() -> Iterator[FakeLLMServer]:
    with serving("anthropic") as server:
        server.default = {"json": VISION}
        yield server


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "desk.png"
    Image.new("RGB", (1600, 900), (30, 120, 200)).save(path)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=10", "-t", "2", "-pix_fmt", "yuv420p", str(path)], check=True,
                   timeout=60)
    return path


@pytest.fixture
async def activities(tmp_path: Path) -> AsyncIterator[Any]:
    built: list[Any] = []

    def make(settings: Any) -> ScriptActivities:
        scripts, vision = script_services(settings, None)
        built.append(vision)
        return ScriptActivities(scripts, vision)

    yield make
    for vision in built:
        if vision.gateway is not None:
            await vision.gateway.aclose()


def _req(*media: Path | str) -> MediaRequest:
    return MediaRequest(project_id="test", run_id="content-test-1", media=[str(m) for m in media])


async def test_photo_is_described_into_context_mood_and_subjects(oai: FakeLLMServer, photo: Path, tmp_path: Path,
                                                                activities: Any) -> None:
    acts = activities(llm_settings(tmp_path, openai_url=oai.url))
    result = await acts.analyse_media(_req(photo))

    assert not result.skipped and result.tier == "openai:gpt-4o-mini"
    assert result.mood == "focused" and result.subjects == ["laptop", "terminal", "coffee cup"]
    assert result.context.startswith("A desk with a laptop") and "Mood: focused." in result.context
    [sent] = oai.requests
    parts = sent["messages"][1]["content"]
    [image] = [p for p in parts if p["type"] == "image_url"]
    prefix = "data:image/jpeg;base64,"
    assert image["image_url"]["url"].startswith(prefix)
    decoded = Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"][len(prefix):])))
    assert max(decoded.size) == 768  # downscaled before upload
    assert sent["response_format"]["json_schema"]["name"] == "media_analysis"


async def test_video_frames_are_sampled_with_ffmpeg(ant: FakeLLMServer, video: Path, tmp_path: Path,
                                                    activities: Any) -> None:
    settings = llm_settings(tmp_path, anthropic_url=ant.url, chain=["anthropic"], vision_frames=3)
    result = await activities(settings).analyse_media(_req(video))

    assert not result.skipped and result.tier == "anthropic:claude-haiku-4-5"
    blocks = ant.requests[0]["messages"][0]["content"]
    images = [b for b in blocks if b["type"] == "image"]
    assert len(images) == 3 and images[0]["source"]["media_type"] == "image/jpeg"
    assert "clip.mp4 frame 1/3" in blocks[-1]["text"]


def test_sample_frames_spreads_over_the_video(video: Path) -> None:
    frames = sample_frames(video, 4)
    assert len(frames) == 4 and all(f[:2] == b"\xff\xd8" for f in frames)  # JPEG
    assert len(set(frames)) == 4  # different moments of the clip


async def test_skipped_without_media_or_without_a_vision_provider(oai: FakeLLMServer, photo: Path, tmp_path: Path,
                                                                  activities: Any) -> None:
    acts = activities(llm_settings(tmp_path, openai_url=oai.url))
    none = await acts.analyse_media(_req())
    assert none.skipped and none.notes == ["no media sent with this run"]

    blind = ProviderSettings(name="openai", kind="openai", base_url=oai.url, vision=False)
    no_vision = await activities(llm_settings(tmp_path, providers=[blind], chain=["openai"])).analyse_media(
        _req(photo))
    assert no_vision.skipped and no_vision.notes == ["no vision provider configured"]
    assert oai.requests == []


async def test_unreadable_media_and_failing_providers_skip_cleanly(oai: FakeLLMServer, photo: Path, tmp_path: Path,
                                                                   activities: Any) -> None:
    acts = activities(llm_settings(tmp_path, openai_url=oai.url, chain=["openai"]))
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("not an image")
    result = await acts.analyse_media(_req(bogus, tmp_path / "missing.png"))
    assert result.skipped and "notes.jpg: not readable as image or video (UnidentifiedImageError)" in result.notes
    assert "missing.png: file not found" in result.notes and oai.requests == []

    oai.default = {"status": 500}
    failed = await acts.analyse_media(_req(photo))
    assert failed.skipped and failed.notes[-1].startswith("vision failed: every provider")
    assert isinstance(acts.vision.gateway.store, MemoryUsageStore)
    assert [c.outcome for c in acts.vision.gateway.store.call_records] == ["server_error"]  # no in-gateway retry


async def test_transient_vision_failure_is_retried_by_temporal_not_skipped(oai: FakeLLMServer, photo: Path,
                                                                          tmp_path: Path, activities: Any) -> None:
    acts = activities(llm_settings(tmp_path, openai_url=oai.url, chain=["openai"]))
    oai.default = {"status": 503}
    env = ActivityEnvironment()
    env.info = replace(env.info, attempt=1, retry_policy=RetryPolicy(maximum_attempts=3))
    with pytest.raises(ApplicationError) as caught:
        await env.run(acts.analyse_media, _req(photo))
    assert caught.value.type == "LLMUnavailable" and not caught.value.non_retryable
    env.info = replace(env.info, attempt=3)
    last = await env.run(acts.analyse_media, _req(photo))
    assert last.skipped and last.notes[-1].startswith("vision failed: every provider")
