"""Caption styles: presets plus a project's overrides, resolved into what the ASS script needs.

Why presets: creators pick a look ("bold", "boxed") rather than twelve numbers, but may still change one
(the highlight colour to match the brand). The bold default is sized for a phone held at arm's length:
80 px at 1080 wide, a thick outline that reads on any background, the spoken word popping in yellow.

ASS colours are &HAABBGGRR (alpha 00 = opaque), hence `ass_colour`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sma.services.media.cards import rgb
from sma.services.media.fonts import DEFAULT_FONT, Font, font_or_default
from sma.services.media.layout import Layout, layout_for
from sma.settings import CaptionStyle, MediaSettings

REFERENCE_LINE_CHARS = 22  # characters per line at 68 px that fit the caption safe width (captions.py)
REFERENCE_FONT_SIZE = 68
LOWER_THIRD = 0.30  # "lower_third": the caption block's bottom at least 30 % of the height above the bottom


@dataclass(frozen=True)
class CaptionLook:
    font: str
    font_size: int
    colour: str  # #RRGGBB
    highlight_colour: str
    highlight: str  # colour | pop | box
    words_per_line: int
    position: str  # bottom | lower_third
    outline: int
    shadow: int
    box_colour: str = "#000000"  # outline colour; the box colour for the boxed style

    @property
    def max_line_chars(self) -> int:
        """A line's character budget at this size: the 68 px budget scaled by the font size."""
        return max(8, round(REFERENCE_LINE_CHARS * REFERENCE_FONT_SIZE / self.font_size))

    @property
    def active_scale_extra(self) -> float:
        """How much larger the spoken word is drawn (the pop highlight), for the line width budget."""
        return 0.18 if self.highlight == "pop" else 0.0

    @property
    def boxed(self) -> bool:
        return self.highlight == "box"


PRESETS: dict[str, CaptionLook] = {
    "bold": CaptionLook("DejaVu Sans", 80, "#FFFFFF", "#FFD400", "pop", 3, "bottom", outline=6, shadow=3),
    "clean": CaptionLook("DejaVu Sans", 68, "#FFFFFF", "#38BDF8", "colour", 4, "bottom", outline=3, shadow=1),
    "boxed": CaptionLook("DejaVu Sans", 72, "#FFFFFF", "#E11D48", "box", 3, "bottom", outline=10, shadow=0,
                         box_colour="#111111"),
    "minimal": CaptionLook("DejaVu Sans", 60, "#FFFFFF", "#FACC15", "colour", 5, "bottom", outline=2, shadow=1),
}  # fmt: skip


def resolve(style: CaptionStyle) -> CaptionLook:
    """The preset with the project's overrides applied; a bad colour is a clear error."""
    look = PRESETS[style.preset]
    updates: dict[str, Any] = {
        "font": style.font, "font_size": style.font_size, "colour": style.colour,
        "highlight_colour": style.highlight_colour, "highlight": style.highlight,
        "words_per_line": style.words_per_line, "position": style.position,
    }  # fmt: skip
    look = replace(look, **{k: v for k, v in updates.items() if v is not None})
    for name in ("colour", "highlight_colour", "box_colour"):
        rgb(getattr(look, name))  # raises with the value and the expected form
    return look


def ass_colour(value: str, alpha: int = 0) -> str:
    r, g, b = rgb(value)
    return f"&H{alpha:02X}{b:02X}{g:02X}{r:02X}"


def style_line(look: CaptionLook, margin_l: int, margin_r: int, margin_v: int) -> str:
    """The Default style: BorderStyle 3 (opaque box behind the line) for the boxed look, else outline."""
    border_style = 3 if look.boxed else 1
    back = ass_colour("#000000", 0x96)
    colours = f"{ass_colour(look.colour)},{ass_colour(look.highlight_colour)},{ass_colour(look.box_colour)}"
    border = f"{border_style},{look.outline},{look.shadow}"
    return (f"Style: Default,{look.font},{look.font_size},{colours},{back},-1,0,0,0,100,100,0,0,{border},"
            f"2,{margin_l},{margin_r},{margin_v},1")  # fmt: skip


def highlight_tag(look: CaptionLook) -> str:
    """Override tags for the spoken word; `{\\r}` after it returns to the style."""
    colour = ass_colour(look.highlight_colour)
    if look.highlight == "pop":
        return rf"{{\c{colour}\fscx118\fscy118}}"
    if look.highlight == "box":
        return rf"{{\3c{colour}}}"
    return rf"{{\c{colour}}}"


def caption_look(media: MediaSettings, project_id: str) -> CaptionLook:
    """The project's caption look, its size scaled with `media.caption_font_size` (68 = the preset's size)."""
    style = media.look_for(project_id).captions
    look = resolve(style)
    if style.font_size is None and media.caption_font_size != REFERENCE_FONT_SIZE:
        look = replace(look, font_size=round(look.font_size * media.caption_font_size / REFERENCE_FONT_SIZE))
    return look


def look_with_font(media: MediaSettings, project_id: str) -> tuple[CaptionLook, Font, str]:
    """The caption look with its font found (fonts.py): the look names the font's family as libass matches
    it, the Font is its file (QA measures lines with it; the render gives libass its folder). A font the
    style names but that is not installed falls back to the preset's shipped font, with the one-line reason."""
    look = caption_look(media, project_id)
    named = media.look_for(project_id).captions.font
    if not named:
        file = Path(media.font_file) if media.font_file else DEFAULT_FONT
        return look, Font(file, look.font), ""
    font, reason = font_or_default(named)
    return replace(look, font=font.family), font, reason


def layout_for_look(platforms: list[str], media: MediaSettings, project_id: str) -> Layout:
    """The frame's layout with this project's caption size and position: shared by images and render, so a
    card never lands on the captions."""
    look = caption_look(media, project_id)
    lift = round(media.height * LOWER_THIRD) if look.position == "lower_third" else 0
    return layout_for(platforms or media.layout_platforms, media.width, media.height, look.font_size,
                      min_margin_v=lift)  # fmt: skip
