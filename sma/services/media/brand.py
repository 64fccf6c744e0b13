"""A preview frame of a project's look: background, title card, a key-word card, captions and the logo.

Why a still drawn with Pillow and not a frame of a render: the dashboard shows it on every visit of the
projects page, and a render takes seconds; the still is drawn in ~100 ms from the same cards, the same
safe-zone layout and the resolved caption style, so what it shows is where things land in a video.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sma.services.media.background import Scene
from sma.services.media.cards import font_path, text_card, title_card
from sma.services.media.look import caption_look, layout_for_look
from sma.services.media.render import FONTS_DIR, logo_placement
from sma.settings import MediaSettings

SAMPLE_HOOK = "Your hook, big, in the first second"
SAMPLE_CAPTION = ("words appear", "as they are", "spoken")


def preview_frame(media: MediaSettings, project_id: str, platforms: list[str] | None = None,
                  width: int = 540) -> bytes:  # fmt: skip
    """A PNG of the look at `width` x (width * 16/9): title card top, caption page with its highlight."""
    height = width * 16 // 9
    settings = media.model_copy(update={"width": width, "height": height,
                                        "caption_font_size": round(media.caption_font_size * width / media.width)})
    look = settings.look_for(project_id)
    layout = layout_for_look(platforms or [], settings, project_id)
    scene = Scene(project_id, width // 4, height // 4, 1)
    frame = Image.fromarray(scene.frame(0).transpose(1, 2, 0)).resize((width, height), Image.Resampling.BILINEAR)
    box = layout.overlays
    card = title_card(SAMPLE_HOOK, box.w, box.h * 2 // 3, look.brand)
    frame.paste(card, (box.x, box.y), card)
    words = text_card("durable workflows", box.w, box.h // 3 - 8, look.brand, variant=0)
    frame.paste(words, (box.x, box.bottom - words.height), words)
    _draw_caption(frame, settings, project_id, layout.captions.x, layout.captions.right, layout.captions.bottom)
    if look.brand.logo and Path(look.brand.logo).expanduser().is_file():
        place = logo_placement(look.brand.logo, look.brand.logo_width, look.brand.logo_corner, layout)
        with Image.open(Path(look.brand.logo).expanduser()) as raw:
            logo = raw.convert("RGBA").resize((place.w, place.h), Image.Resampling.LANCZOS)
        alpha = logo.getchannel("A").point(lambda v: round(v * look.brand.logo_opacity))
        frame.paste(logo, (place.x, place.y), alpha)
    out = io.BytesIO()
    frame.convert("RGB").save(out, "PNG", optimize=False, compress_level=3)
    return out.getvalue()


def _draw_caption(frame: Image.Image, media: MediaSettings, project_id: str, left: int, right: int,
                  bottom: int) -> None:  # fmt: skip
    """Two caption lines in the style's font, size and colours, the middle word highlighted."""
    look = caption_look(media, project_id)
    font_file = FONTS_DIR / "DejaVuSans-Bold.ttf"
    font = ImageFont.truetype(str(font_file if font_file.is_file() else font_path(media.look.brand)), look.font_size)
    draw = ImageDraw.Draw(frame)
    lines = [SAMPLE_CAPTION[0], " ".join(SAMPLE_CAPTION[1:])]
    y = bottom - round(len(lines) * look.font_size * 1.2)
    for row, line in enumerate(lines):
        x = (left + right) / 2 - font.getlength(line) / 2
        for i, word in enumerate(line.split(" ")):
            active = row == 0 and i == 1
            colour = look.highlight_colour if active and look.highlight != "box" else look.colour
            piece = word + " "
            if active and look.highlight == "box":
                draw.rectangle((x - 4, y, x + font.getlength(word) + 4, y + look.font_size * 1.1),
                               fill=look.highlight_colour)  # fmt: skip
            draw.text((x, y), piece, font=font, fill=colour, stroke_width=max(1, look.outline // 2),
                      stroke_fill=look.box_colour)  # fmt: skip
            x += font.getlength(piece)
        y += round(look.font_size * 1.2)
