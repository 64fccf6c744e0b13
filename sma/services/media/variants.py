"""Per-platform variants of a rendered video: a duration cap (re-cut) and a loudness target.

Why a separate step: the render makes one master for every platform; a platform that takes shorter
videos, or plays them at another loudness, gets its own copy made from the master when (and only when)
it needs one. `make_variant(video, platform)` is what the publishing step calls: it returns the master
itself when nothing has to change, else a cached variant (same master and profile, same file).

A loudness-only variant copies the video stream and re-encodes the audio (seconds for a minute of
video); a re-cut re-encodes both, ending on a short fade so the cut never lands mid-frame or mid-word
(with caption words, it ends after the last sentence that fits).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sma.models.common import ArtifactRef, Word
from sma.models.media import VariantResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.services.media.layout import normalize_platform
from sma.services.media.render import parse_integrated
from sma.settings import MediaSettings

VERSION = "1"
LOUDNESS_TOLERANCE_LU = 0.5  # closer than this to the target: no variant for loudness alone
TRUE_PEAK_DB = -1.5
FADE_S = 0.5
LEVEL_PASSES = 3
SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")


@dataclass(frozen=True)
class PublishCap:
    """The publishing options' word on length: its cap (None: the documented one) and whether to re-cut."""

    max_duration_s: float | None
    recut: bool = True


@dataclass(frozen=True)
class PlatformProfile:
    """What one platform accepts: the longest video (None: no cap we need to enforce) and its loudness."""

    platform: str
    max_duration_s: float | None
    target_lufs: float
    source: str = ""


PROFILES: dict[str, PlatformProfile] = {
    "tiktok": PlatformProfile("tiktok", 600.0, -14.0, "TikTok: in-app videos up to 10 minutes"),
    "instagram": PlatformProfile("instagram", 180.0, -14.0, "Instagram Reels: up to 3 minutes (since 2025)"),
    "youtube": PlatformProfile("youtube", 180.0, -14.0,
                               "YouTube Shorts: up to 3 minutes (since Oct 2024); playback normalised to about "
                               "-14 LUFS"),
}  # fmt: skip
"""Defaults; `media.variant_max_s` and `media.variant_lufs` override them per platform."""


def profile_for(platform: str, settings: MediaSettings, publish_cap: PublishCap | None = None) -> PlatformProfile:
    """The platform's profile with the configured overrides; unknown platforms keep the master as is.

    The duration cap, strongest first: `media.variant_max_s`, then the publishing options' cap (what the
    adapter enforces; no cut at all when the project asked publishing to fail over-long videos), then the
    documented default."""
    name = normalize_platform(platform)
    base = PROFILES.get(name, PlatformProfile(name, None, settings.target_lufs, "no platform limits known"))
    default_cap = base.max_duration_s
    if publish_cap is not None:
        default_cap = publish_cap.max_duration_s if publish_cap.recut else None
        if publish_cap.recut and publish_cap.max_duration_s is None:
            default_cap = base.max_duration_s
    cap = settings.variant_max_s.get(name, settings.variant_max_s.get(platform, default_cap))
    lufs = settings.variant_lufs.get(name, settings.variant_lufs.get(platform, base.target_lufs))
    return replace(base, max_duration_s=cap, target_lufs=lufs)


