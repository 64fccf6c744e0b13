"""Media steps with the real bundled ffmpeg: background, music, code cards, the render and its wrapper."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from sma.models.common import Word
from sma.models.pipeline import (
    BackgroundRequest,
    Beat,
    ImagesRequest,
    MusicRequest,
    Overlay,
    RenderRequest,
    Visual,
)
from sma.services.artifacts import ArtifactStore
from sma.services.media.background import LOOP_SECONDS, BackgroundService, Scene
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.services.media.images import ImageService, beat_spans, render_code_image
from sma.services.media.layout import Rect, layout_for
from sma.services.media.render import RenderService, escape_filter_path
from sma.services.media.storyboard import MIN_SHOT_S
from sma.services.music.service import MusicService, Pad
from sma.services.qa.video import check_video, is_faststart
from sma.settings import MediaSettings, VisualSettings

T = TypeVar("T")
VOICE_S = 6.0
CODE = 'def greet(name: str) -> str:\n    """Say hello."""\n    return f"hello {name}"  # friendly\n'

ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 1080
PlayResY: 1920
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, \
Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,68,&H00FFFFFF,&H0000D7FF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,5,2,2,\
80,80,480,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _ts(t: float) -> str:
    cs = round(t * 100)
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def write_ass(path: Path, words: list[Word], per_line: int = 3) -> Path:
    """Karaoke lines of a few words each, like the captions step writes."""
    events = []
    for i in range(0, len(words), per_line):
        group = words[i : i + per_line]
        text = " ".join(f"{{\\k{round((w.end - w.start) * 100)}}}{w.text}" for w in group)
        events.append(f"Dialogue: 0,{_ts(group[0].start)},{_ts(group[-1].end)},Default,,0,0,0,,{text}\n")
    path.write_text(ASS_HEADER + "".join(events), encoding="utf-8")
    return path


def even_words(text: str, start: float, end: float) -> list[Word]:
    tokens = text.split()
    step = (end - start) / len(tokens)
    return [Word(text=t, start=start + i * step, end=start + (i + 1) * step - 0.02) for i, t in enumerate(tokens)]


def voice_args(seconds: float, out: Path) -> list[str]:
    """A speech stand-in: a gliding tone in syllable-rate bursts with pauses, 22 kHz mono like Piper."""
    expr = ("0.6*sin(2*PI*(180+40*sin(2*PI*0.5*t))*t)*(0.55+0.45*sin(2*PI*4*t))"
            "*gt(mod(t\\,2.5)\\,0.35)")  # fmt: skip
    return [
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc={expr}:s=22050:d={seconds}",
        "-c:a",
        "pcm_s16le",
        str(out),
    ]


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def settings() -> MediaSettings:
    return MediaSettings(encoder="libx264")


# ---------------------------------------------------------------- ffmpeg wrapper


def _ffmpeg_children() -> list[str]:
    """State letters of our ffmpeg children (R, S, Z...), read from /proc."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and "ffmpeg" in comm:
            states.append(fields[0])
    return states


def test_run_reports_progress_and_error_tail(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    seen: list[float] = []
    ffmpeg.run(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=30:d=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(tmp_path / "p.mp4"),
        ],
        duration_s=2.0,
        on_progress=seen.append,
    )
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(FFmpegError) as err:
        ffmpeg.run(["-i", str(tmp_path / "missing.wav"), str(tmp_path / "x.wav")])
    assert "missing.wav" in str(err.value) and err.value.returncode != 0


