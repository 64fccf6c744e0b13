"""The storyboard: which visual is on screen when, so a new one arrives every few seconds.

Why: short videos that hold attention change the picture every 2-3 s and open with the hook in big words.
Beats last 4-8 s when spoken, so one card per beat is not enough; a beat longer than `change_every_s` is
split into shots at word boundaries, its main visual (code, diagram, picture, statistic, quote) first and
then cards of its own key words, timed by the spoken words. The hook is whatever is said before the first
beat (the images request carries the beats, the spoken words carry the hook), and what is said after the
last beat (the call to action) gets a card too.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from sma.models.common import Word
from sma.models.pipeline import Beat, Visual

MIN_SHOT_S = 1.2  # shorter pieces are merged into their neighbour: a card needs time to be read
KEYWORDS_PER_CARD = 5
MAIN_VISUALS = ("code", "diagram", "image")  # need reading time: they keep the rest of their beat
_STOP = frozenset(
    " ".join(
        (
            "a an the and or but if of to in on at by for with from into onto is are was were be been being it its",
            "this that these those there here as so than then too very just also not no do does did done can could",
            "will would should may might must have has had you your yours we our us they their them i me my he she",
            "his her what which who whom when where why how all any each every some more most much many one ones",
            "about over under again out up down off only own same such get got make makes",
        )
    ).split(" ")
)
TITLE_MAX_WORDS = 9  # a longer hook shows its key words on the title card


@dataclass(frozen=True)
class Shot:
    """One visual on screen from `start` to `end` (seconds)."""

    kind: str  # title | text | stat | quote | code | diagram | image
    start: float
    end: float
    beat: int  # index of the beat, -1 for the hook and the call to action
    text: str = ""  # title/text: the words shown
    visual: Visual | None = None  # the beat's visual for stat/quote/code/diagram/image


def storyboard(
    beats: list[Beat], spans: list[tuple[float, float]], words: list[Word], duration_s: float,
    change_every_s: float = 2.6,
) -> list[Shot]:  # fmt: skip
    """Gapless shots from 0 to the end of the speech: title, each beat's shots, then the call to action."""
    shots: list[Shot] = []
    speech_end = words[-1].end if words else duration_s
    first = spans[0][0] if spans else speech_end
    hook_words = [w for w in words if w.end <= first + 0.05]
    if hook_words:
        shots += _hook_shots(hook_words, max(first, MIN_SHOT_S), change_every_s)
    for i, (beat, (start, end)) in enumerate(zip(beats, spans, strict=True)):
        begin = max(start, shots[-1].end) if shots else start
        stop = spans[i + 1][0] if i + 1 < len(spans) else max(end, begin + MIN_SHOT_S)
        if stop - begin < 0.2:
            continue
        shots += _beat_shots(i, beat, begin, stop, words, change_every_s)
    tail_start = shots[-1].end if shots else 0.0
    tail = [w.text for w in words if w.start >= tail_start - 0.05]
    if tail and speech_end - tail_start >= MIN_SHOT_S:
        shots.append(Shot("text", tail_start, speech_end, -1, text=key_words(" ".join(tail))))
    return shots


def _hook_shots(words: list[Word], end: float, change_every_s: float) -> list[Shot]:
    """The title card from t=0 (the whole hook, or its key words when long); a long hook goes on with a
    card of its remaining key words."""
    hook = " ".join(w.text for w in words)
    title = hook if len(words) <= TITLE_MAX_WORDS else key_words(hook, limit=TITLE_MAX_WORDS - 2)
    if end <= change_every_s * 1.5:
        return [Shot("title", 0.0, end, -1, text=title)]
    cut = _cut_at_word(change_every_s * 1.15, 0.0, end, words)
    rest = " ".join(w.text for w in words if w.start >= cut - 0.05)
    return [Shot("title", 0.0, cut, -1, text=title), Shot("text", cut, end, -1, text=key_words(rest))]


