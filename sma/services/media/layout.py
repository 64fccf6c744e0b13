"""The layout engine: where captions and overlays may go on a vertical frame, per platform.

Why a table: each app draws its own interface over the video (tabs and search at the top, the caption,
account name and music strip at the bottom, the like/comment/share rail on the right). Their sizes are
published as guidance, not as an API, and they drift as the apps change, so they live in one table
(`SAFE_ZONES`, sources in plans/003b-visuals-render.md) instead of being scattered as magic numbers.

A layout for a set of platforms keeps clear of the union of their interfaces: the captions sit on top of
the bottom interface band, and overlays (code cards, diagrams, images) get the box between the top band
and the captions, so an overlay can never cover a caption or a button on any platform the video goes to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

REFERENCE_WIDTH = 1080
REFERENCE_HEIGHT = 1920
CAPTION_LINE_FACTOR = 1.32  # libass line height for DejaVu Sans Bold, with the active word scaled to 110 %
CAPTION_OUTLINE = 6  # outline 4 + shadow 2 (captions.py style)
CAPTION_PAD = 12  # kept between the bottom interface band and the caption's lowest pixel
OVERLAY_GAP = 36  # kept between an overlay and the top of the caption band
MIN_CAPTION_MARGIN_L = 0.05  # captions.py centres captions in the left 80 %: 5 % left, 15 % right
MIN_CAPTION_MARGIN_R = 0.15


@dataclass(frozen=True)
class Zone:
    """Pixels covered by one platform's interface on a 1080x1920 frame, from each edge."""

    platform: str
    top: int
    bottom: int
    left: int
    right: int
    source: str


SAFE_ZONES: dict[str, Zone] = {
    "tiktok": Zone("tiktok", top=150, bottom=400, left=60, right=150,
                   source="TikTok Creative Center guidance: keep clear of the right action rail and the lower "
                          "~20 % (caption, account, sound); 'Following/For You' tabs at the top"),
    "instagram": Zone("instagram", top=270, bottom=672, left=65, right=65,
                      source="Meta Business Help Center, Reels safe zone: keep 14 % top, 35 % bottom and 6 % "
                             "of each side free of text and logos"),
    "youtube": Zone("youtube", top=150, bottom=480, left=60, right=180,
                    source="YouTube Shorts: title, channel and Subscribe button in the lower ~25 %; like, "
                           "dislike, comment and share column on the right; search and camera icons on top"),
}  # fmt: skip
ALIASES = {
    "reels": "instagram", "instagram_reels": "instagram", "ig": "instagram",
    "shorts": "youtube", "youtube_shorts": "youtube", "yt": "youtube",
}  # fmt: skip


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def intersects(self, other: Rect) -> bool:
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom

    def contains(self, other: Rect) -> bool:
        return self.x <= other.x and self.y <= other.y and other.right <= self.right and other.bottom <= self.bottom