class VariantService:
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg, settings: MediaSettings) -> None:
        self.store = store
        self.ffmpeg = ffmpeg
        self.settings = settings

    def make_variant(self, video: ArtifactRef, platform: str, words: list[Word] | None = None) -> ArtifactRef:
        """The file to upload to `platform`: the master, or a re-cut / re-levelled copy of it."""
        return self.variant(video, platform, words).video

    def variant(self, video: ArtifactRef, platform: str, words: list[Word] | None = None,
                publish_cap: PublishCap | None = None) -> VariantResult:
        profile = profile_for(platform, self.settings, publish_cap)
        s = self.settings
        key = input_key("variant", {
            "video": video.sha256, "profile": asdict(profile), "preset": s.preset, "crf": s.crf,
            "bitrate": s.audio_bitrate, "words": [w.model_dump() for w in words or []],
        }, version=VERSION)  # fmt: skip
        meta_key = input_key("variant-result", {"key": key}, version=VERSION)
        cached = self.store.lookup(meta_key)
        if cached is not None:
            result = VariantResult.model_validate(self.store.read_json(cached))
            if self.store.localize(result.video) is not None:
                return result
        result = self._make(video, profile, words)
        self.store.put_json(result.model_dump(mode="json"), kind="variant-result", key=meta_key)
        return result

    # ------------------------------------------------------------ planning

    def _make(self, video: ArtifactRef, profile: PlatformProfile, words: list[Word] | None) -> VariantResult:
        info = self.ffmpeg.probe(video.path)
        lufs = self.loudness(Path(video.path))
        cut = self.cut_point(info.duration_s, profile.max_duration_s, words)
        gain = 0.0
        if lufs is not None and lufs > -70 and abs(profile.target_lufs - lufs) > LOUDNESS_TOLERANCE_LU:
            gain = profile.target_lufs - lufs
        changed: list[str] = []
        if cut is not None:
            changed.append(f"cut from {info.duration_s:.2f} s to {cut:.2f} s (cap {profile.max_duration_s:.0f} s)")
        if gain:
            changed.append(f"loudness {lufs:.1f} -> {profile.target_lufs:.1f} LUFS")
        if not changed:
            return VariantResult(platform=profile.platform, video=video, duration_s=round(info.duration_s, 3),
                                 integrated_lufs=lufs)  # fmt: skip
        ref = self._encode(Path(video.path), cut, gain, profile)
        out_lufs = self.loudness(Path(ref.path))
        duration = self.ffmpeg.probe(ref.path).duration_s
        return VariantResult(platform=profile.platform, video=ref, changed=changed, duration_s=round(duration, 3),
                             integrated_lufs=out_lufs)  # fmt: skip

    @staticmethod
    def cut_point(duration_s: float, cap_s: float | None, words: list[Word] | None = None) -> float | None:
        """Where to end a video longer than the cap: after the last sentence that ends in time, else at the cap."""
        if cap_s is None or duration_s <= cap_s + 0.05:
            return None
        limit = cap_s - FADE_S
        ends = [w.end for w in words or [] if w.end <= limit and SENTENCE_END.search(w.text)]
        if ends and ends[-1] >= cap_s * 0.5:
            return round(min(cap_s, ends[-1] + FADE_S), 3)
        return round(cap_s, 3)

    # ------------------------------------------------------------ loudness

    def loudness(self, path: Path, audio_filter: str = "anull") -> float | None:
        """Integrated loudness of the file's audio after `audio_filter` (audio-only pass, no output)."""
        try:
            log = self.ffmpeg.capture(["-i", str(path), "-vn", "-af", f"{audio_filter},ebur128=framelog=quiet",
                                       "-f", "null", "-"], timeout=300)  # fmt: skip
        except FFmpegError:
            return None
        values = parse_integrated(log)
        return values[-1] if values else None

    def _gain_for(self, path: Path, cut: float | None, gain: float, target: float) -> float:
        """The gain that lands on `target` through the limiter (measured: a peaky mix loses some to it)."""
        trim = f"atrim=duration={cut:.3f}," if cut is not None else ""
        for _ in range(LEVEL_PASSES):
            measured = self.loudness(path, f"{trim}{_level_chain(gain)}")
            if measured is None or measured < -70:
                break
            error = target - measured
            if abs(error) < 0.2:
                break
            gain += error
        return gain

    # ------------------------------------------------------------ encoding

    def _encode(self, source: Path, cut: float | None, gain: float, profile: PlatformProfile) -> ArtifactRef:
        s = self.settings
        gain = self._gain_for(source, cut, gain, profile.target_lufs) if gain else 0.0
        audio = f"{_level_chain(gain)},aresample=48000"
        args = ["-loglevel", "error", "-i", str(source)]
        if cut is not None:
            fade_at = max(0.0, cut - FADE_S)
            audio += f",afade=t=out:st={fade_at:.3f}:d={FADE_S}"
            args += ["-t", f"{cut:.3f}", "-vf", f"fade=t=out:st={fade_at:.3f}:d={FADE_S}",
                     "-c:v", "libx264", "-preset", s.preset, "-crf", str(s.crf), "-pix_fmt", "yuv420p",
                     "-r", str(s.fps)]  # fmt: skip
        else:
            args += ["-c:v", "copy"]
        args += ["-af", audio, "-c:a", "aac", "-b:a", s.audio_bitrate, "-ar", "48000", "-ac", "2",
                 "-movflags", "+faststart", "-threads", str(s.threads)]  # fmt: skip
        with self.store.staging(".mp4") as out:
            self.ffmpeg.run([*args, str(out)], duration_s=cut, timeout=1800)
            return self.store.put(out, kind="video-variant")


def _level_chain(gain_db: float) -> str:
    limit = 10 ** (TRUE_PEAK_DB / 20)
    return f"volume={gain_db:.2f}dB,alimiter=limit={limit:.4f}:level=false:latency=true"
