"""Step 8: code cards, diagrams and generated pictures, timed to the beat that talks about them and
placed by the layout engine (never over captions or a platform's buttons).

Why Pillow and not Pygments' ImageFormatter for code: we want an editor look (title bar, dots, rounded
card, shadow) and a font size that fits the card to the overlay region, which the formatter cannot do.
Diagrams come from the Mermaid CLI (diagrams.py), pictures from the generation chain (imagegen.py).
"""

from __future__ import annotations

import difflib
import hashlib
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pygments import lex
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.styles import get_style_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

import sma
from sma.models.common import ArtifactRef, Word
from sma.models.pipeline import Beat, ImagesRequest, ImagesResult, Overlay, Visual
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.media.cards import (
    STAT_FRAME_S,
    TEXT_VARIANTS,
    font_note,
    intro_room,
    quote_card,
    stat_sheet,
    text_card,
    title_card,
)
from sma.services.media.diagrams import DiagramError, DiagramRenderer, Theme, background_luma, panel, theme_for
from sma.services.media.imagegen import ImageGenChain, build_chain
from sma.services.media.layout import Layout
from sma.services.media.look import layout_for_look
from sma.services.media.render import SLIDE_PX
from sma.services.media.storyboard import Shot, key_words, storyboard
from sma.settings import BrandKit, MediaSettings

FONTS = Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"
MONO_FONT = FONTS / "DejaVuSansMono.ttf"
UI_FONT = FONTS / "DejaVuSans-Bold.ttf"

MIN_OVERLAY_S = 1.5
VERSION = "3"

BG = (39, 40, 34)  # Monokai background
TITLE_BG = (30, 31, 28)
GUTTER_FG = (117, 113, 94)
DOTS = ((255, 95, 86), (255, 189, 46), (39, 201, 63))
EXTENSIONS = {
    "python": "py", "javascript": "js", "typescript": "ts", "go": "go", "rust": "rs", "java": "java",
    "c": "c", "cpp": "cpp", "c++": "cpp", "csharp": "cs", "ruby": "rb", "bash": "sh", "shell": "sh",
    "sql": "sql", "html": "html", "css": "css", "json": "json", "yaml": "yaml", "kotlin": "kt",
    "swift": "swift", "php": "php",
}  # fmt: skip


# ---------------------------------------------------------------- drawing


@dataclass(frozen=True)
class _Layout:
    size: int
    char_w: float
    line_h: int
    gutter: int
    pad: int
    title_h: int
    shadow: int


