"""Music (step 6): a chain of tiers, MusicGen -> Freesound -> ElevenLabs -> loops folder -> procedural pad.

Each tier hands back audio in whatever shape it has (a 30 s generation, a 2 min preview, an 8 s loop); one
FFmpeg pass then fits it: looped or trimmed to exactly the video's length, faded in and out, 48 kHz stereo
AAC. A tier that is not configured here is skipped with its reason, one that fails (HTTP error, silent or
unreadable audio) hands over; every attempt is kept on the result. The procedural pad always works.

Why the pad is numpy plus one ffmpeg pass: summing a few dozen sine partials is a handful of vectorised
operations, while ffmpeg's `aevalsrc` would evaluate an expression per sample. ffmpeg then does what it is
good at (low-pass, echo as a cheap reverb, fades, exact trim, AAC) in the same process that encodes.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import structlog

from sma.models.common import ArtifactRef
from sma.models.pipeline import EngineAttempt, MusicRequest, MusicResult
from sma.services.artifacts import ArtifactStore
from sma.services.media.ffmpeg import FFmpeg, FFmpegError
from sma.services.music.sources.base import Fetched, MusicJob, MusicSource, MusicSourceError
from sma.services.step_cache import StepCache
from sma.services.voice.engines.base import secret_value
from sma.settings import MusicSettings

if TYPE_CHECKING:
    from sma.settings import Secrets

log = structlog.get_logger("sma.music")

SAMPLE_RATE = 48_000
VERSION = "2"
FADE_IN_S = 1.5
FADE_OUT_S = 2.0
LEVEL_DBFS = -14.0  # RMS of the dry pad; the renderer measures and sets the final level anyway
SILENT_DB = -55.0
"""Mean volume below which a tier's audio counts as silence (a broken generation, an empty preview)."""
MIN_SOURCE_S = 0.5
"""Shorter than this a source is a click, not music, even looped."""

# Chords as semitone offsets from the key's root; each progression loops for the length of the video.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "calm": ((0, 4, 7, 11), (-3, 0, 4, 7), (-7, -3, 0, 4), (-5, -1, 2, 7)),
    "upbeat": ((0, 4, 7, 12), (5, 9, 12, 16), (-3, 0, 4, 9), (7, 11, 14, 19)),
    "dramatic": ((0, 3, 7, 10), (-4, 0, 3, 8), (3, 7, 10, 15), (-2, 2, 5, 10)),
    "mysterious": ((0, 3, 7, 14), (5, 8, 12, 15), (-4, 0, 3, 7), (7, 10, 14, 17)),
}
# Mood words, including the script's hook styles (the pipeline passes `hook_style` as the mood).
MOOD_WORDS = {
    "upbeat": ("upbeat", "happy", "energetic", "fun", "excited", "bright", "positive", "how_to", "statistic"),
    "dramatic": ("dramatic", "tense", "serious", "urgent", "dark", "epic", "intense", "bold", "contrarian"),
    "mysterious": ("mysterious", "curious", "mystery", "weird", "strange", "suspense", "question", "story"),
}


def fades(duration_s: float, fade_in_s: float = FADE_IN_S, fade_out_s: float = FADE_OUT_S) -> tuple[float, float]:
    """Fade lengths that fit the clip: never more than a quarter of it each."""
    return min(fade_in_s, duration_s / 4), min(fade_out_s, duration_s / 4)


def job_for(req: MusicRequest) -> MusicJob:
    seed = f"{req.project_id}:{req.run_id}:{req.mood}"
    return MusicJob(
        mood=_mood(req.mood, hashlib.sha256(seed.encode()).digest()[8]), duration_s=req.duration_s, seed=seed
    )


# ---------------------------------------------------------------- the chain


