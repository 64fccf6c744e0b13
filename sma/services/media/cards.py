"""Full-size cards for the storyboard: title, key words, statistic, quote — drawn once with Pillow.

Why pre-drawn PNGs: the renderer overlays each card for its window with `enable=between(t,…)` after
decoding it once and looping the frame in memory, so a card costs one blend per frame. Animating text with
`drawtext` expressions would re-rasterise glyphs every frame. The one animation here (a statistic counting
up with a growing bar) is a vertical sprite sheet: the renderer crops the frame for the moment it shows.

Every card takes the project's brand kit (palette, font), is exactly `width` wide and has an even height
(yuv420 chroma rows), and leaves transparent what the background should show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sma.services.media.fonts import font_or_default
from sma.settings import BrandKit

STAT_FRAMES = 12  # count-up frames in a statistic's sprite sheet
STAT_FRAME_S = 0.07  # 12 x 0.07 s: the number lands in under a second, while it is being said
REFERENCE_WIDTH = 960  # font sizes below are for a card this wide (a 1080 frame's overlay region)
RADIUS = 36
SHADOW = 18
TEXT_VARIANTS = 3  # key-word cards cycle through this many looks so consecutive cards read as new scenes
LINE_SPACING = 1.12
INTRO_GAP = 16  # between the intro band and the opening card above it

_NUMBER = re.compile(r"^(?P<pre>[^\d]*?)(?P<num>\d[\d,]*(?:\.\d+)?)(?P<post>.*)$")


@dataclass(frozen=True)
class Palette:
    background: tuple[int, int, int]
    accent: tuple[int, int, int]
    text: tuple[int, int, int]
    secondary: tuple[int, int, int]


def rgb(value: str) -> tuple[int, int, int]:
    """#RRGGBB (or RRGGBB, or #RGB) to a tuple; a clear error names the bad value."""
    text = value.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(ch * 2 for ch in text)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", text):
        raise ValueError(f"colour {value!r} is not #RRGGBB: write it like #FACC15")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def palette(brand: BrandKit) -> Palette:
    return Palette(rgb(brand.background), rgb(brand.accent), rgb(brand.text), rgb(brand.secondary))


def font_path(brand: BrandKit) -> Path:
    """The brand's font file (fonts.py: a path, a shipped file, or installed from Debian or PyPI); a font
    that cannot be found falls back to DejaVu Sans Bold (the images step notes why: `font_note`)."""
    return font_or_default(brand.font)[0].file


def font_note(brand: BrandKit) -> str:
    """The one-line reason the brand's font is not used, or empty."""
    return font_or_default(brand.font)[1]


@lru_cache(maxsize=128)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def wrap(text: str, font: ImageFont.FreeTypeFont, max_w: int) -> list[str]:
    """Greedy word wrap; a single word wider than the line stays on its own line."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_w:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def fit_text(
    text: str, path: Path, max_w: int, max_h: int, largest: int, scale: float = 1.0
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font size at which `text` wraps inside max_w x max_h: text shrinks, it is never cut.

    `largest` is for a card REFERENCE_WIDTH wide and multiplied by `scale`; 12 px is the floor.
    """
    for size in range(max(12, round(largest * scale)), 11, -2):
        font = _font(str(path), size)
        lines = wrap(text, font, max_w)
        widest = max(font.getlength(line) for line in lines)
        if widest <= max_w and len(lines) * size * LINE_SPACING <= max_h:
            return font, lines
    font = _font(str(path), 12)
    return font, wrap(text, font, max_w)