def render_code_image(
    code: str, language: str, width: int = 960, max_height: int = 900, shadow: bool = True
) -> Image.Image:
    """An editor-style card of `code`, exactly `width` wide and at most `max_height` tall (RGBA)."""
    lines = code.expandtabs(4).strip("\n").splitlines() or [""]
    layout = _fit(lines, width, max_height, shadow)
    shown = _visible_lines(lines, layout, width, max_height)
    height = _card_height(len(shown), layout) + 2 * layout.shadow
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    s = layout.shadow
    card = (s, s, width - s - 1, height - s - 1)
    if shadow:
        _draw_shadow(image, card, s)
    draw = ImageDraw.Draw(image)
    radius = max(10, layout.title_h // 3)
    draw.rounded_rectangle(card, radius=radius, fill=(*BG, 255))
    _draw_title(draw, card, layout, radius, _file_name(language))
    _draw_code(draw, shown, language, card, layout)
    return image


def _fit(lines: list[str], width: int, max_height: int, shadow: bool) -> _Layout:
    """The largest font size whose longest line and whole height fit; never below a readable floor."""
    longest = max(len(line) for line in lines)
    digits = len(str(len(lines)))
    for size in range(44, 15, -1):
        layout = _layout(size, digits, shadow, width)
        text_w = layout.gutter + layout.char_w * longest + 2 * layout.pad + 2 * layout.shadow
        if text_w <= width and _card_height(len(lines), layout) + 2 * layout.shadow <= max_height:
            return layout
    return _layout(16, digits, shadow, width)


def _layout(size: int, digits: int, shadow: bool, width: int) -> _Layout:
    char_w = _mono(size).getlength("M")
    pad = max(16, size)
    return _Layout(
        size=size, char_w=char_w, line_h=round(size * 1.45), gutter=round(char_w * (digits + 2)),
        pad=pad, title_h=max(44, round(size * 1.9)), shadow=max(8, width // 48) if shadow else 0,
    )  # fmt: skip


def _card_height(n_lines: int, layout: _Layout) -> int:
    return layout.title_h + 2 * layout.pad + n_lines * layout.line_h


def _visible_lines(lines: list[str], layout: _Layout, width: int, max_height: int) -> list[str]:
    """Lines that fit at the chosen size; an ellipsis marks anything cut off."""
    room = (max_height - 2 * layout.shadow - layout.title_h - 2 * layout.pad) // layout.line_h
    limit = int((width - layout.gutter - 2 * layout.pad - 2 * layout.shadow) // layout.char_w)
    lines = [line if len(line) <= limit else line[: limit - 1] + "…" for line in lines]
    if len(lines) <= room:
        return lines
    return [*lines[: max(1, room - 1)], "…"]


def _draw_shadow(image: Image.Image, card: tuple[int, int, int, int], spread: int) -> None:
    mask = Image.new("L", image.size, 0)
    x0, y0, x1, y1 = card
    ImageDraw.Draw(mask).rounded_rectangle((x0, y0 + spread // 2, x1, y1 + spread // 2), radius=spread, fill=150)
    blurred = mask.filter(ImageFilter.GaussianBlur(spread / 2))
    image.paste(Image.new("RGBA", image.size, (0, 0, 0, 255)), (0, 0), blurred)


def _draw_title(
    draw: ImageDraw.ImageDraw, card: tuple[int, int, int, int], layout: _Layout, radius: int, name: str
) -> None:
    x0, y0, x1, _ = card
    h = layout.title_h
    draw.rounded_rectangle(
        (x0, y0, x1, y0 + h), radius=radius, fill=(*TITLE_BG, 255), corners=(True, True, False, False)
    )
    r = max(6, h // 7)
    for i, colour in enumerate(DOTS):
        cx = x0 + layout.pad + r + i * (3 * r)
        draw.ellipse((cx - r, y0 + h // 2 - r, cx + r, y0 + h // 2 + r), fill=(*colour, 255))
    font = ImageFont.truetype(str(UI_FONT), max(14, int(h * 0.38)))
    draw.text(((x0 + x1) // 2, y0 + h // 2), name, font=font, fill=(200, 200, 190, 255), anchor="mm")


def _draw_code(
    draw: ImageDraw.ImageDraw, lines: list[str], language: str, card: tuple[int, int, int, int], layout: _Layout
) -> None:
    font = _mono(layout.size)
    style = get_style_by_name("monokai")
    left = card[0] + layout.pad
    top = card[1] + layout.title_h + layout.pad
    for row, tokens in enumerate(_token_lines("\n".join(lines), language)):
        y = top + row * layout.line_h
        draw.text(
            (left + layout.gutter - layout.char_w * 1.5, y),
            str(row + 1),
            font=font,
            fill=(*GUTTER_FG, 255),
            anchor="ra",
        )
        x: float = left + layout.gutter
        for ttype, text in tokens:
            colour = _colour(style, ttype)
            draw.text((x, y), text, font=font, fill=colour)
            x += layout.char_w * len(text)


def _token_lines(code: str, language: str) -> list[list[tuple[object, str]]]:
    """Pygments tokens split at newlines, so each row is drawn on its own."""
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False, ensurenl=False)
    rows: list[list[tuple[object, str]]] = [[]]
    for ttype, value in lex(code, lexer):
        parts = value.split("\n")
        for i, part in enumerate(parts):
            if i:
                rows.append([])
            if part:
                rows[-1].append((ttype, part))
    return rows


def _colour(style: Any, ttype: Any) -> tuple[int, int, int, int]:
    if ttype in Token.Error:
        ttype = Token.Text
    while ttype is not Token and not style.style_for_token(ttype)["color"]:
        ttype = ttype.parent
    value = style.style_for_token(ttype)["color"] or "f8f8f2"
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255


@lru_cache(maxsize=64)
def _mono(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(MONO_FONT), size)


def _file_name(language: str) -> str:
    lang = language.lower().strip() or "text"
    return f"main.{EXTENSIONS.get(lang, lang[:4])}"


# ---------------------------------------------------------------- timing


def beat_spans(beats: list[Beat], words: list[Word], duration_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each beat's narration in the spoken words.

    The words also hold the hook (and maybe a call to action), which the request does not carry, so the
    beats' words are aligned to the spoken words by sequence matching; a beat with no matched word falls
    back to a proportional share of the time after the hook.
    """
    if not beats:
        return []
    beat_tokens = [(i, tok) for i, beat in enumerate(beats) for tok in _tokens(beat.narration)]
    if not words:
        return _proportional(beats, 0.0, duration_s)
    spoken = [_norm(w.text) for w in words]
    matcher = difflib.SequenceMatcher(None, [t for _, t in beat_tokens], spoken, autojunk=False)
    mapped: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapped[block.a + k] = block.b + k
    if len(mapped) < max(1, len(beat_tokens) // 3):
        hook_words = max(0, len(words) - len(beat_tokens))
        start = words[min(hook_words, len(words) - 1)].start
        return _proportional(beats, start, words[-1].end)
    return _spans_from_matches(beats, beat_tokens, mapped, words, duration_s)


def _spans_from_matches(
    beats: list[Beat],
    beat_tokens: list[tuple[int, str]],
    mapped: dict[int, int],
    words: list[Word],
    duration_s: float,
) -> list[tuple[float, float]]:
    spans: list[tuple[float, float] | None] = []
    for i in range(len(beats)):
        positions = [j for j, (b, _) in enumerate(beat_tokens) if b == i]
        hits = [(j, mapped[j]) for j in positions if j in mapped]
        if not hits:
            spans.append(None)
            continue
        # Extrapolate the beat's edges from its first and last matched word.
        first = max(0, hits[0][1] - (hits[0][0] - positions[0]))
        last = min(len(words) - 1, hits[-1][1] + (positions[-1] - hits[-1][0]))
        spans.append((words[first].start, words[max(first, last)].end))
    return _fill_gaps(spans, words[-1].end if words else duration_s)


def _fill_gaps(spans: list[tuple[float, float] | None], end_s: float) -> list[tuple[float, float]]:
    """A beat that matched nothing takes the time between its neighbours."""
    out: list[tuple[float, float]] = []
    for i, span in enumerate(spans):
        if span is not None:
            out.append(span)
            continue
        prev_end = out[-1][1] if out else 0.0
        nxt = next((s for s in spans[i + 1 :] if s is not None), None)
        out.append((prev_end, nxt[0] if nxt else end_s))
    return out


def _proportional(beats: list[Beat], start_s: float, end_s: float) -> list[tuple[float, float]]:
    counts = [max(1, len(_tokens(b.narration))) for b in beats]
    total, spans, acc = sum(counts), [], 0
    for count in counts:
        a = start_s + (end_s - start_s) * acc / total
        acc += count
        spans.append((a, start_s + (end_s - start_s) * acc / total))
    return spans


def _tokens(text: str) -> list[str]:
    return [t for t in (_norm(w) for w in text.split()) if t]


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


# ---------------------------------------------------------------- service


def load_words(data: object) -> list[Word]:
    """The captions step's words artifact: a JSON list of Word dicts (a {"words": [...]} wrapper is accepted)."""
    if isinstance(data, dict):
        data = data.get("words", [])
    if not isinstance(data, list):
        return []
    return [Word.model_validate(w) for w in data]


def image_card(data: bytes, width: int, max_height: int, radius: int = 28) -> Image.Image:
    """A generated picture as a rounded card that fits `width` x `max_height` (aspect kept)."""
    with Image.open(io.BytesIO(data)) as source:
        picture = source.convert("RGBA")
    scale = min(width / picture.width, max_height / picture.height)
    picture = picture.resize((max(2, round(picture.width * scale)), max(2, round(picture.height * scale))),
                             Image.Resampling.LANCZOS)  # fmt: skip
    mask = Image.new("L", picture.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, picture.width - 1, picture.height - 1), radius=radius, fill=255)
    picture.putalpha(mask)
    return picture


@dataclass
class _Beat:
    """One beat's place in the video: its index (for notes), window and overlay box."""

    index: int
    beat: Beat
    start: float
    end: float


class ImageService:
    """Step 8: an overlay per visual beat, inside the layout's overlay region, shown while it is spoken.

    Code cards are always drawn (Pillow); diagrams need the Mermaid CLI; pictures come from the image
    generation chain. Whatever cannot be made is a note on the step, never a failure.
    """

    def __init__(
        self, store: ArtifactStore, settings: MediaSettings | None = None, generators: ImageGenChain | None = None,
        diagrams: DiagramRenderer | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings or MediaSettings()
        self.generators = generators if generators is not None else build_chain(self.settings.visuals)
        self.diagrams = diagrams or DiagramRenderer(self.settings.visuals)

    def layout(self, req: ImagesRequest) -> Layout:
        return layout_for_look(req.platforms, self.settings, req.project_id)

    def make(self, req: ImagesRequest) -> ImagesResult:
        """One overlay per storyboard shot: the hook's title card, then each beat's visuals, gapless."""
        started = time.perf_counter()
        words = load_words(self.store.read_json(req.words))
        spans = beat_spans(req.beats, words, req.duration_s)
        layout = self.layout(req)
        look = self.settings.look_for(req.project_id)
        shots = storyboard(req.beats, spans, words, req.duration_s, look.change_every_s)
        overlays: list[Overlay] = []
        notes: list[str] = [f"brand {reason}"] if (reason := font_note(look.brand)) else []
        tiers: set[str] = set()
        theme: Theme | None = None
        variant = 0
        for shot in shots:
            item = _Beat(shot.beat, req.beats[shot.beat] if shot.beat >= 0 else Beat(narration=""),
                         shot.start, shot.end)  # fmt: skip
            made: tuple[Overlay, str] | None = None
            if shot.kind == "code":
                made = self._code_overlay(item, req.duration_s, layout), "pillow"
            elif shot.kind == "diagram":
                theme = theme or theme_for(background_luma(req.background.path) if req.background else None)
                made = self._diagram_overlay(item, req.duration_s, layout, theme, notes)
            elif shot.kind == "image":
                made = self._image_overlay(item, req.duration_s, layout, notes)
            if made is None:  # cards: always drawn, and the stand-in when a picture or diagram failed
                if shot.kind not in ("title", "stat", "quote"):  # key-word cards take turns in look
                    variant += 1
                made = self._card_overlay(shot, item, req.duration_s, layout, look.brand, variant), "pillow"
            overlays.append(made[0])
            tiers.add(made[1])
        return ImagesResult(
            overlays=overlays, notes=notes, tier="+".join(sorted(tiers)) or "none",
            seconds=round(time.perf_counter() - started, 3),
        )  # fmt: skip

    def _card_overlay(
        self, shot: Shot, item: _Beat, duration_s: float, layout: Layout, brand: BrandKit, variant: int
    ) -> Overlay:
        """A title, key-word, statistic or quote card for the shot's window (cached by content and brand)."""
        box = layout.overlays
        visual = shot.visual or Visual()
        kind = shot.kind if shot.kind in ("title", "stat", "quote") else "text"
        text = shot.text or visual.headline or key_words(item.beat.narration)
        inputs = {"kind": kind, "text": text, "visual": visual.model_dump(), "variant": variant % TEXT_VARIANTS,
                  "box": [box.w, box.h], "brand": brand.model_dump()}  # fmt: skip
        frames = 1
        if kind == "stat":
            sheet, frames = stat_sheet(visual.stat_value, visual.stat_label or visual.headline, box.w, box.h, brand)
            ref = self._cached_png("stat_card", inputs, lambda: sheet)
        elif kind == "quote":
            ref = self._cached_png("quote_card", inputs,
                                   lambda: quote_card(visual.quote, visual.attribution, box.w, box.h, brand))
        elif kind == "title":  # the brand's intro band takes the bottom of the region while the hook shows
            room = box.h - (intro_room(brand, box.w, SLIDE_PX) if shot.start < 0.05 else 0)
            inputs["room"] = room
            ref = self._cached_png("title_card", inputs, lambda: title_card(text, box.w, room, brand))
        else:
            ref = self._cached_png("text_card", inputs, lambda: text_card(text, box.w, box.h, brand, variant))
        anchor = "top" if kind == "text" and variant % TEXT_VARIANTS == 1 else "center"
        overlay = self._overlay(ref, item, duration_s, layout, anchor, frames=frames, exact=True)
        if frames > 1:
            overlay.frame_s = STAT_FRAME_S
        overlay.motion = "slide" if kind in ("title", "text") else "fade"
        return overlay

    # ------------------------------------------------------------ the three kinds

    def _code_overlay(self, item: _Beat, duration_s: float, layout: Layout) -> Overlay:
        visual = item.beat.visual
        box = layout.overlays
        inputs = {"code": visual.code, "language": visual.language, "width": box.w, "max_height": box.h}
        ref = self._cached_png("code_image", inputs, lambda: render_code_image(visual.code, visual.language,
                                                                             width=box.w, max_height=box.h))
        return self._overlay(ref, item, duration_s, layout, anchor="top")

    def _diagram_overlay(
        self, item: _Beat, duration_s: float, layout: Layout, theme: Theme, notes: list[str]
    ) -> tuple[Overlay, str] | None:
        reason = self.diagrams.unavailable_reason()
        if reason:
            notes.append(f"beat {item.index + 1}: diagram skipped: {reason}")
            return None
        box = layout.overlays
        source = item.beat.visual.diagram
        key = input_key("diagram", {"source": source, "theme": theme, "box": [box.w, box.h]}, version=VERSION)
        ref = self.store.lookup(key)
        if ref is None:
            try:
                with self.store.staging_dir() as work:
                    self.diagrams.render(source, theme, box.w, work / "raw.png")
                    with Image.open(work / "raw.png") as raw:
                        card = panel(raw, theme, box.w, box.h)
                    ref = self._put_png(card, key)
            except (DiagramError, OSError) as exc:
                notes.append(f"beat {item.index + 1}: diagram failed: {exc}")
                return None
        notes.append(f"beat {item.index + 1}: diagram ({theme} theme)")
        return self._overlay(ref, item, duration_s, layout, anchor="center"), "mermaid"

    def _image_overlay(
        self, item: _Beat, duration_s: float, layout: Layout, notes: list[str]
    ) -> tuple[Overlay, str] | None:
        prompt = item.beat.visual.image_prompt.strip()
        box = layout.overlays
        v = self.settings.visuals
        inputs = {"prompt": prompt, "chain": self.generators.names, "box": [box.w, box.h],
                  "comfyui": [v.comfyui_workflow, v.comfyui_checkpoint, v.comfyui_size],
                  "dalle": [v.dalle_model, v.dalle_size, v.dalle_quality]}  # fmt: skip
        key = input_key("generated_image", inputs, version=VERSION)
        ref = self.store.lookup(key)
        tier = "cached"
        if ref is None:
            seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
            generated = self.generators.generate(prompt, seed)
            notes.extend(f"beat {item.index + 1}: {note}" for note in generated.notes)
            if generated.data is None:
                notes.append(f"beat {item.index + 1}: no image generated; the beat has no picture")
                return None
            try:
                card = image_card(generated.data, box.w, box.h)
            except (OSError, ValueError) as exc:
                notes.append(f"beat {item.index + 1}: {generated.tier} returned an unreadable image ({exc})")
                return None
            ref = self._put_png(card, key)
            tier = generated.tier
        notes.append(f"beat {item.index + 1}: image from {tier}")
        return self._overlay(ref, item, duration_s, layout, anchor="center"), tier

    # ------------------------------------------------------------ shared

    def _cached_png(self, step: str, inputs: dict[str, object], draw: Callable[[], Image.Image]) -> ArtifactRef:
        key = input_key(step, inputs, version=VERSION)
        return self.store.lookup(key) or self._put_png(draw(), key)

    def _put_png(self, image: Image.Image, key: str) -> ArtifactRef:
        with self.store.staging(".png") as path:
            image.save(path, optimize=False, compress_level=3)
            return self.store.put(path, kind="image", key=key)

    def _overlay(
        self, ref: ArtifactRef, item: _Beat, duration_s: float, layout: Layout, anchor: str, frames: int = 1,
        exact: bool = True,
    ) -> Overlay:  # fmt: skip
        """The overlay for `ref`, placed by the layout, shown for its shot (`exact`) or a little around it."""
        with Image.open(ref.path) as img:
            width, height = img.size[0], img.size[1] // frames
        place = layout.place(width, height, anchor=anchor)
        if exact:
            start, end = max(0.0, item.start), min(duration_s, item.end)  # the storyboard sized the shot
        else:
            start = max(0.0, item.start - 0.15)
            end = min(duration_s, max(item.end + 0.3, start + MIN_OVERLAY_S))
        return Overlay(image=ref, start_s=round(start, 3), end_s=round(end, 3), x=place.x, y=place.y,
                       width=place.w, height=place.h, frames=frames)  # fmt: skip
