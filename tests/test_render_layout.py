"""The render follows the layout: captions land in the platform's caption band, an overlay placed over
the captions is moved into the overlay region, and the cache key changes with every output setting."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from sma.models.common import Word
from sma.models.pipeline import Overlay, RenderRequest
from sma.services.artifacts import ArtifactStore
from sma.services.captions.ass import build_ass
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.layout import layout_for
from sma.services.media.render import RenderService
from sma.settings import MediaSettings

W, H, FONT = 270, 480, 17
SECONDS = 5.0


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def request_(ffmpeg: FFmpeg, store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory) -> RenderRequest:
    work = tmp_path_factory.mktemp("in")
    ffmpeg.run(["-loglevel", "error", "-f", "lavfi", "-i", f"sine=f=220:d={SECONDS}:sample_rate=22050",
                "-af", "volume=-6dB", str(work / "voice.wav")])  # fmt: skip
    tokens = ["every", "caption", "sits", "above", "the", "buttons"]
    words = [Word(text=t, start=0.3 + i * 0.3, end=0.3 + i * 0.3 + 0.28) for i, t in enumerate(tokens)]
    (work / "c.ass").write_text(build_ass(words, W, H, "DejaVu Sans", FONT), encoding="utf-8")
    Image.new("RGBA", (200, 120), (255, 0, 255, 255)).save(work / "card.png")
    overlay = Overlay(image=store.put(work / "card.png", kind="image"), start_s=3.0, end_s=4.8, x=30, y=330)
    return RenderRequest(project_id="p", run_id="r", voice=store.put(work / "voice.wav", kind="voice"),
                         duration_s=SECONDS, captions=store.put(work / "c.ass", kind="captions"),
                         overlays=[overlay], platforms=["instagram"])  # fmt: skip


def _settings(**extra: object) -> MediaSettings:
    values: dict[str, object] = {"encoder": "libx264", "width": W, "height": H, "preset": "ultrafast",
                                 "caption_font_size": FONT, **extra}
    return MediaSettings(**values)


def _frame(path: str, at: float) -> np.ndarray:
    with av.open(path) as container:
        stream = container.streams.video[0]
        container.seek(int(at / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at - 0.02:
                return frame.to_ndarray(format="rgb24").astype(int)
    raise AssertionError(f"no frame at {at}")


def test_captions_and_overlays_follow_the_platform_layout(
    ffmpeg: FFmpeg, store: ArtifactStore, request_: RenderRequest
) -> None:
    service = RenderService(store, ffmpeg, _settings())
    result = service.render(request_)
    layout = layout_for(["instagram"], W, H, FONT)
    assert any(n.startswith("overlay 1 moved into the safe zone") for n in result.notes), result.notes
    captions = _frame(result.video.path, 1.0)
    rows = np.where((captions.min(axis=2) > 200).any(axis=1))[0]  # white caption text
    assert rows.size and layout.captions.y <= rows.min() and rows.max() <= layout.captions.bottom, rows
    card = _frame(result.video.path, 4.0)
    magenta = (card[..., 0] > 200) & (card[..., 1] < 80) & (card[..., 2] > 200)
    ys, xs = np.where(magenta)
    box = layout.overlays
    assert ys.size > 1000
    assert box.y - 1 <= ys.min() and ys.max() <= box.bottom + 1 and box.x - 1 <= xs.min() and xs.max() <= box.right + 1
    assert ys.max() < layout.captions.y


def test_cache_key_follows_output_settings(ffmpeg: FFmpeg, store: ArtifactStore, request_: RenderRequest) -> None:
    base = RenderService(store, ffmpeg, _settings()).cache_key(request_, "libx264")
    assert RenderService(store, ffmpeg, _settings()).cache_key(request_, "libx264") == base
    changed = [
        RenderService(store, ffmpeg, _settings()).cache_key(request_, "h264_nvenc"),
        RenderService(store, ffmpeg, _settings(crf=28)).cache_key(request_, "libx264"),
        RenderService(store, ffmpeg, _settings(preset="veryfast")).cache_key(request_, "libx264"),
        RenderService(store, ffmpeg, _settings(target_lufs=-16)).cache_key(request_, "libx264"),
        RenderService(store, ffmpeg, _settings()).cache_key(request_.model_copy(update={"platforms": ["tiktok"]}),
                                                            "libx264"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_a_settings_change_renders_again(ffmpeg: FFmpeg, store: ArtifactStore, request_: RenderRequest) -> None:
    short = request_.model_copy(update={"overlays": [], "run_id": "again"})
    first = RenderService(store, ffmpeg, _settings()).render(short)
    assert "reused" in RenderService(store, ffmpeg, _settings()).render(short).notes
    other = RenderService(store, ffmpeg, _settings(crf=35)).render(short)
    assert "reused" not in other.notes and other.video.sha256 != first.video.sha256
    assert other.video.size < first.video.size
