"""QA_TTS: cheap, deterministic checks on a voiceover before anything is built on top of it.

A bad voice track wastes every later step (captions, render, a human's review), so the gate looks at what
goes wrong with real engines: silence or truncation, a rate no one can follow, clipping, long dead air,
and (with a reverse transcription) words that were not said.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import wave
from pathlib import Path

import numpy as np

from sma.models.common import QAReport
from sma.models.language import UNSPACED, primary_language
from sma.services.qa.normalize import normalize_text

GATE = "QA_TTS"

FRAME_S = 0.01
"""Analysis frame for the energy envelope: fine enough for word gaps, coarse enough to be fast."""

SILENCE_FLOOR_DB = -50.0
"""Frames below this (dBFS) are silent whatever the level of the speech."""

SILENCE_BELOW_PEAK_DB = 35.0
"""Frames this far below the loud speech (95th percentile frame) count as silence."""

BRIDGE_S = 0.2
"""Gaps shorter than this inside speech (stops, closures) belong to the voiced span around them."""


# ---------------------------------------------------------------- reading audio


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Mono float samples in [-1, 1) and the sample rate; channels are averaged."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        width = wav.getsampwidth()
        channels = wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        samples = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        raise ValueError(f"{path}: unsupported sample width of {width} bytes")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples, rate


def wav_duration(path: Path | str) -> float:
    """Duration in seconds from the header: no samples are read."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnframes() / rate if rate else 0.0


def _full_scale_fraction(path: Path | str) -> float:
    """Fraction of samples at the integer format's extremes (clipped, or normalised with no headroom)."""
    with wave.open(str(path), "rb") as wav:
        width = wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if not raw:
        return 0.0
    if width == 1:
        ints = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 128
    elif width == 2:
        ints = np.frombuffer(raw, dtype="<i2").astype(np.int64)
    elif width == 4:
        ints = np.frombuffer(raw, dtype="<i4").astype(np.int64)
    else:
        raise ValueError(f"{path}: unsupported sample width of {width} bytes")
    top = 2 ** (8 * width - 1)
    return float(np.count_nonzero((ints >= top - 1) | (ints <= -top)) / ints.size)


# ---------------------------------------------------------------- voiced spans


def _frame_db(samples: np.ndarray, rate: int) -> np.ndarray:
    hop = max(1, round(rate * FRAME_S))
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[: count * hop].reshape(count, hop).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    level: np.ndarray = (20.0 * np.log10(rms + 1e-10)).astype(np.float32)
    return level


