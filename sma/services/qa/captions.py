"""QA_CAPTIONS: the captions cover the voiced audio, line up with it, stay readable and fit the safe zone."""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sma.models.common import QAReport, Word
from sma.services.captions.align import MIN_WORD_S
from sma.services.captions.ass import paginate
from sma.services.captions.fonts import font_missing

GATE = "QA_CAPTIONS"
ACTIVE_SCALE = 1.10
SAFE_WIDTH = 0.80
"""Share of the frame width captions may use: Reels/TikTok buttons cover the right ~15%."""


@lru_cache(maxsize=8)
def _font(font_file: str) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(font_file, 100)


def line_width_px(text: str, font_file: Path | str | None, font_size: int) -> float:
    """Rendered width estimate: libass sizes a font so ascent + descent equals the ASS font size."""
    if font_file and Path(font_file).is_file():
        font = _font(str(font_file))
        ascent, descent = font.getmetrics()
        width: float = float(font.getlength(text)) * font_size / (ascent + descent)
        return width
    return len(text) * font_size * 0.55


def _mask(spans: list[tuple[float, float]], frames: int, step: float) -> np.ndarray:
    mask = np.zeros(frames, dtype=bool)
    for s, e in spans:
        mask[max(0, round(s / step)) : max(0, round(e / step))] = True
    return mask


def _caption_spans(words: list[Word], join_s: float) -> list[tuple[float, float]]:
    """Each word's span, extended to the next word's start when the gap is short (as the ASS shows it)."""
    spans = []
    for i, w in enumerate(words):
        gap = words[i + 1].start - w.end if i + 1 < len(words) else join_s
        spans.append((w.start, w.end + gap if 0 < gap <= join_s else w.end))
    return spans


def _best_offset(caption: np.ndarray, voiced: np.ndarray, step: float, max_lag_s: float = 1.0) -> float:
    """Shift (s) that best lines the captions up with the voice; positive = captions run late."""
    lags = range(-round(max_lag_s / step), round(max_lag_s / step) + 1)
    n = len(voiced)
    scores = []
    for lag in lags:
        # caption shifted earlier by `lag` frames, compared with the voice
        if lag >= 0:
            overlap = np.count_nonzero(caption[lag:n] & voiced[: n - lag])
        else:
            overlap = np.count_nonzero(caption[: n + lag] & voiced[-lag:])
        scores.append(overlap)
    best = max(scores)
    candidates = [lag for lag, score in zip(lags, scores, strict=True) if score >= best - 1]
    return min(candidates, key=abs) * step


def check_captions(
    words: list[Word],
    voiced: list[tuple[float, float]] | float,
    *,
    font_file: Path | str | None,
    min_coverage: float = 0.95,
    max_line_chars: int = 22,
    max_lines: int = 2,
    font_size: int = 68,
    safe_width_px: float = 1080 * SAFE_WIDTH,
    min_word_s: float = MIN_WORD_S,
    join_s: float = 0.3,
    max_offset_s: float = 0.25,
    matched_fraction: float | None = None,
    min_matched: float = 0.6,
    text: str | None = None,
    max_words: int = 0,
    active_scale: float = ACTIVE_SCALE,
) -> QAReport:
    """Gate QA_CAPTIONS. `voiced` is the list of voiced spans, or just the audio duration.

    With `text`, the font must also have a glyph for every character of it (no boxes on screen)."""
    spans = [(0.0, float(voiced))] if isinstance(voiced, int | float) else [(float(a), float(b)) for a, b in voiced]
    reasons: list[str] = []
    metrics: dict[str, float] = {"words": float(len(words))}
    checks = 6

    step = 0.01
    horizon = max([0.0, *(e for _, e in spans), *(w.end + join_s for w in words)]) + 1.0
    frames = round(horizon / step)
    voiced_mask = _mask(spans, frames, step)
    caption_mask = _mask(_caption_spans(words, join_s), frames, step)
    voiced_frames = int(np.count_nonzero(voiced_mask))
    coverage = np.count_nonzero(voiced_mask & caption_mask) / voiced_frames if voiced_frames else float(not words)
    metrics["voiced_s"] = round(voiced_frames * step, 3)
    metrics["coverage"] = round(float(coverage), 4)
    if coverage < min_coverage:
        reasons.append(f"captions cover {coverage:.1%} of the voiced audio (min {min_coverage:.0%})")

    offset = _best_offset(caption_mask, voiced_mask, step) if voiced_frames and words else 0.0
    metrics["offset_s"] = round(offset, 3)
    if abs(offset) > max_offset_s:
        late = "late" if offset > 0 else "early"
        reasons.append(f"captions run {abs(offset):.2f} s {late} against the voice (max {max_offset_s} s)")

    disorder = sum(1 for a, b in itertools.pairwise(words) if b.start < a.end - 1e-6)
    disorder += sum(1 for w in words if w.end < w.start)
    metrics["overlaps"] = float(disorder)
    if disorder:
        reasons.append(f"{disorder} word(s) overlap or run backwards")

    shortest = min((w.end - w.start for w in words), default=0.0)
    too_short = sum(1 for w in words if w.end - w.start < min_word_s - 1e-6)
    metrics["shortest_word_s"] = round(shortest, 3)
    if too_short:
        reasons.append(
            f"{too_short} word(s) shorter than {min_word_s * 1000:.0f} ms (shortest {shortest * 1000:.0f} ms)"
        )

    lines = [
        " ".join(words[i].text for i in line)
        for page in paginate(words, max_line_chars, max_lines, max_words=max_words)
        for line in page
    ]
    longest = max(lines, key=len, default="")
    longest_px = max((line_width_px(t, font_file, font_size) for t in lines), default=0.0)
    # The active word is drawn 10% larger; budget for it on the widest line.
    longest_px += (active_scale - 1.0) * max((line_width_px(w.text, font_file, font_size) for w in words), default=0.0)
    metrics["longest_line_chars"] = float(len(longest))
    metrics["longest_line_px"] = round(longest_px, 1)
    if len(longest) > max_line_chars and longest_px > safe_width_px:
        reasons.append(f"line {longest!r} is {longest_px:.0f} px, wider than the {safe_width_px:.0f} px safe zone")

    font_ok = bool(font_file) and Path(str(font_file)).is_file()
    metrics["font_present"] = float(font_ok)
    if not font_ok:
        reasons.append(f"caption font file not found: {font_file}")
    elif text is not None:
        missing = font_missing(text, Path(str(font_file)))
        metrics["font_missing_chars"] = float(len(missing))
        if missing:
            reasons.append(f"caption font {Path(str(font_file)).name} has no glyph for {missing[:20]!r}: install "
                           "fonts-noto-core / fonts-noto-cjk or set media.font_file")

    if matched_fraction is not None:
        checks += 1
        metrics["matched_fraction"] = round(matched_fraction, 4)
        if matched_fraction < min_matched:
            reasons.append(
                f"only {matched_fraction:.0%} of script words were heard in the audio (min {min_matched:.0%})"
            )
    return QAReport.from_checks(GATE, checks, reasons, metrics)
