"""The layout engine, per platform: overlays never cover captions or a platform's interface, and the
captions libass actually draws stay inside the band the layout reserved for them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from sma.models.common import Word
from sma.services.captions.ass import build_ass
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.layout import SAFE_ZONES, Rect, layout_for, position_captions, zones_for
from sma.services.media.render import FONTS_DIR, escape_filter_path

PLATFORMS = ["tiktok", "instagram", "youtube"]


def even_words(text: str, start: float, end: float) -> list[Word]:
    tokens = text.split()
    step = (end - start) / len(tokens)
    return [Word(text=t, start=start + i * step, end=start + (i + 1) * step - 0.02) for i, t in enumerate(tokens)]


def _ui_rects(platform: str, width: int = 1080, height: int = 1920) -> list[Rect]:
    """The four interface bands of one platform, as rectangles on the frame."""
    z = SAFE_ZONES[platform]
    return [
        Rect(0, 0, width, z.top),
        Rect(0, height - z.bottom, width, z.bottom),
        Rect(0, 0, z.left, height),
        Rect(width - z.right, 0, z.right, height),
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_regions_keep_clear_of_that_platforms_interface(platform: str) -> None:
    layout = layout_for([platform])
    assert layout.platforms == (platform,)
    for ui in _ui_rects(platform):
        assert not layout.overlays.intersects(ui), (platform, ui)
        assert not layout.captions.intersects(ui), (platform, ui)
    assert not layout.overlays.intersects(layout.captions)
    assert layout.overlays.bottom < layout.captions.y  # a gap, not just no overlap
    assert layout.captions.bottom == 1920 - layout.caption_margin_v
    assert layout.overlays.h > 600 and layout.overlays.w > 800  # still room for a readable card


@pytest.mark.parametrize("platform", PLATFORMS)
def test_place_and_fit_respect_the_zones(platform: str) -> None:
    layout = layout_for([platform])
    for w, h, anchor in ((960, 900, "top"), (300, 200, "center"), (2000, 3000, "center"), (800, 1400, "top")):
        placed = layout.place(w, h, anchor=anchor)
        assert layout.allows(placed.rect), (w, h, placed)
        assert placed.w <= w and placed.h <= h
        assert abs(placed.w / placed.h - w / h) < 0.02  # aspect kept when scaled down
    # A card someone put over the captions is moved up into the overlay region, scaled if needed.
    bad = layout.fit(60, layout.captions.y - 100, 960, 500)
    assert layout.allows(bad.rect)
    ok = layout.place(400, 300)
    assert layout.fit(ok.x, ok.y, ok.w, ok.h) == ok  # an allowed box is left alone


def test_platforms_differ_and_the_union_is_the_strictest() -> None:
    tiktok, reels, shorts = (layout_for([p]) for p in PLATFORMS)
    assert reels.caption_margin_v > shorts.caption_margin_v > tiktok.caption_margin_v  # Reels' 35 % bottom
    everything = layout_for([])
    assert everything.platforms == tuple(SAFE_ZONES)
    assert layout_for(["local", "telegram"]) == everything  # no interface known: respect them all
    assert layout_for(["shorts", "Reels"]).platforms == ("youtube", "instagram")
    for one in (tiktok, reels, shorts):
        assert one.safe.contains(everything.safe)
        assert everything.caption_margin_v >= one.caption_margin_v
    assert [z.platform for z in zones_for(["tiktok", "unknown"])] == ["tiktok"]


def test_small_frames_scale_the_margins() -> None:
    big, small = layout_for(["tiktok"]), layout_for(["tiktok"], width=270, height=480, font_size=17)
    assert small.safe.y == pytest.approx(big.safe.y / 4, abs=1)
    assert small.safe.w == pytest.approx(big.safe.w / 4, abs=2)
    assert not small.overlays.intersects(small.captions)


def test_position_captions_rewrites_only_bottom_styles() -> None:
    layout = layout_for(["instagram"])
    ass = build_ass(even_words("hello there world", 0.0, 2.0), 1080, 1920, "DejaVu Sans")
    title_style = ("Style: Title,DejaVu Sans,60,&H00FFFFFF,&H0000FFFF,&H00000000,&H96000000,-1,0,0,0,"
                   "100,100,0,0,1,4,2,8,10,10,40,1")
    ass = ass.replace("\n\n[Events]", f"\n{title_style}\n\n[Events]")
    assert title_style in ass.split("[Events]")[0]
    placed = position_captions(ass, layout)
    default = next(line for line in placed.splitlines() if line.startswith("Style: Default"))
    fields = default.split(",")
    assert fields[-4:-1] == [str(layout.caption_margin_l), str(layout.caption_margin_r), str(layout.caption_margin_v)]
    assert placed.count("Dialogue:") == ass.count("Dialogue:")
    title = next(line for line in placed.splitlines() if line.startswith("Style: Title"))
    assert title.endswith(",8,10,10,40,1")  # top-aligned styles are left alone
    assert position_captions(placed, layout) == placed  # idempotent


def _rows_with_ink(frame: np.ndarray) -> tuple[int, int]:
    rows = np.where(frame.max(axis=1) > 40)[0]
    return int(rows.min()), int(rows.max())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_libass_draws_captions_inside_the_caption_band(platform: str, tmp_path: Path) -> None:
    """Burn a two-line page with the active (110 %) word into a black frame; measure where ink lands."""
    layout = layout_for([platform])
    words = even_words("Typing less code means shipping much faster today", 0.0, 1.0)
    ass = position_captions(build_ass(words, 1080, 1920, "DejaVu Sans", 68), layout)
    (tmp_path / "c.ass").write_text(ass, encoding="utf-8")
    out = tmp_path / "frame.png"
    burn = f"ass=filename={escape_filter_path(str(tmp_path / 'c.ass'))}:fontsdir={escape_filter_path(str(FONTS_DIR))}"
    FFmpeg().run([
        "-loglevel", "error", "-f", "lavfi", "-i", "color=black:s=1080x1920:r=30:d=0.5", "-vf", burn,
        "-ss", "0.35", "-frames:v", "1", "-update", "1", str(out),
    ])  # fmt: skip
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray")
    top, bottom = _rows_with_ink(frame)
    assert layout.captions.y <= top and bottom <= layout.captions.bottom, (top, bottom, layout.captions)
    assert bottom - top > 68  # really two lines
    for ui in _ui_rects(platform):
        assert not frame[ui.y : ui.bottom, ui.x : ui.right].max() > 40, ui