def build_sources(settings: MusicSettings, secrets: Secrets | None, ffmpeg: FFmpeg) -> list[MusicSource]:
    """The configured tiers in order, the procedural pad appended as the floor; unknown names stay, unavailable."""
    from sma.services.music.sources.elevenlabs import SoundGenSource
    from sma.services.music.sources.freesound import FreesoundSource
    from sma.services.music.sources.loops import LoopsSource
    from sma.services.music.sources.musicgen import MusicGenSource

    factories: dict[str, Callable[[], MusicSource]] = {
        "musicgen": lambda: MusicGenSource(settings.musicgen),
        "freesound": lambda: FreesoundSource(settings.freesound, secret_value(secrets, "freesound_api_key")),
        "elevenlabs": lambda: SoundGenSource(settings.elevenlabs, secret_value(secrets, "elevenlabs_api_key")),
        "loops": lambda: LoopsSource(settings.loops_dir),
        "procedural": lambda: ProceduralSource(ffmpeg, settings),
    }
    sources: list[MusicSource] = []
    seen: set[str] = set()
    for raw in [*settings.chain, "procedural"]:
        name = raw.strip().lower()
        if not name or name in seen:
            continue
        seen.add(name)
        factory = factories.get(name)
        sources.append(factory() if factory else UnknownSource(name))
    return sources


class UnknownSource:
    def __init__(self, name: str) -> None:
        self.name = name

    def unavailable_reason(self) -> str | None:
        return f"music tier {self.name!r} is not available in this build"

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        raise MusicSourceError(self.unavailable_reason() or "")


class ProceduralSource:
    """The floor: a seeded ambient pad, synthesised and encoded exactly to length in one pass."""

    name = "procedural"

    def __init__(self, ffmpeg: FFmpeg, settings: MusicSettings | None = None) -> None:
        self.ffmpeg = ffmpeg
        self.settings = settings or MusicSettings()

    def unavailable_reason(self) -> str | None:
        return None

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        pad = Pad(job.seed, job.mood, job.duration_s)
        target = workdir / "procedural.m4a"
        fade_in, fade_out = fades(job.duration_s, self.settings.fade_in_s, self.settings.fade_out_s)
        filters = ",".join(
            [
                "lowpass=f=2200:poles=2",
                "aecho=0.8:0.5:97|163|241:0.32|0.22|0.14",
                f"atrim=duration={job.duration_s:.6f}",
                f"afade=t=in:st=0:d={fade_in:.3f}",
                f"afade=t=out:st={job.duration_s - fade_out:.6f}:d={fade_out:.3f}",
            ]
        )
        args = [
            "-loglevel", "error",
            "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", "pipe:0",
            "-af", filters, "-c:a", "aac", "-b:a", "160k", "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-t", f"{job.duration_s:.6f}", "-movflags", "+faststart", str(target),
        ]  # fmt: skip
        self.ffmpeg.run(args, feed=pad.chunks())
        return Fetched(path=target, notes=[f"mood={pad.mood} root={pad.root_hz:.1f}Hz"], fitted=True)


