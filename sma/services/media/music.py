"""Procedural ambient pad: the music tier that always works, offline, in well under a second a minute.

Why numpy plus one ffmpeg pass: summing a few dozen sine partials is a handful of vectorised operations,
while ffmpeg's `aevalsrc` would evaluate an expression per sample. ffmpeg then does what it is good at
(low-pass, echo as a cheap reverb, fades, exact trim, AAC) in the same process that encodes.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sma.models.pipeline import MusicRequest, MusicResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.ffmpeg import FFmpeg

SAMPLE_RATE = 48_000
VERSION = "1"
FADE_IN_S = 1.5
FADE_OUT_S = 2.0
LEVEL_DBFS = -14.0  # RMS of the dry pad; the renderer measures and sets the final level anyway

# Chords as semitone offsets from the key's root; each progression loops for the length of the video.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "calm": ((0, 4, 7, 11), (-3, 0, 4, 7), (-7, -3, 0, 4), (-5, -1, 2, 7)),
    "upbeat": ((0, 4, 7, 12), (5, 9, 12, 16), (-3, 0, 4, 9), (7, 11, 14, 19)),
    "dramatic": ((0, 3, 7, 10), (-4, 0, 3, 8), (3, 7, 10, 15), (-2, 2, 5, 10)),
    "mysterious": ((0, 3, 7, 14), (5, 8, 12, 15), (-4, 0, 3, 7), (7, 10, 14, 17)),
}
MOOD_WORDS = {
    "upbeat": ("upbeat", "happy", "energetic", "fun", "excited", "bright", "positive"),
    "dramatic": ("dramatic", "tense", "serious", "urgent", "dark", "epic", "intense"),
    "mysterious": ("mysterious", "curious", "mystery", "weird", "strange", "suspense"),
}


class MusicService:
    def __init__(self, store: ArtifactStore, ffmpeg: FFmpeg) -> None:
        self.store = store
        self.ffmpeg = ffmpeg

    def make(self, req: MusicRequest) -> MusicResult:
        """Same request, same file: a retried step finds its artifact instead of synthesising again."""
        started = time.perf_counter()
        key = input_key("music", req, version=VERSION)
        ref = self.store.lookup(key)
        notes = ["reused"] if ref else []
        if ref is None:
            pad = Pad(f"{req.project_id}:{req.run_id}:{req.mood}", req.mood, req.duration_s)
            with self.store.staging(".m4a") as path:
                self._encode(pad, req.duration_s, path)
                ref = self.store.put(path, kind="music", key=key)
            notes.append(f"mood={pad.mood} root={pad.root_hz:.1f}Hz")
        return MusicResult(audio=ref, tier="procedural", seconds=round(time.perf_counter() - started, 3),
                           notes=notes)

    def _encode(self, pad: Pad, duration_s: float, path: Path) -> None:
        fade_out_at = max(0.0, duration_s - FADE_OUT_S)
        filters = ",".join([
            "lowpass=f=2200:poles=2",
            "aecho=0.8:0.5:97|163|241:0.32|0.22|0.14",
            f"afade=t=in:st=0:d={FADE_IN_S}",
            f"afade=t=out:st={fade_out_at:.3f}:d={FADE_OUT_S}",
            f"atrim=duration={duration_s:.6f}",
        ])
        args = [
            "-loglevel", "error",
            "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", "pipe:0",
            "-af", filters, "-c:a", "aac", "-b:a", "160k", "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-t", f"{duration_s:.6f}", "-movflags", "+faststart", str(path),
        ]  # fmt: skip
        self.ffmpeg.run(args, feed=pad.chunks())


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
    return _TABLE[accumulator >> np.uint32(32 - _TABLE_BITS)]


def _envelope(length: int, overlap: int) -> np.ndarray:
    """Raised-cosine in and out over `overlap` samples, whose halves sum to one across a chord change."""
    env = np.ones(length, dtype=np.float32)
    ramp = np.sin(np.linspace(0, np.pi / 2, overlap, dtype=np.float32)) ** 2
    env[:overlap] = ramp
    env[-overlap:] = ramp[::-1]
    return env


def _mood(mood: str, pick: int) -> str:
    text = mood.lower()
    for name, words in MOOD_WORDS.items():
        if any(word in text for word in words):
            return name
    return "calm" if not text else tuple(PROGRESSIONS)[pick % len(PROGRESSIONS)]
