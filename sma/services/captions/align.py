"""Whisper supplies timing, the script supplies spelling: the script's words aligned onto what was heard,
then snapped to the voiced spans so no highlight starts in a pause."""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

from sma.models.common import Word
from sma.services.qa.audio import normalize_words

MIN_WORD_S = 0.06
"""Shorter than this a highlight is a flicker nobody can read."""


def _key(token: str) -> str:
    return "".join(normalize_words(token))


def tokenize_script(text: str) -> list[str]:
    """Display words: whitespace-separated, punctuation kept; a bare dash or symbol joins a neighbour word."""
    tokens: list[str] = []
    prefix = ""
    for raw in text.split():
        if _key(raw):
            tokens.append(f"{prefix}{raw}")
            prefix = ""
        elif tokens:
            tokens[-1] = f"{tokens[-1]} {raw}"
        else:
            prefix = f"{prefix}{raw} "
    return tokens


@dataclass
class Alignment:
    words: list[Word]
    matched: int
    """Script words that took their timing from a recognized word with the same spelling."""


def _anchor(script: list[str], heard: list[Word]) -> tuple[list[tuple[float, float, float] | None], int]:
    """Timing per script word from the recognized words it matches; None where nothing was heard."""
    times: list[tuple[float, float, float] | None] = [None] * len(script)
    matcher = difflib.SequenceMatcher(None, [_key(t) for t in script], [_key(w.text) for w in heard], autojunk=False)
    matched = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                w = heard[j1 + k]
                times[i1 + k] = (w.start, w.end, w.probability)
            matched += i2 - i1
        elif op == "replace":
            span = heard[j1:j2]
            prob = min(w.probability for w in span)
            if i2 - i1 == j2 - j1:
                for k, w in enumerate(span):
                    times[i1 + k] = (w.start, w.end, prob)
            else:
                for k, (s, e) in enumerate(_split(span[0].start, span[-1].end, i2 - i1)):
                    times[i1 + k] = (s, e, prob)
    return times, matched


def _split(start: float, end: float, count: int) -> list[tuple[float, float]]:
    step = max(0.0, end - start) / count
    return [(start + k * step, start + (k + 1) * step) for k in range(count)]


def _fill_gaps(times: list[tuple[float, float, float] | None], limit: float) -> list[list[float]]:
    """Interpolate unheard words between their neighbours, borrowing the neighbours' time if squeezed."""
    out: list[list[float] | None] = [list(t) if t else None for t in times]
    i = 0
    while i < len(out):
        if out[i] is not None:
            i += 1
            continue
        j = i
        while j < len(out) and out[j] is None:
            j += 1
        prev, nxt = (i - 1 if i > 0 else None), (j if j < len(out) else None)
        before = out[prev] if prev is not None else None  # heard or already filled: never None
        after = out[nxt] if nxt is not None else None
        lo = before[1] if before is not None else 0.0
        hi = after[0] if after is not None else max(limit, lo)
        first, last = i, j
        if hi - lo < MIN_WORD_S * (j - i):
            # Whisper merged the missing words into a neighbour: share the neighbours' time with them.
            if prev is not None and before is not None:
                first, lo = prev, before[0]
            if nxt is not None and after is not None:
                last, hi = nxt + 1, after[1]
        for k, (s, e) in zip(range(first, last), _split(lo, hi, last - first), strict=True):
            # Neighbours keep their confidence; interpolated words get 0 (timing guessed, not heard).
            heard = out[k]
            out[k] = [s, e, heard[2] if heard is not None else 0.0]
        i = j
    return [t for t in out if t is not None]


def _enforce_timing(spans: list[list[float]], limit: float) -> None:
    """Monotonic, non-overlapping, each at least MIN_WORD_S where the audio leaves room (in place)."""
    prev_end = 0.0
    for span in spans:
        span[0] = max(span[0], prev_end)
        span[1] = max(span[1], span[0] + MIN_WORD_S)
        prev_end = span[1]
    if spans and spans[-1][1] > limit:
        ceiling = limit
        for span in reversed(spans):
            span[1] = min(span[1], ceiling)
            span[0] = max(0.0, min(span[0], span[1] - MIN_WORD_S))
            span[1] = max(span[1], span[0])
            ceiling = span[0]


def align(script_text: str, recognized: list[Word], duration: float | None = None) -> Alignment:
    script = tokenize_script(script_text)
    heard = [w for w in recognized if _key(w.text)]
    if not script:
        return Alignment(words=[], matched=0)
    limit = max([duration or 0.0, *(w.end for w in heard)])
    times, matched = _anchor(script, heard)
    spans = _fill_gaps(times, limit)
    _enforce_timing(spans, limit)
    words = [
        Word(text=t, start=round(s, 3), end=round(e, 3), probability=round(p, 4))
        for t, (s, e, p) in zip(script, spans, strict=True)
    ]
    return Alignment(words=words, matched=matched)


def align_to_script(script_text: str, recognized: list[Word], duration: float | None = None) -> list[Word]:
    """Script words in script spelling with recognized timing; unheard ones interpolated (probability 0)."""
    return align(script_text, recognized, duration).words


def _silences(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(a[1], b[0]) for a, b in itertools.pairwise(spans) if b[0] > a[1]]


def snap_to_voice(words: list[Word], voiced: list[tuple[float, float]]) -> list[Word]:
    """Move word boundaries onto the pauses the audio actually has.

    Whisper (tiny especially) starts the first word after a pause late and squeezes it, and leaves gaps in
    continuous speech; the highlight then lags the voice. Each gap between two words is closed: across
    a pause the words end at the pause and resume at the voice onset, inside speech the next word starts
    where the previous one ended. A word that swallowed a whole pause keeps only its more voiced side.
    Boundaries only move inside the gap or word they belong to, so order is preserved.
    """
    pauses = _silences(voiced)
    spans = [[w.start, w.end] for w in words]
    for span in spans:
        inside = [(a, b) for a, b in pauses if span[0] < a and b < span[1]]
        if inside:
            a, b = inside[0][0], inside[-1][1]
            if _voiced_between(voiced, span[0], a) >= _voiced_between(voiced, b, span[1]):
                span[1] = a
            else:
                span[0] = b
    for prev, nxt in itertools.pairwise(spans):
        if nxt[0] <= prev[1]:
            continue
        between = [(a, b) for a, b in pauses if a < nxt[0] and b > prev[1]]
        if between:
            prev[1] = max(prev[1], min(between[0][0], nxt[0]))
            nxt[0] = min(nxt[0], max(between[-1][1], prev[1]))
        else:
            nxt[0] = prev[1]
    _enforce_timing(spans, max([0.0, *(e for _, e in voiced), *(w.end for w in words)]))
    return [
        w.model_copy(update={"start": round(s, 3), "end": round(e, 3)}) for w, (s, e) in zip(words, spans, strict=True)
    ]


def _voiced_between(voiced: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in voiced)
