"""Caption timing without a recogniser: the script's words spread over the voice.

For a language no installed Whisper model hears, the timing comes from what is known for sure: the
words (the script) and when someone is speaking (silence detection on the take). Each word gets a share
of the voiced time proportional to its length. When the voice pauses exactly as often as the script has
phrase breaks (commas, sentence ends), as TTS voices do, each phrase is pinned to its own voiced span, so
the drift of the length estimate never crosses a pause.
"""

from __future__ import annotations

import unicodedata

from sma.models.common import Word

TIER = "script-aligned timings"
_BREAKS = (",", ".", "!", "?", ";", ":", "\u2026", "\uff0c", "\u3002", "\uff01", "\uff1f", "\u3001")


def word_weight(token: str) -> float:
    """Spoken length estimate: letters and digits, plus one for the gap between words."""
    return 1.0 + sum(1 for ch in token if unicodedata.category(ch)[0] in "LN")


def _phrases(tokens: list[str]) -> list[list[int]]:
    phrases: list[list[int]] = [[]]
    for i, token in enumerate(tokens):
        phrases[-1].append(i)
        if token.rstrip("\"')]\u00bb\u201d\u2019").endswith(_BREAKS) and i + 1 < len(tokens):
            phrases.append([])
    return [p for p in phrases if p]


def _spread(indices: list[int], weights: list[float], start: float, end: float) -> dict[int, tuple[float, float]]:
    total = sum(weights[i] for i in indices) or 1.0
    out: dict[int, tuple[float, float]] = {}
    t = start
    for i in indices:
        step = (end - start) * weights[i] / total
        out[i] = (t, t + step)
        t += step
    return out


def _on_axis(spans: list[tuple[float, float]], offset: float) -> float:
    """The time `offset` seconds into the voiced audio (pauses skipped)."""
    for a, b in spans:
        if offset < b - a:
            return a + offset
        offset -= b - a
    return spans[-1][1]


def _one_side(spans: list[tuple[float, float]], start: float, end: float) -> tuple[float, float]:
    """A word that would straddle a pause keeps only its more voiced side: nobody speaks across silence."""
    first = next((k for k, (a, b) in enumerate(spans) if a <= start < b), None)
    if first is None or end <= spans[first][1]:
        return start, end
    last = next((k for k in range(len(spans) - 1, first, -1) if spans[k][0] < end), first)
    before, after = spans[first][1] - start, end - spans[last][0]
    return (start, spans[first][1]) if before >= after else (spans[last][0], end)


def script_timings(tokens: list[str], voiced: list[tuple[float, float]], duration: float) -> list[Word]:
    """One Word per script token, timed inside the voiced spans; probability 0 (timing estimated, not heard)."""
    if not tokens:
        return []
    spans = [(float(a), float(b)) for a, b in voiced if b > a] or [(0.0, max(duration, 0.01))]
    weights = [word_weight(t) for t in tokens]
    phrases = _phrases(tokens)
    times: dict[int, tuple[float, float]] = {}
    if len(phrases) == len(spans) > 1:
        for phrase, (a, b) in zip(phrases, spans, strict=True):
            times.update(_spread(phrase, weights, a, b))
    else:
        voiced_s = sum(b - a for a, b in spans)
        total = sum(weights)
        elapsed = 0.0
        for i, weight in enumerate(weights):
            start = _on_axis(spans, voiced_s * elapsed / total)
            elapsed += weight
            times[i] = _one_side(spans, start, _on_axis(spans, voiced_s * elapsed / total))
    return [Word(text=t, start=round(times[i][0], 3), end=round(times[i][1], 3), probability=0.0)
            for i, t in enumerate(tokens)]