def test_abandoned_run_kills_and_reaps_ffmpeg(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    """A cancellation raised in the calling thread (here from the progress callback) ends the child."""

    def cancel(_: float) -> None:
        raise KeyboardInterrupt("cancelled")

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ffmpeg.run(
            ["-re", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=30", "-f", "null", "-"],
            duration_s=30,
            on_progress=cancel,
        )
    with pytest.raises(FFmpegError, match="timed out"):
        ffmpeg.run(["-re", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=30", "-f", "null", "-"], timeout=1)
    assert time.monotonic() - started < 10
    assert _ffmpeg_children() == []


def test_ffmpeg_dies_with_a_killed_worker(tmp_path: Path) -> None:
    """A worker killed outright (OOM, SIGKILL) takes its ffmpeg with it instead of leaving an orphan."""
    code = (
        "from sma.services.media.ffmpeg import FFmpeg\n"
        "FFmpeg().run(['-re', '-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=30:d=60', '-f', 'null', '-'])\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code])
    try:
        child = _wait_for(lambda: _children_of(worker.pid), timeout=15)
        assert child, "worker never started ffmpeg"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert _wait_for(lambda: not Path(f"/proc/{child[0]}").exists() or _state(child[0]) == "Z", timeout=5)
    finally:
        worker.kill()
        worker.wait()


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _wait_for(check: Callable[[], T], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    return check()


def test_encoders(ffmpeg: FFmpeg) -> None:
    assert ffmpeg.has_encoder("libx264")
    assert not ffmpeg.has_encoder("no_such_encoder")
    assert isinstance(ffmpeg.has_encoder("h264_nvenc"), bool)  # true only where a GPU really encodes


def test_filter_path_escaping_survives_the_ass_filter(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    odd = tmp_path / "we:ird, [dir]'s; name"
    odd.mkdir()
    ass = write_ass(odd / "cap tions.ass", even_words("hello there", 0.0, 0.5))
    ffmpeg.run(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=0x303040:s=270x480:r=30:d=0.5",
            "-vf",
            f"ass=filename={escape_filter_path(str(ass))}:fontsdir={escape_filter_path(str(odd))}",
            "-f",
            "null",
            "-",
        ]
    )


# ---------------------------------------------------------------- background and music


def test_background_is_a_small_seamless_loop(ffmpeg: FFmpeg, store: ArtifactStore, settings: MediaSettings) -> None:
    service = BackgroundService(store, ffmpeg, settings)
    first = service.make(BackgroundRequest(project_id="p", run_id="r1", duration_s=30, seed="alpha"))
    assert first.video is not None and first.tier == "procedural" and first.loop
    info = ffmpeg.probe(first.video.path)
    assert (info.width, info.height) == (270, 480)
    assert info.video_codec == "h264" and info.fps == 30
    assert info.duration_s == pytest.approx(LOOP_SECONDS, abs=0.05)
    again = service.make(BackgroundRequest(project_id="p", run_id="r2", duration_s=45, seed="alpha"))
    assert again.video == first.video and "reused" in again.notes
    scene = Scene("alpha", 270, 480, 300)
    assert np.array_equal(scene.frame(0), scene.frame(300))  # the loop closes on itself
    assert not np.array_equal(scene.frame(0), Scene("beta", 270, 480, 300).frame(0))


def _encoded_size(ffmpeg: FFmpeg, frames: Iterable[bytes], out: Path) -> int:
    ffmpeg.run([
        "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gbrp", "-s", "270x480", "-framerate", "30",
        "-i", "pipe:0", "-vf", "scale=540:960:flags=fast_bilinear", "-c:v", "libx264", "-preset", "veryfast",
        "-crf", "23", "-pix_fmt", "yuv420p", "-threads", "1", "-an", str(out),
    ], feed=frames)  # fmt: skip
    return out.stat().st_size


def test_background_motion_is_cheap_for_x264(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    """Two seconds of the moving loop, scaled up and encoded like the render does, cost under 4.8x the
    bytes of its first frame held still (a hue and angle drift cost 6.1x: every macroblock got a residual)."""
    scene = Scene("alpha", 270, 480, 300)
    moving = _encoded_size(ffmpeg, (scene.frame(i)[[1, 2, 0]].tobytes() for i in range(60)), tmp_path / "m.mp4")
    still = _encoded_size(ffmpeg, (scene.frame(0)[[1, 2, 0]].tobytes() for _ in range(60)), tmp_path / "s.mp4")
    assert moving < 4.8 * still
    assert not np.array_equal(scene.frame(0), scene.frame(60))  # it still moves


def test_music_has_the_exact_length(ffmpeg: FFmpeg, store: ArtifactStore) -> None:
    service = MusicService(store, ffmpeg)
    started = time.perf_counter()
    result = service.make(MusicRequest(project_id="p", run_id="r", duration_s=7.3, mood="calm"))
    assert time.perf_counter() - started < 3
    assert result.audio is not None and result.tier == "procedural"
    info = ffmpeg.probe(result.audio.path)
    assert info.audio_codec == "aac" and info.audio_sample_rate == 48000 and info.audio_channels == 2
    assert info.duration_s == pytest.approx(7.3, abs=0.03)
    count = store.count()
    assert service.make(MusicRequest(project_id="p", run_id="r", duration_s=7.3, mood="calm")).audio == result.audio
    assert store.count() == count
    assert Pad("seed", "question", 5).mood == "mysterious"  # the pipeline passes the hook style as mood
    assert Pad("seed", "", 5).mood == "calm"


# ---------------------------------------------------------------- code cards and their timing


def test_code_image_fits_and_has_content() -> None:
    image = render_code_image(CODE, "python")
    assert image.mode == "RGBA" and image.width == 960 and 150 < image.height <= 900
    assert image.getpixel((0, 0))[3] == 0  # rounded, shadowed card on a transparent canvas
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50
    tall = render_code_image("\n".join(f"value_{i} = compute(value_{i - 1})" for i in range(80)), "python")
    assert tall.width == 960 and tall.height <= 900
    wide = render_code_image("x = '" + "y" * 400 + "'", "nolang", width=800)
    assert wide.width == 800


def test_beat_spans_skip_the_hook_and_survive_transcription_errors() -> None:
    beats = [Beat(narration="First we open the file."), Beat(narration="Then we read every line carefully.")]
    spoken = "Did you know this trick? First we opened the file. Then we read every line carefully. Follow!"
    words = even_words(spoken, 0.0, 9.0)
    spans = beat_spans(beats, words, 9.0)
    by_text = {w.text: w for w in words}
    assert spans[0][0] == pytest.approx(by_text["First"].start)
    assert spans[0][1] == pytest.approx(by_text["file."].end)
    assert spans[1][0] == pytest.approx(by_text["Then"].start)
    assert spans[1][1] == pytest.approx(by_text["carefully."].end)
    # Nothing matches: proportional shares after an estimated hook, still in order and inside the audio.
    fallback = beat_spans(beats, even_words("zz " * 20, 0.0, 10.0), 10.0)
    assert 0 <= fallback[0][0] < fallback[0][1] <= fallback[1][0] < fallback[1][1] <= 10.0


def test_image_service_places_code_in_the_overlay_region(store: ArtifactStore) -> None:
    beats = [
        Beat(narration="Here is the function.", visual=Visual(kind="code", code=CODE)),
        Beat(narration="And the flow of data.", visual=Visual(kind="diagram", diagram="graph TD; a-->b")),
        Beat(narration="That is all."),
    ]
    words = even_words("Quick tip. Here is the function. And the flow of data. That is all.", 0.0, 6.0)
    words_ref = store.put_json([w.model_dump() for w in words], kind="words")
    settings = MediaSettings(visuals=VisualSettings(mermaid_cli="mmdc-is-not-installed"))
    result = ImageService(store, settings).make(
        ImagesRequest(project_id="p", run_id="r", beats=beats, words=words_ref, duration_s=6.0)
    )
    # the hook's title card, the code card, a key-word card standing in for the diagram, the last beat's card
    assert result.tier == "pillow" and len(result.overlays) == 4
    assert any("diagram skipped" in n and "not installed" in n for n in result.notes), result.notes
    overlay = result.overlays[1]
    layout = layout_for([])
    with Image.open(overlay.image.path) as img:
        assert (overlay.width, overlay.height) == img.size and img.width == layout.overlays.w
    assert layout.allows(Rect(overlay.x, overlay.y, overlay.width, overlay.height))
    assert overlay.y == layout.overlays.y
    # the beat's start, or later when the title card before it needs its minimum reading time
    assert overlay.start_s == pytest.approx(max(words[2].start, MIN_SHOT_S), abs=0.01)
    assert overlay.end_s >= words[5].end
    assert [o.end_s for o in result.overlays[:-1]] == [o.start_s for o in result.overlays[1:]]  # no gaps


# ---------------------------------------------------------------- the render


@pytest.fixture(scope="module")
def composition(ffmpeg: FFmpeg, store: ArtifactStore, settings: MediaSettings, tmp_path_factory) -> RenderRequest:
    work = tmp_path_factory.mktemp("inputs")
    ffmpeg.run(voice_args(VOICE_S, work / "voice.wav"))
    voice = store.put(work / "voice.wav", kind="voice")
    ass = write_ass(work / "captions.ass", even_words("one graph renders every frame just once " * 2, 0.3, 5.7))
    captions = store.put(ass, kind="captions")
    duration = VOICE_S + 0.6
    bg = BackgroundService(store, ffmpeg, settings).make(
        BackgroundRequest(project_id="p", run_id="r", duration_s=duration, seed="render")
    )
    music = MusicService(store, ffmpeg).make(MusicRequest(project_id="p", run_id="r", duration_s=duration))
    card = render_code_image(CODE, "python")
    card.save(work / "card.png")
    overlay = Overlay(
        image=store.put(work / "card.png", kind="image"), start_s=1.0, end_s=4.0, x=(1080 - card.width) // 2, y=300
    )
    return RenderRequest(
        project_id="p",
        run_id="r",
        voice=voice,
        duration_s=VOICE_S,
        captions=captions,
        background=bg.video,
        music=music.audio,
        overlays=[overlay],
    )


def test_render_passes_both_gates_and_is_idempotent(
    ffmpeg: FFmpeg, store: ArtifactStore, settings: MediaSettings, composition: RenderRequest
) -> None:
    service = RenderService(store, ffmpeg, settings)
    progress: list[float] = []
    result = service.render(composition, on_progress=progress.append)
    assert result.encoder == "libx264" == result.tier
    assert progress[-1] == 1.0 and progress == sorted(progress)
    info = ffmpeg.probe(result.video.path)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (1080, 1920, "h264", "aac")
    assert info.audio_sample_rate == 48000 and info.audio_channels == 2 and info.fps == 30
    assert result.duration_s == pytest.approx(VOICE_S + 0.6, abs=0.5)
    assert is_faststart(Path(result.video.path))
    reports = {r.gate: r for r in check_video(ffmpeg, Path(result.video.path), VOICE_S + 0.6)}
    assert reports["QA_RENDER"].passed, reports["QA_RENDER"].reasons
    assert reports["QA_VISUAL"].passed, reports["QA_VISUAL"].reasons

    count = store.count()
    again = service.render(composition)
    assert again.video == result.video and "reused" in again.notes
    assert store.count() == count
    assert list(store.tmp.iterdir()) == []


def test_render_failure_leaves_no_artifact(
    ffmpeg: FFmpeg, store: ArtifactStore, settings: MediaSettings, composition: RenderRequest, tmp_path: Path
) -> None:
    broken_ass = tmp_path / "broken.ass"
    shutil.copy(composition.captions.path, broken_ass)
    captions = store.put(broken_ass, kind="captions").model_copy(update={"path": str(tmp_path / "gone.ass")})
    req = composition.model_copy(update={"captions": captions, "run_id": "broken"})
    count = store.count()
    with pytest.raises(FFmpegError):
        RenderService(store, ffmpeg, settings).render(req)
    assert store.count() == count
    assert list(store.tmp.iterdir()) == []


def test_plain_render_without_background_or_music(
    ffmpeg: FFmpeg, store: ArtifactStore, composition: RenderRequest
) -> None:
    """The fallback layout still renders (small frame size to keep the test quick)."""
    small = MediaSettings(encoder="libx264", width=270, height=480, preset="ultrafast")
    req = composition.model_copy(update={"background": None, "music": None, "overlays": [], "run_id": "plain"})
    result = RenderService(store, ffmpeg, small).render(req)
    info = ffmpeg.probe(result.video.path)
    assert (info.width, info.height) == (270, 480)
    assert info.duration_s == pytest.approx(VOICE_S + 0.6, abs=0.1)
    reports = {r.gate: r for r in check_video(ffmpeg, Path(result.video.path), VOICE_S + 0.6, 270, 480)}
    assert reports["QA_RENDER"].passed, reports["QA_RENDER"].reasons
    assert reports["QA_VISUAL"].passed, reports["QA_VISUAL"].reasons  # the fallback still moves