class MusicService:
    """Runs the chain for one request; a repeat of the same request is served from the store."""

    def __init__(
        self,
        store: ArtifactStore,
        ffmpeg: FFmpeg,
        settings: MusicSettings | None = None,
        secrets: Secrets | None = None,
        sources: list[MusicSource] | None = None,
    ) -> None:
        self.store = store
        self.results = StepCache(store, MusicResult, "music", VERSION, primary=lambda r: r.audio)
        self.ffmpeg = ffmpeg
        self.settings = settings or MusicSettings()
        self.sources = sources if sources is not None else build_sources(self.settings, secrets, ffmpeg)

    def cache_key(self, req: MusicRequest) -> str:
        payload = {
            "request": req.model_dump(mode="json"),
            "tiers": [s.name for s in self.sources],
            "settings": self.settings.model_dump(mode="json"),
        }
        return self.results.key(payload)

    def make(self, req: MusicRequest) -> MusicResult:
        """Same request, same file: a retried step finds its artifact instead of fetching again."""
        started = time.perf_counter()
        if not req.duration_s > 0:
            raise ValueError(f"music duration must be positive, got {req.duration_s}")
        key = self.cache_key(req)
        cached = self.results.get(key)
        if cached is not None:
            return cached.model_copy(
                update={"seconds": round(time.perf_counter() - started, 3), "notes": ["reused", *cached.notes]}
            )
        job = job_for(req)
        attempts: list[EngineAttempt] = []
        for source in self.sources:
            made = self._try(source, job, attempts)
            if made is not None:
                ref, notes = made
                result = MusicResult(
                    audio=ref,
                    tier=source.name,
                    seconds=round(time.perf_counter() - started, 3),
                    notes=[*(f"{a.engine}: {a.outcome} ({a.reason})" for a in attempts[:-1]), *notes],
                    attempts=attempts,
                )
                self.results.put(key, result)
                return result
        raise MusicSourceError(
            "no music tier produced audio: " + "; ".join(f"{a.engine}: {a.reason}" for a in attempts)
        )

    def _try(
        self, source: MusicSource, job: MusicJob, attempts: list[EngineAttempt]
    ) -> tuple[ArtifactRef, list[str]] | None:
        reason = source.unavailable_reason()
        if reason is not None:
            self._record(attempts, source.name, "skipped", reason)
            return None
        try:
            with self.store.staging_dir() as work:
                fetched = source.fetch(job, work)
                if fetched.fitted:
                    ref = self.store.put(fetched.path, kind="music")
                else:
                    with self.store.staging(".m4a") as out:
                        self.fit(fetched.path, job.duration_s, out)
                        ref = self.store.put(out, kind="music")
        except Exception as exc:
            self._record(attempts, source.name, "failed", f"{type(exc).__name__}: {exc}")
            return None
        self._record(attempts, source.name, "used", "")
        return ref, fetched.notes

    @staticmethod
    def _record(attempts: list[EngineAttempt], tier: str, outcome: str, reason: str) -> None:
        attempt = EngineAttempt(engine=tier, outcome=outcome, reason=reason[:500])  # type: ignore[arg-type]  # str tier and outcome; pydantic checks the Literals
        attempts.append(attempt)
        log.info("music tier", tier=tier, outcome=outcome, reason=attempt.reason)

    # ------------------------------------------------------------ fitting

    def fit(self, source: Path, duration_s: float, out: Path) -> float:
        """Loop or trim `source` to exactly `duration_s`, fade in and out, encode AAC; returns mean volume (dB)."""
        from sma.services.media.ffmpeg import probe

        info = probe(source)
        length = info.audio_duration_s or info.duration_s
        if length < MIN_SOURCE_S:
            raise MusicSourceError(f"source audio is {length:.2f} s long, too short to loop")
        fade_in, fade_out = fades(duration_s, self.settings.fade_in_s, self.settings.fade_out_s)
        filters = ",".join(
            [
                f"aformat=sample_rates={SAMPLE_RATE}:channel_layouts=stereo",
                f"atrim=duration={duration_s:.6f}",
                f"afade=t=in:st=0:d={fade_in:.3f}",
                f"afade=t=out:st={duration_s - fade_out:.6f}:d={fade_out:.3f}",
                "volumedetect",
            ]
        )
        loops = ["-stream_loop", "-1"] if length < duration_s + 0.05 else []
        args = [
            *loops, "-i", str(source), "-vn", "-af", filters,
            "-c:a", "aac", "-b:a", "160k", "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-t", f"{duration_s:.6f}", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        stderr = self.ffmpeg.capture(args, timeout=60 + 2 * duration_s)
        found = re.findall(r"mean_volume:\s*(-?[\d.]+|-inf) dB", stderr)
        if not found:
            raise FFmpegError("volumedetect printed no mean volume", stderr_tail=stderr[-500:])
        mean = float(found[-1]) if found[-1] != "-inf" else -math.inf
        if mean < SILENT_DB:
            raise MusicSourceError(f"the audio is silent (mean {mean:.1f} dB)")
        return mean


class Pad:
    """A looping chord progression of detuned, slowly breathing voices; everything follows the seed."""

    def __init__(self, seed: str, mood: str, duration_s: float) -> None:
        digest = hashlib.sha256(seed.encode()).digest()
        self.rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        self.mood = _mood(mood, digest[8])
        self.root_hz = 110.0 * 2 ** (int(self.rng.integers(0, 7)) / 12)  # A2 .. D#3
        self.chord_s = float(self.rng.uniform(4.0, 6.0))
        self.overlap_s = 1.6
        self.duration_s = max(0.1, duration_s)

    def chunks(self) -> Iterator[bytes]:
        """Interleaved float32 stereo, a chord at a time, so memory stays small for long videos."""
        total = math.ceil(self.duration_s * SAMPLE_RATE) + SAMPLE_RATE  # a second spare for the trim
        chord_n, overlap_n = int(self.chord_s * SAMPLE_RATE), int(self.overlap_s * SAMPLE_RATE)
        carry = np.zeros((overlap_n, 2), dtype=np.float32)
        chords = PROGRESSIONS[self.mood]
        written, index = 0, 0
        gain = np.float32(10 ** (LEVEL_DBFS / 20) / 0.55)
        while written < total:
            block = self._chord(chords[index % len(chords)], written, chord_n + overlap_n)
            block[:overlap_n] += carry
            carry = block[chord_n:].copy()
            out = block[: min(chord_n, total - written)] * gain
            yield out.astype(np.float32).tobytes()
            written += len(out)
            index += 1

    def _chord(self, notes: tuple[int, ...], offset: int, length: int) -> np.ndarray:
        n = np.arange(offset, offset + length, dtype=np.uint32)
        t = n.astype(np.float32) / np.float32(SAMPLE_RATE)
        env = _envelope(length, int(self.overlap_s * SAMPLE_RATE))
        sides = [np.zeros(length, dtype=np.float32), np.zeros(length, dtype=np.float32)]
        for i, semitone in enumerate((notes[0] - 12, *notes)):
            freq = self.root_hz * 2 ** (semitone / 12)
            level = np.float32(0.42 if i == 0 else 0.22)
            shape = env * level * (1.0 + 0.18 * np.sin(np.float32(2 * np.pi * 0.17) * t + np.float32(1.7 * i)))
            for side, cents in ((0, -5.0), (1, 5.0)):
                sides[side] += shape * _voice(n, freq * 2 ** (cents / 1200), phase=(i + side) / 7)
        return np.stack(sides, axis=1)


_TABLE_BITS = 12
_CYCLE = np.linspace(0, 2 * np.pi, 1 << _TABLE_BITS, endpoint=False)
# One cycle of a soft partial stack: warm, never buzzy after the low-pass.
_TABLE = (np.sin(_CYCLE) + 0.3 * np.sin(2 * _CYCLE) + 0.1 * np.sin(3 * _CYCLE)).astype(np.float32)


def _voice(n: np.ndarray, freq: float, phase: float) -> np.ndarray:
    """Wavetable oscillator with a 32-bit phase accumulator: uint32 arithmetic wraps once per cycle,
    so each sample costs a multiply, a shift and a table lookup instead of three sines."""
    step = np.uint32(round(freq / SAMPLE_RATE * 2**32) % 2**32)
    start = np.uint32(round(phase * 2**32) % 2**32)
    accumulator = n * step + start
    samples: np.ndarray = _TABLE[accumulator >> np.uint32(32 - _TABLE_BITS)]
    return samples


def _envelope(length: int, overlap: int) -> np.ndarray:
    """Raised-cosine in and out over `overlap` samples, whose halves sum to one across a chord change."""
    env = np.ones(length, dtype=np.float32)
    ramp = np.sin(np.linspace(0, np.pi / 2, overlap, dtype=np.float32)) ** 2
    env[:overlap] = ramp
    env[-overlap:] = ramp[::-1]
    return env


def _mood(mood: str, pick: int) -> str:
    """One of PROGRESSIONS' names for any mood text; unknown words pick one by the seed."""
    text = mood.lower().strip()
    if text in PROGRESSIONS:
        return text
    for name, words in MOOD_WORDS.items():
        if any(word in text for word in words):
            return name
    return "calm" if not text else tuple(PROGRESSIONS)[pick % len(PROGRESSIONS)]