def _beat_shots(
    index: int, beat: Beat, start: float, end: float, words: list[Word], change_every_s: float
) -> list[Shot]:
    visual = beat.visual
    kind = _main_kind(visual)
    count = max(1, math.ceil((end - start) / (change_every_s * 1.15)))
    if kind in MAIN_VISUALS:  # a keyword card first when the beat is long, then the visual for the rest
        if count < 2:
            return [Shot(kind, start, end, index, visual=visual)]
        cut = _cut_at_word(start + change_every_s, start, end, words)
        lead = _words_between(words, start, cut) or beat.narration
        return [Shot("text", start, cut, index, text=key_words(lead)), Shot(kind, cut, end, index, visual=visual)]
    bounds = [start]
    for k in range(1, count):
        bounds.append(_cut_at_word(start + (end - start) * k / count, bounds[-1], end, words))
    bounds.append(end)
    pieces = [(a, b) for a, b in itertools.pairwise(bounds) if b - a >= MIN_SHOT_S * 0.5]
    shots: list[Shot] = []
    for k, (a, b) in enumerate(pieces):
        if k == 0 and kind in ("stat", "quote", "title"):
            shots.append(Shot(kind, a, b, index, text=visual.headline, visual=visual))
            continue
        spoken = _words_between(words, a, b) or _share(beat.narration, k, len(pieces))
        text = visual.headline if k == 0 and visual.headline.strip() else key_words(spoken)
        shots.append(Shot("text", a, b, index, text=text))
    return shots or [Shot("text", start, end, index, text=key_words(beat.narration))]


def _main_kind(visual: Visual) -> str:
    if visual.kind == "code" and visual.code.strip():
        return "code"
    if visual.kind == "diagram" and visual.diagram.strip():
        return "diagram"
    if visual.kind == "image" and visual.image_prompt.strip():
        return "image"
    if visual.kind == "stat" and visual.stat_value.strip():
        return "stat"
    if visual.kind == "quote" and visual.quote.strip():
        return "quote"
    if visual.kind == "title" and visual.headline.strip():
        return "title"
    return "text"


def _cut_at_word(target: float, low: float, high: float, words: list[Word]) -> float:
    """The word start nearest `target` that leaves both sides at least MIN_SHOT_S; else `target` itself."""
    starts = [w.start for w in words if low + MIN_SHOT_S <= w.start <= high - MIN_SHOT_S]
    if not starts:
        return min(max(target, low + MIN_SHOT_S * 0.5), high - MIN_SHOT_S * 0.5)
    return min(starts, key=lambda s: abs(s - target))


def _words_between(words: list[Word], start: float, end: float) -> str:
    return " ".join(w.text for w in words if start - 0.05 <= w.start < end - 0.05)


def _share(text: str, k: int, n: int) -> str:
    tokens = text.split()
    size = max(1, math.ceil(len(tokens) / n))
    return " ".join(tokens[k * size : (k + 1) * size])


def key_words(text: str, limit: int = KEYWORDS_PER_CARD) -> str:
    """The densest run of at most `limit` spoken words, punctuation trimmed and without function words at
    its edges: "A durable workflow engine remembers every finished step" -> "durable workflow engine
    remembers". A contiguous phrase reads as language; picked single words read as a word cloud."""
    tokens = [t for t in (re.sub(r"^[^\w$%#@]+|[^\w%]+$", "", t) for t in text.split()) if t]
    if len(tokens) <= limit:  # short enough to show whole
        return " ".join(tokens)
    best: list[str] = tokens[:limit]
    best_score = -1
    for i in range(len(tokens) - limit + 1):
        window = _trim(tokens[i : i + limit])
        score = sum(1 for t in window if _content(t))
        if score > best_score:
            best, best_score = window, score
    return " ".join(best or tokens[:limit])


def _content(token: str) -> bool:
    return token.lower() not in _STOP and (len(token) > 2 or any(ch.isdigit() for ch in token))


def _trim(tokens: list[str]) -> list[str]:
    """Without function words at either end ("of a long job" -> "long job")."""
    start, end = 0, len(tokens)
    while start < end and not _content(tokens[start]):
        start += 1
    while end > start and not _content(tokens[end - 1]):
        end -= 1
    return tokens[start:end]