@dataclass(frozen=True)
class Placement:
    """Where one overlay goes: its top-left corner and the size it is drawn at (scaled down if needed)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class Layout:
    """The regions of one frame size for one set of platforms."""

    width: int
    height: int
    platforms: tuple[str, ...]
    safe: Rect  # clear of every platform's interface
    captions: Rect  # the band a two-line caption block occupies
    overlays: Rect  # where cards, diagrams and images may be drawn
    caption_margin_v: int  # ASS MarginV (bottom alignment): frame bottom to the caption block's bottom
    caption_margin_l: int
    caption_margin_r: int

    def place(self, w: int, h: int, anchor: str = "top") -> Placement:
        """The overlay box for content of size w x h: scaled down to fit, centred across the safe width.

        `anchor` "top" puts it at the top of the overlay region (a code card reads like a page); "center"
        centres it in the region (diagrams and images).
        """
        box = self.overlays
        scale = min(1.0, box.w / max(1, w), box.h / max(1, h))
        dw, dh = (w, h) if scale >= 1.0 else (max(2, math.floor(w * scale)), max(2, math.floor(h * scale)))
        x = box.x + (box.w - dw) // 2
        y = box.y if anchor == "top" else box.y + (box.h - dh) // 2
        return Placement(x, y, dw, dh)

    def corner(self, w: int, h: int, corner: str, margin: int = 24) -> Placement:
        """A small box (a logo) in a corner of the safe zone; bottom corners sit above the captions."""
        safe = self.safe
        x = safe.x + margin if corner.endswith("left") else safe.right - margin - w
        y = safe.y + margin if corner.startswith("top") else self.captions.y - margin - h
        return Placement(x, y, w, h)

    def allows(self, rect: Rect) -> bool:
        """True when an overlay at `rect` covers neither the captions nor any platform interface."""
        return self.safe.contains(rect) and not rect.intersects(self.captions)

    def fit(self, x: int, y: int, w: int, h: int) -> Placement:
        """`rect` itself when it is allowed, else the nearest allowed box: moved inside, scaled if too big."""
        if self.allows(Rect(x, y, w, h)):
            return Placement(x, y, w, h)
        placed = self.place(w, h)
        box = self.overlays
        nx = min(max(x, box.x), box.right - placed.w)
        ny = min(max(y, box.y), box.bottom - placed.h)
        return Placement(nx, ny, placed.w, placed.h)


def normalize_platform(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ALIASES.get(key, key)


def zones_for(platforms: Iterable[str]) -> list[Zone]:
    """The zones of the named platforms that draw an interface; none named (or only local/telegram): all.

    A video rendered for "no platform in particular" may be posted anywhere later, so it respects them all.
    """
    names = [normalize_platform(p) for p in platforms]
    known = [SAFE_ZONES[n] for n in dict.fromkeys(names) if n in SAFE_ZONES]
    return known or list(SAFE_ZONES.values())


def caption_block_height(font_size: int, max_lines: int = 2) -> int:
    """Height of the tallest caption page: `max_lines` lines of the caption font, outline included."""
    return math.ceil(max_lines * font_size * CAPTION_LINE_FACTOR) + 2 * CAPTION_OUTLINE


def layout_for(
    platforms: Iterable[str] = (), width: int = REFERENCE_WIDTH, height: int = REFERENCE_HEIGHT,
    font_size: int = 68, max_lines: int = 2, min_margin_v: int = 0,
) -> Layout:  # fmt: skip
    """The layout of a `width` x `height` frame that respects every platform in `platforms`.

    `min_margin_v` raises the caption block (its bottom at least that far above the frame's bottom).
    """
    zones = zones_for(platforms)
    sx, sy = width / REFERENCE_WIDTH, height / REFERENCE_HEIGHT
    top = math.ceil(max(z.top for z in zones) * sy)
    bottom = math.ceil(max(z.bottom for z in zones) * sy)
    left = math.ceil(max(z.left for z in zones) * sx)
    right = math.ceil(max(z.right for z in zones) * sx)
    safe = Rect(left, top, width - left - right, height - top - bottom)
    margin_v = max(bottom + math.ceil(CAPTION_PAD * sy), min_margin_v)
    block = caption_block_height(font_size, max_lines)
    margin_l = max(left, round(width * MIN_CAPTION_MARGIN_L))
    margin_r = max(right, round(width * MIN_CAPTION_MARGIN_R))
    captions = Rect(margin_l, height - margin_v - block, width - margin_l - margin_r, block)
    overlay_bottom = captions.y - math.ceil(OVERLAY_GAP * sy)
    overlays = Rect(left, top, safe.w, max(2, overlay_bottom - top))
    return Layout(
        width=width, height=height, platforms=tuple(z.platform for z in zones), safe=safe, captions=captions,
        overlays=overlays, caption_margin_v=margin_v, caption_margin_l=margin_l, caption_margin_r=margin_r,
    )  # fmt: skip


# ---------------------------------------------------------------- captions


_STYLE_FORMAT = re.compile(r"^Format:\s*(.*)$", re.IGNORECASE)


def position_captions(ass: str, layout: Layout) -> str:
    """The ASS script with every style's margins set from the layout (bottom-aligned styles only).

    The captions step writes the script once; the renderer knows the platforms, so it moves the block
    here rather than asking for a new transcription. Events with their own non-zero margins keep them.
    """
    out: list[str] = []
    fields: list[str] = []
    in_styles = False
    for line in ass.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_styles = stripped.lower() in ("[v4+ styles]", "[v4 styles]")
        elif in_styles and (fmt := _STYLE_FORMAT.match(stripped)):
            fields = [f.strip().lower() for f in fmt.group(1).split(",")]
        elif in_styles and stripped.lower().startswith("style:") and fields:
            line = _restyle(line, fields, layout)
        out.append(line)
    return "\n".join(out) + ("\n" if ass.endswith("\n") else "")


def _restyle(line: str, fields: list[str], layout: Layout) -> str:
    head, _, body = line.partition(":")
    values = [v.strip() for v in body.split(",", len(fields) - 1)]
    if len(values) != len(fields):
        return line
    index = {name: i for i, name in enumerate(fields)}
    alignment = values[index["alignment"]] if "alignment" in index else "2"
    if alignment not in ("1", "2", "3"):  # only bottom-aligned styles are the caption block
        return line
    for name, value in (("marginl", layout.caption_margin_l), ("marginr", layout.caption_margin_r),
                        ("marginv", layout.caption_margin_v)):  # fmt: skip
        if name in index:
            values[index[name]] = str(value)
    return f"{head}: {','.join(values)}"