def _voiced_mask(samples: np.ndarray, rate: int) -> np.ndarray:
    db = _frame_db(samples, rate)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(db, 95))
    threshold = max(SILENCE_FLOOR_DB, loud - SILENCE_BELOW_PEAK_DB)
    return db > threshold


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) frame indices of each run of True."""
    if mask.size == 0:
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def voiced_spans_from_samples(samples: np.ndarray, rate: int, bridge_s: float = BRIDGE_S) -> list[tuple[float, float]]:
    """Seconds where someone is speaking: energy above a level-relative threshold, short gaps bridged."""
    spans: list[list[float]] = []
    for start, end in _runs(_voiced_mask(samples, rate)):
        s, e = start * FRAME_S, end * FRAME_S
        if spans and s - spans[-1][1] < bridge_s:
            spans[-1][1] = e
        else:
            spans.append([s, e])
    # A lone frame or two of energy is a click, not speech.
    return [(round(s, 3), round(e, 3)) for s, e in spans if e - s >= 0.05]


def voiced_spans(path: Path | str, bridge_s: float = BRIDGE_S) -> list[tuple[float, float]]:
    samples, rate = read_wav(path)
    return voiced_spans_from_samples(samples, rate, bridge_s)


# ---------------------------------------------------------------- word error rate

_SPACE_LIKE = re.compile(r"[\s\u2010-\u2015/]+")


def normalize_words(text: str) -> list[str]:
    """Lowercase words with punctuation removed, one per written word (word counts, caption alignment).

    The word error rate uses qa.normalize.normalize_text instead, which also rewrites numbers and forms.
    """
    words = []
    for token in _SPACE_LIKE.split(text.lower()):
        kept = "".join(ch for ch in token if unicodedata.category(ch)[0] in "LN")
        if kept:
            words.append(kept)
    return words


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


COMPOUND_RUN = 4
"""Most words on one side that may match a single word on the other when their letters are the same."""


def _runs_ending_at(words: list[str], run: int) -> list[list[tuple[int, str]]]:
    """For each end index e, the runs of 2..`run` words ending there, joined: [(length, letters), ...]."""
    return [[(k, "".join(words[end - k : end])) for k in range(2, min(run, end) + 1)] for end in range(len(words) + 1)]


def _compound_edit_distance(ref: list[str], hyp: list[str], run: int = COMPOUND_RUN) -> int:
    """Word edit distance where one word may match a run of 2..`run` words spelling the same letters.

    Where a word boundary falls is orthography, not speech: "GitHub" said right may come back as "git hub",
    "open source" as "opensource", "CLI" as "C L I". Only exact letter equality matches, so a run never hides
    a wrong word; every other step costs 1 as in plain edit distance.
    """
    ref_runs, hyp_runs = _runs_ending_at(ref, run), _runs_ending_at(hyp, run)
    dist = [[i + j if i == 0 or j == 0 else 0 for j in range(len(hyp) + 1)] for i in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            best = min(dist[i - 1][j] + 1, dist[i][j - 1] + 1, dist[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
            for k, joined in hyp_runs[j]:
                if joined == ref[i - 1]:
                    best = min(best, dist[i - 1][j - k])
            for k, joined in ref_runs[i]:
                if joined == hyp[j - 1]:
                    best = min(best, dist[i - k][j - 1])
            dist[i][j] = best
    return dist[-1][-1]


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """(substitutions + deletions + insertions) / reference words, on qa.normalize's words, compounds matched.

    Both sides go through sma.services.qa.normalize (numbers, contractions, symbols, spelling), so only
    differences a listener would hear count as errors.
    """
    ref, hyp = normalize_text(reference, language), normalize_text(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return _compound_edit_distance(ref, hyp) / len(ref)


# ---------------------------------------------------------------- the gate


def _longest_internal_gap(spans: list[tuple[float, float]]) -> float:
    return max((b[0] - a[1] for a, b in itertools.pairwise(spans)), default=0.0)


def check_voice(
    wav: Path | str,
    text: str,
    transcript: str | None = None,
    *,
    max_wer: float = 0.25,
    min_wpm: float = 90.0,
    max_wpm: float = 240.0,
    max_silence_s: float = 1.5,
    max_clipped: float = 0.001,
    min_rate_words: int = 5,
    language: str = "en",
    recogniser: bool = True,
) -> QAReport:
    """Gate QA_TTS on a synthesized voiceover of `text` in `language`.

    The speaking rate is taken over the voiced part only (leading and trailing silence trimmed), and only
    for texts of at least `min_rate_words` words, where a rate means something (not for languages written
    without spaces). With `recogniser` False (no speech recogniser for the language) the word error rate
    is skipped and said so in the report's notes; the signal checks still decide.
    """
    samples, rate = read_wav(wav)
    duration = len(samples) / rate if rate else 0.0
    spans = voiced_spans_from_samples(samples, rate, bridge_s=0.0)
    words = len(normalize_words(text))
    voiced = spans[-1][1] - spans[0][0] if spans else 0.0
    metrics: dict[str, float] = {
        "duration_s": round(duration, 3),
        "trimmed_s": round(voiced, 3),
        "leading_silence_s": round(spans[0][0], 3) if spans else round(duration, 3),
        "trailing_silence_s": round(duration - spans[-1][1], 3) if spans else round(duration, 3),
        "words": float(words),
        "wpm": round(words / voiced * 60.0, 1) if voiced > 0 else 0.0,
        "clipped_fraction": round(_full_scale_fraction(wav), 6),
        "peak": round(float(np.max(np.abs(samples))), 4) if samples.size else 0.0,
        "longest_silence_s": round(_longest_internal_gap(spans), 3),
    }
    reasons: list[str] = []
    notes: list[str] = []
    checks = 3
    lang = primary_language(language)
    if lang in UNSPACED:
        notes.append(f"speaking rate not checked: {language} is written without spaces between words")
    if not recogniser:
        metrics["wer_skipped"] = 1.0
        notes.append(f"WER skipped: no {language} recogniser")
    if not spans:
        reasons.append(f"no speech detected in {duration:.2f} s of audio")
    elif lang not in UNSPACED and words >= min_rate_words and not min_wpm <= metrics["wpm"] <= max_wpm:
        reasons.append(f"speaking rate {metrics['wpm']:.0f} wpm is outside {min_wpm:.0f}-{max_wpm:.0f} wpm")
    if metrics["clipped_fraction"] > max_clipped:
        reasons.append(f"clipping: {metrics['clipped_fraction']:.2%} of samples at full scale (max {max_clipped:.2%})")
    if metrics["longest_silence_s"] > max_silence_s:
        reasons.append(f"silence of {metrics['longest_silence_s']:.2f} s inside speech (max {max_silence_s} s)")
    if transcript is not None:
        checks += 1
        wer = word_error_rate(text, transcript, language)
        metrics["wer"] = round(wer, 4)
        if wer > max_wer:
            reasons.append(f"reverse transcription word error rate {wer:.3f} above {max_wer:.3f}")
    report = QAReport.from_checks(GATE, checks, reasons, metrics)
    report.notes = notes
    return report
