"""Per-platform variants with real FFmpeg: a duration cap re-cuts the video (at a sentence end when the
words are known), a loudness target re-levels only the audio, and a platform that needs nothing gets
the master back. Variants are cached by their inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sma.models.common import ArtifactRef, Word
from sma.services.artifacts import ArtifactStore
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.variants import PROFILES, VariantService, profile_for
from sma.services.qa.video import check_video, is_faststart
from sma.settings import MediaSettings

SECONDS = 6.0


@pytest.fixture(scope="module")
def ffmpeg() -> FFmpeg:
    return FFmpeg()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("variants"))


@pytest.fixture(scope="module")
def master(ffmpeg: FFmpeg, store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory) -> ArtifactRef:
    """A small moving picture with a pulsing tone at about -14 LUFS, like a rendered master."""
    out = tmp_path_factory.mktemp("master") / "master.mp4"
    ffmpeg.run([
        "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=s=270x480:r=30:d={SECONDS}",
        "-f", "lavfi", "-i", f"sine=f=330:d={SECONDS}:sample_rate=48000",
        "-filter_complex", "[1:a]volume=12dB,apulsator=hz=2[a]", "-map", "0:v", "-map", "[a]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ac", "2", "-ar", "48000", "-movflags", "+faststart", str(out),
    ])  # fmt: skip
    return store.put(out, kind="video")


def _service(ffmpeg: FFmpeg, store: ArtifactStore, **settings: object) -> VariantService:
    return VariantService(store, ffmpeg, MediaSettings(preset="ultrafast", **settings))


def test_platform_that_needs_nothing_gets_the_master(ffmpeg: FFmpeg, store: ArtifactStore, master: ArtifactRef) -> None:
    service = _service(ffmpeg, store)
    result = service.variant(master, "tiktok")
    assert result.video == master and result.changed == []
    assert result.integrated_lufs == pytest.approx(-14, abs=1.5)
    assert service.make_variant(master, "telegram") == master  # no known limits at all


def test_duration_cap_recuts_with_a_fade(ffmpeg: FFmpeg, store: ArtifactStore, master: ArtifactRef) -> None:
    service = _service(ffmpeg, store, variant_max_s={"youtube": 4.0})
    result = service.variant(master, "shorts")  # alias of youtube
    assert result.video != master and result.changed[0].startswith("cut from 6.00 s to 4.00 s")
    info = ffmpeg.probe(result.video.path)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and (info.width, info.height) == (270, 480)
    assert is_faststart(Path(result.video.path))
    render = {r.gate: r for r in check_video(ffmpeg, Path(result.video.path), 4.0, 270, 480)}["QA_RENDER"]
    assert render.passed, render.reasons
    count = store.count()
    assert service.make_variant(master, "youtube") == result.video  # cached by master + profile
    assert store.count() == count


def test_recut_ends_after_the_last_sentence_that_fits(
    ffmpeg: FFmpeg, store: ArtifactStore, master: ArtifactRef
) -> None:
    words = [Word(text="First", start=0.2, end=0.6), Word(text="point.", start=0.6, end=1.1),
             Word(text="Second", start=1.3, end=1.9), Word(text="point.", start=1.9, end=2.7),
             Word(text="Third", start=3.0, end=3.6), Word(text="one", start=3.6, end=4.4)]  # fmt: skip
    assert VariantService.cut_point(6.0, 4.0, words) == pytest.approx(3.2)
    assert VariantService.cut_point(6.0, 4.0, words[:1]) == 4.0  # no sentence end: hard cap
    assert VariantService.cut_point(3.9, 4.0, words) is None
    service = _service(ffmpeg, store, variant_max_s={"instagram": 4.0})
    result = service.variant(master, "instagram", words)
    assert ffmpeg.probe(result.video.path).duration_s == pytest.approx(3.2, abs=0.1)


def test_loudness_target_relevels_audio_only(ffmpeg: FFmpeg, store: ArtifactStore, master: ArtifactRef) -> None:
    for target in (-18.0, -11.0):
        service = _service(ffmpeg, store, variant_lufs={"tiktok": target})
        result = service.variant(master, "tiktok")
        assert result.changed and "LUFS" in result.changed[0]
        assert result.integrated_lufs == pytest.approx(target, abs=0.7)
        info, source = ffmpeg.probe(result.video.path), ffmpeg.probe(master.path)
        assert info.duration_s == pytest.approx(source.duration_s, abs=0.05)
        assert (info.video_codec, info.width, info.height) == ("h264", 270, 480)
        report = {r.gate: r for r in check_video(ffmpeg, Path(result.video.path), SECONDS, 270, 480,
                                                 target_lufs=target)}["QA_RENDER"]  # fmt: skip
        assert report.passed, report.reasons


def test_profiles_are_a_table_with_overrides() -> None:
    assert set(PROFILES) == {"tiktok", "instagram", "youtube"}
    settings = MediaSettings(variant_max_s={"tiktok": 60.0}, variant_lufs={"instagram": -16.0})
    assert profile_for("TikTok", settings).max_duration_s == 60.0
    assert profile_for("reels", settings).target_lufs == -16.0
    assert profile_for("local", settings).max_duration_s is None
