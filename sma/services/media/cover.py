"""Cover images: a YouTube thumbnail and a Reels/TikTok cover frame, the hook in big words on the brand.

Why a drawn cover and not a frame of the video: a frame catches a word half-highlighted and a card mid-fade;
the cover is the title card composed for a still, on the brand background, with the hook inside the
platform's safe zone (vertical covers are cropped to a square or 3:4 in the profile grid, so the hook sits
in the middle band).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

from sma.services.media.cards import palette, title_card
from sma.services.media.layout import Rect, layout_for, normalize_platform
from sma.settings import BrandKit


@dataclass(frozen=True)
class CoverSpec:
    width: int
    height: int
    text_box: Rect  # where the hook may go


def cover_spec(platform: str) -> CoverSpec:
    """YouTube: a 1280x720 thumbnail (16:9, the duration badge bottom right kept clear); others: 1080x1920,
    the hook in the centre band that survives the profile grid's 3:4 crop and the platform's interface."""
    if normalize_platform(platform) == "youtube":
        return CoverSpec(1280, 720, Rect(60, 60, 1280 - 60 - 60, 720 - 60 - 130))
    layout = layout_for([platform], 1080, 1920)
    grid_top, grid_bottom = (1920 - 1440) // 2, (1920 + 1440) // 2  # the 3:4 crop of the profile grid
    top = max(layout.overlays.y, grid_top)
    bottom = min(layout.captions.bottom, grid_bottom)
    return CoverSpec(1080, 1920, Rect(layout.safe.x, top, layout.safe.w, bottom - top))


def make_cover(hook: str, platform: str, brand: BrandKit, background: Image.Image | None = None) -> Image.Image:
    """An RGB cover for `platform`: the background (a video frame) or the brand gradient, the hook card on it."""
    spec = cover_spec(platform)
    p = palette(brand)
    if background is not None:
        canvas = background.convert("RGB").resize((spec.width, spec.height), Image.Resampling.LANCZOS)
    else:
        canvas = Image.new("RGB", (spec.width, spec.height), p.background)
        draw = ImageDraw.Draw(canvas)
        for y in range(0, spec.height, 4):  # a vertical gradient into the secondary colour
            t = y / spec.height * 0.45
            colour = tuple(round(a + (b - a) * t) for a, b in zip(p.background, p.secondary, strict=True))
            draw.rectangle((0, y, spec.width, y + 3), fill=colour)
    box = spec.text_box
    card = title_card(hook, box.w, box.h, brand)
    canvas.paste(card, (box.x, box.y + (box.h - card.height) // 2), card)
    return canvas


def cover_png(hook: str, platform: str, brand: BrandKit) -> bytes:
    """The cover as PNG bytes (YouTube accepts PNG up to 2 MB; a flat-colour cover is ~100 kB)."""
    out = io.BytesIO()
    make_cover(hook, platform, brand).save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