def _even(value: float) -> int:
    return max(2, int(value // 2 * 2))


def _panel(width: int, height: int, fill: tuple[int, int, int, int], shadow: bool = True) -> Image.Image:
    """A rounded panel with a soft drop shadow, inside a transparent image of the given size."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    box = (SHADOW, SHADOW // 2, width - SHADOW - 1, height - SHADOW - 1)
    if shadow:
        mask = Image.new("L", image.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle((box[0], box[1] + SHADOW // 2, box[2], box[3] + SHADOW // 2),
                                               radius=RADIUS, fill=140)  # fmt: skip
        image.paste(Image.new("RGBA", image.size, (0, 0, 0, 255)), (0, 0), mask.filter(ImageFilter.GaussianBlur(9)))
    ImageDraw.Draw(image).rounded_rectangle(box, radius=RADIUS, fill=fill)
    return image


def _draw_lines(
    draw: ImageDraw.ImageDraw, lines: list[str], font: ImageFont.FreeTypeFont, centre_x: int, top: int,
    fill: tuple[int, int, int], accent: tuple[int, int, int] | None = None, accent_word: str = "",
    stroke: int = 0,
) -> int:  # fmt: skip
    """Centred lines from `top`; `accent_word` (if any) drawn in the accent colour. Returns the bottom y."""
    size = font.size
    y = top
    for line in lines:
        width = font.getlength(line)
        x = centre_x - width / 2
        for i, word in enumerate(line.split(" ")):
            piece = word if i == 0 else " " + word
            colour = accent if accent and accent_word and _key(word) == _key(accent_word) else fill
            draw.text((x, y), piece, font=font, fill=(*colour, 255), stroke_width=stroke,
                      stroke_fill=(0, 0, 0, 255))  # fmt: skip
            x += font.getlength(piece)
        y += round(size * LINE_SPACING)
    return y


def _key(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


# ---------------------------------------------------------------- the kinds


def title_card(text: str, width: int, max_height: int, brand: BrandKit) -> Image.Image:
    """The hook in the biggest type that fits: accent panel, dark text, readable on a phone at a glance."""
    p = palette(brand)
    inner_w = width - 2 * SHADOW - 2 * 56
    font, lines = fit_text(
        text.upper(), font_path(brand), inner_w, int(max_height * 0.78), largest=132, scale=width / REFERENCE_WIDTH
    )
    text_h = round(len(lines) * font.size * LINE_SPACING)
    height = _even(min(max_height, text_h + 2 * 64 + SHADOW * 2))
    card = _panel(width, height, (*p.accent, 250))
    draw = ImageDraw.Draw(card)
    _draw_lines(draw, lines, font, width // 2, (height - SHADOW - text_h) // 2, _contrast(p.accent))
    return card


def text_card(text: str, width: int, max_height: int, brand: BrandKit, variant: int = 0) -> Image.Image:
    """A few key words, big. `variant` picks one of TEXT_VARIANTS looks (panel colour, layout)."""
    p = palette(brand)
    look = variant % TEXT_VARIANTS
    words = text.split()
    accent_word = max(words, key=len) if words else ""
    path = font_path(brand)
    if look == 0:  # dark panel, white words, the longest word in the accent colour, accent rule below
        inner_w = width - 2 * SHADOW - 2 * 60
        font, lines = fit_text(text, path, inner_w, int(max_height * 0.6), largest=120, scale=width / REFERENCE_WIDTH)
        text_h = round(len(lines) * font.size * LINE_SPACING)
        height = _even(min(max_height, text_h + 2 * 70 + 2 * SHADOW))
        card = _panel(width, height, (*p.background, 235))
        draw = ImageDraw.Draw(card)
        top = (height - SHADOW - text_h) // 2 - 10
        bottom = _draw_lines(draw, lines, font, width // 2, top, p.text, p.accent, accent_word)
        draw.rounded_rectangle((width // 2 - 90, bottom + 8, width // 2 + 90, bottom + 22), radius=7,
                               fill=(*p.accent, 255))  # fmt: skip
        return card
    if look == 1:  # secondary-colour panel, dark words, a tall narrow card
        inner_w = int(width * 0.78) - 2 * SHADOW - 2 * 48
        font, lines = fit_text(
            text.upper(), path, inner_w, int(max_height * 0.7), largest=112, scale=width / REFERENCE_WIDTH
        )
        text_h = round(len(lines) * font.size * LINE_SPACING)
        card_w = int(width * 0.78)
        height = _even(min(max_height, text_h + 2 * 80 + 2 * SHADOW))
        panel_image = _panel(card_w, height, (*p.secondary, 245))
        draw = ImageDraw.Draw(panel_image)
        _draw_lines(draw, lines, font, card_w // 2, (height - SHADOW - text_h) // 2, _contrast(p.secondary))
        card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        card.paste(panel_image, ((width - card_w) // 2, 0))
        return card
    # look 2: no panel, huge outlined words over a translucent band across the full width
    font, lines = fit_text(
        text.upper(), path, width - 80, int(max_height * 0.7), largest=150, scale=width / REFERENCE_WIDTH
    )
    text_h = round(len(lines) * font.size * LINE_SPACING)
    height = _even(min(max_height, text_h + 2 * 60))
    card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 20, width - 1, height - 21), fill=(0, 0, 0, 150))
    draw.rectangle((0, 20, 14, height - 21), fill=(*p.accent, 255))
    _draw_lines(draw, lines, font, width // 2, (height - text_h) // 2, p.text, p.accent, accent_word, stroke=5)
    return card


def intro_band(text: str, width: int, brand: BrandKit) -> Image.Image:
    """The brand's intro line as a slim band (brand background, accent rule, text colour): it shares the
    first seconds with the hook's title card, so it stays one short line and never competes with the hook."""
    p = palette(brand)
    scale = width / REFERENCE_WIDTH
    pad = round(20 * scale)
    font, lines = fit_text(text, font_path(brand), width - 2 * pad - round(40 * scale), round(110 * scale),
                           largest=48, scale=scale)  # fmt: skip
    text_h = round(len(lines) * font.size * LINE_SPACING)
    height = _even(text_h + 2 * pad)
    card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=min(RADIUS, height // 2), fill=(*p.background, 235))
    draw.rounded_rectangle((pad, pad, pad + max(4, round(10 * scale)), height - pad), radius=4, fill=(*p.accent, 255))
    _draw_lines(draw, lines, font, width // 2, pad - round(font.size * 0.06), p.text)
    return card


def intro_room(brand: BrandKit, width: int, rise: int) -> int:
    """Height the intro band takes from the bottom of the overlay region (with the gap above it and a
    sliding card's rise), so the images step draws the title card for the room that is left; 0 without."""
    if not brand.intro.strip():
        return 0
    return intro_band(brand.intro.strip(), width, brand).size[1] + INTRO_GAP + rise


def outro_card(text: str, width: int, max_height: int, brand: BrandKit) -> Image.Image:
    """The brand's closing words (a follow prompt, a handle) on the brand background, accent frame."""
    p = palette(brand)
    inner_w = width - 2 * SHADOW - 2 * 64
    font, lines = fit_text(text, font_path(brand), inner_w, int(max_height * 0.6), largest=110,
                           scale=width / REFERENCE_WIDTH)  # fmt: skip
    text_h = round(len(lines) * font.size * LINE_SPACING)
    height = _even(min(max_height, text_h + 2 * 90 + 2 * SHADOW))
    card = _panel(width, height, (*p.background, 245))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((SHADOW, SHADOW // 2, width - SHADOW - 1, height - SHADOW - 1), radius=RADIUS,
                           outline=(*p.accent, 255), width=10)  # fmt: skip
    _draw_lines(draw, lines, font, width // 2, (height - SHADOW - text_h) // 2, p.text, p.accent,
                max(text.split(), key=len) if text.split() else "")  # fmt: skip
    return card


def quote_card(quote: str, attribution: str, width: int, max_height: int, brand: BrandKit) -> Image.Image:
    p = palette(brand)
    path = font_path(brand)
    inner_w = width - 2 * SHADOW - 2 * 70
    body = quote.strip().strip('"\u201c\u201d')
    font, lines = fit_text(f"\u201c{body}\u201d", path, inner_w, int(max_height * 0.62),
                           largest=96, scale=width / REFERENCE_WIDTH)  # fmt: skip
    text_h = round(len(lines) * font.size * LINE_SPACING)
    small = _font(str(path), max(30, font.size // 2))
    mark = _font(str(path), 220)
    height = _even(min(max_height, text_h + 170 + (small.size + 30 if attribution else 0) + 2 * SHADOW))
    card = _panel(width, height, (*p.background, 240))
    draw = ImageDraw.Draw(card)
    draw.text((SHADOW + 40, SHADOW - 40), "\u201c", font=mark, fill=(*p.accent, 255))
    bottom = _draw_lines(draw, lines, font, width // 2, SHADOW + 110, p.text)
    if attribution:
        draw.text((width - SHADOW - 70, bottom + 20), f"\u2014 {attribution}", font=small, fill=(*p.accent, 255),
                  anchor="ra")  # fmt: skip
    return card


@dataclass(frozen=True)
class Stat:
    prefix: str
    value: float
    decimals: int
    commas: bool
    suffix: str

    def format(self, value: float) -> str:
        number = f"{value:,.{self.decimals}f}" if self.commas else f"{value:.{self.decimals}f}"
        return f"{self.prefix}{number}{self.suffix}"

    @property
    def fraction(self) -> float:
        """How full the bar ends: the percentage for a percent, else a full bar."""
        if self.suffix.strip().startswith("%"):
            return max(0.05, min(1.0, self.value / 100))
        return 1.0


def parse_stat(text: str) -> Stat | None:
    """'73%' -> Stat('', 73, 0, False, '%'); '$1,200' -> Stat('$', 1200, 0, True, ''); no digit -> None."""
    match = _NUMBER.match(text.strip())
    if not match:
        return None
    num = match.group("num")
    decimals = len(num.split(".", 1)[1]) if "." in num else 0
    return Stat(match.group("pre"), float(num.replace(",", "")), decimals, "," in num, match.group("post"))


def stat_sheet(value: str, label: str, width: int, max_height: int, brand: BrandKit,
               frames: int = STAT_FRAMES) -> tuple[Image.Image, int]:  # fmt: skip
    """A statistic counting up to `value` with a bar growing under it: `frames` frames stacked vertically.

    Returns the sheet and its frame count (1 when the value has no number to count).
    """
    stat = parse_stat(value)
    count = frames if stat is not None and stat.value > 0 else 1
    p = palette(brand)
    path = font_path(brand)
    final = stat.format(stat.value) if stat else value
    number_font, _ = fit_text(final, path, width - 2 * SHADOW - 120, 260, largest=230, scale=width / REFERENCE_WIDTH)
    label_font, label_lines = fit_text(
        label, path, width - 2 * SHADOW - 120, 220, largest=64, scale=width / REFERENCE_WIDTH
    )
    label_h = round(len(label_lines) * label_font.size * LINE_SPACING) if label else 0
    height = _even(min(max_height, number_font.size + 60 + 40 + label_h + 120 + 2 * SHADOW))
    base = _panel(width, height, (*p.background, 240))
    sheet = Image.new("RGBA", (width, height * count), (0, 0, 0, 0))
    bar = (SHADOW + 70, SHADOW + 60 + number_font.size + 24, width - SHADOW - 70, SHADOW + 60 + number_font.size + 64)
    for k in range(count):
        progress = 1.0 if count == 1 else 1 - (1 - k / (count - 1)) ** 3  # ease-out: fast, then settles
        frame = base.copy()
        draw = ImageDraw.Draw(frame)
        shown = stat.format(stat.value * progress) if stat else value
        draw.text((width // 2, SHADOW + 50), shown, font=number_font, fill=(*p.accent, 255), anchor="ma")
        draw.rounded_rectangle(bar, radius=20, fill=(*_mix(p.background, p.text, 0.18), 255))
        filled = bar[0] + round((bar[2] - bar[0]) * (stat.fraction if stat else 1.0) * progress)
        if filled > bar[0] + 40:
            draw.rounded_rectangle((bar[0], bar[1], filled, bar[3]), radius=20, fill=(*p.secondary, 255))
        if label:
            _draw_lines(draw, label_lines, label_font, width // 2, int(bar[3]) + 36, p.text)
        sheet.paste(frame, (0, k * height))
    return sheet, count


def _contrast(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Near-black on light colours, white on dark ones (relative luminance split at 0.5)."""
    r, g, b = colour
    return (17, 17, 17) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else (255, 255, 255)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t)
