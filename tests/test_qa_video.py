"""The video gates against small fixtures made with the bundled ffmpeg: good ones pass, broken ones fail
with the reason a person would need to fix them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sma.models.common import QAReport
from sma.services.media.ffmpeg import FFmpeg
from sma.services.qa.video import check_video, is_faststart, parse_analysis, top_level_atoms

W, H = 270, 480  # small fixtures keep the suite fast; the gates take the expected size as arguments


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg()


def make_clip(
    ffmpeg: FFmpeg, out: Path, seconds: float = 5.0, size: str = f"{W}x{H}", video_filter: str = "null",
    audio_seconds: float | None = None, faststart: bool = True,
) -> Path:  # fmt: skip
    """A moving test pattern with a tone at about -14 LUFS, optionally broken by `video_filter`."""
    audio_s = seconds if audio_seconds is None else audio_seconds
    graph = f"[0:v]split[a][b];[a][b]{video_filter}[v]" if "freezeframes" in video_filter else f"[0:v]{video_filter}[v]"
    args = [
        "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}",
        "-f", "lavfi", "-i", f"sine=f=440:d={audio_s}:sample_rate=48000",
        "-filter_complex", f"{graph};[1:a]volume=8dB[a]", "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ac", "2", "-ar", "48000",
        *(["-movflags", "+faststart"] if faststart else []), str(out),
    ]  # fmt: skip
    ffmpeg.run(args)
    return out


def gates(reports: list[QAReport]) -> dict[str, QAReport]:
    return {r.gate: r for r in reports}


def test_good_clip_passes_both_gates(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(ffmpeg, tmp_path / "good.mp4")
    reports = gates(check_video(ffmpeg, clip, 5.0, width=W, height=H))
    assert reports["QA_RENDER"].passed, reports["QA_RENDER"].reasons
    assert reports["QA_VISUAL"].passed, reports["QA_VISUAL"].reasons
    assert reports["QA_RENDER"].score == 1.0
    assert abs(reports["QA_RENDER"].metrics["integrated_lufs"] + 14) < 2


def test_black_stretch_fails_visual_with_timestamps(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(
        ffmpeg,
        tmp_path / "black.mp4",
        seconds=6.0,
        video_filter="drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,2,4)'",
    )
    visual = gates(check_video(ffmpeg, clip, 6.0, width=W, height=H))["QA_VISUAL"]
    assert not visual.passed
    assert any(r.startswith("black from 2.0") for r in visual.reasons), visual.reasons
    assert visual.metrics["black_s"] == pytest.approx(2.0, abs=0.1)
    assert 0 < visual.score < 1


def test_frozen_stretch_fails_visual(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(
        ffmpeg, tmp_path / "frozen.mp4", seconds=6.0, video_filter="freezeframes=first=60:last=150:replace=60"
    )
    visual = gates(check_video(ffmpeg, clip, 6.0, width=W, height=H))["QA_VISUAL"]
    assert not visual.passed
    assert any(r.startswith("frozen from 2.0") for r in visual.reasons), visual.reasons
    assert visual.metrics["frozen_s"] >= 2.0


def test_truncated_audio_fails_render(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(ffmpeg, tmp_path / "short_audio.mp4", seconds=5.0, audio_seconds=3.0)
    render = gates(check_video(ffmpeg, clip, 5.0, width=W, height=H))["QA_RENDER"]
    assert not render.passed
    assert any("audio is truncated" in r for r in render.reasons), render.reasons


def test_duration_mismatch_fails_render(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(ffmpeg, tmp_path / "short.mp4", seconds=4.0)
    render = gates(check_video(ffmpeg, clip, 6.0, width=W, height=H))["QA_RENDER"]
    assert not render.passed
    assert any(r.startswith("duration 4.00s, expected 6.00s") for r in render.reasons), render.reasons


def test_wrong_resolution_fails_render(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    clip = make_clip(ffmpeg, tmp_path / "landscape.mp4", seconds=3.0, size="320x180")
    reports = gates(check_video(ffmpeg, clip, 3.0, width=W, height=H))
    render = reports["QA_RENDER"]
    assert not render.passed
    assert f"resolution 320x180, expected {W}x{H}" in render.reasons
    assert reports["QA_VISUAL"].passed


def test_moov_after_mdat_is_not_faststart(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    slow = make_clip(ffmpeg, tmp_path / "slow.mp4", seconds=2.0, faststart=False)
    fast = make_clip(ffmpeg, tmp_path / "fast.mp4", seconds=2.0)
    assert top_level_atoms(slow).index("mdat") < top_level_atoms(slow).index("moov")
    assert not is_faststart(slow) and is_faststart(fast)
    render = gates(check_video(ffmpeg, slow, 2.0, width=W, height=H))["QA_RENDER"]
    assert any("faststart" in r for r in render.reasons)


def test_unreadable_file_fails_both(ffmpeg: FFmpeg, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(2048))
    reports = check_video(ffmpeg, junk, 5.0)
    assert [r.passed for r in reports] == [False, False]
    assert all(r.reasons for r in reports)


def test_freeze_until_the_end_is_closed_at_the_duration() -> None:
    log = (
        "[blackdetect @ 0x1] black_start:1.5 black_end:3 black_duration:1.5\n"
        "[freezedetect @ 0x2] lavfi.freezedetect.freeze_start: 4.2\n"
        "  Integrated loudness:\n    I:         -14.3 LUFS\n"
    )
    found = parse_analysis(log, duration_s=7.0)
    assert found.black == [(1.5, 3.0)]
    assert found.frozen == [(4.2, 7.0)]
    assert found.integrated_lufs == -14.3
