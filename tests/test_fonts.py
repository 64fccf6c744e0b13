"""Fonts named in the look: shipped, installed from Debian (fonts-noto*) or from a PyPI font package; a
missing one is a one-line reason and the shipped font, never a failed video."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.models.common import Word
from sma.models.pipeline import RenderRequest
from sma.services.artifacts import ArtifactStore
from sma.services.captions.ass import build_ass
from sma.services.media import fonts
from sma.services.media.cards import font_note, font_path, title_card
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.fonts import DEFAULT_FONT, FontNotFound, find_font, font_or_default
from sma.services.media.look import look_with_font
from sma.services.media.render import FONTS_BESIDE, RenderService
from sma.settings import BrandKit, CaptionStyle, LookSettings, MediaSettings

NOTO = Path("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf")


@pytest.fixture
def pypi_font(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed PyPI font distribution (dist-info with its RECORD) on sys.path, like `pip install`
    leaves one: the font file is the shipped DejaVu Sans Bold under another name."""
    site = tmp_path / "site"
    package = site / "font_brandsans"
    package.mkdir(parents=True)
    font = package / "BrandSans-Bold.ttf"
    shutil.copy(DEFAULT_FONT, font)
    info = site / "font_brandsans-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: font-brandsans\nVersion: 1.0\n")
    (info / "RECORD").write_text("font_brandsans/BrandSans-Bold.ttf,,\nfont_brandsans-1.0.dist-info/METADATA,,\n")
    monkeypatch.syspath_prepend(str(site))
    fonts.clear_cache()
    yield font
    fonts.clear_cache()


def test_shipped_font_by_family_file_or_path() -> None:
    assert find_font("DejaVu Sans").file == DEFAULT_FONT  # a family alone prefers Bold
    assert find_font("DejaVuSans-Bold.ttf").file == DEFAULT_FONT
    assert find_font(str(DEFAULT_FONT)).family == "DejaVu Sans"


@pytest.mark.skipif(not NOTO.is_file(), reason="no Debian fonts-noto-core (apt-get install fonts-noto-core)")
def test_font_installed_from_debian_by_family() -> None:
    fonts.clear_cache()
    found = find_font("Noto Sans")
    assert found.file == NOTO and found.family == "Noto Sans"
    assert find_font("NotoSans-Bold").file == NOTO
    look, font, reason = look_with_font(MediaSettings(look=LookSettings(captions=CaptionStyle(font="Noto Sans"))), "p")
    assert (look.font, font.file, reason) == ("Noto Sans", NOTO, "")
    assert font_path(BrandKit(font="Noto Sans")) == NOTO and font_note(BrandKit(font="Noto Sans")) == ""


def test_font_from_a_pypi_package(pypi_font: Path) -> None:
    found = find_font("BrandSans")
    assert found.file == pypi_font and found.family == "DejaVu Sans"  # the family inside the file
    title_card("the hook", 540, 400, BrandKit(font="BrandSans"))  # cards draw with it


def test_missing_font_is_one_line_naming_it_and_how_to_install() -> None:
    with pytest.raises(FontNotFound) as caught:
        find_font("Noto Sans Klingon")
    message = str(caught.value)
    assert "\n" not in message and "'Noto Sans Klingon'" in message and "apt-get install fonts-noto-core" in message
    font, reason = font_or_default("Comic Brand")
    assert font.file == DEFAULT_FONT and "pip install font-comic-brand" in reason and "using DejaVu Sans" in reason
    look, found, reason = look_with_font(MediaSettings(look=LookSettings(captions=CaptionStyle(font="Nope"))), "p")
    assert look.font == "DejaVu Sans" and found.file == DEFAULT_FONT and "'Nope' not found" in reason
    assert font_path(BrandKit(font="Nope")) == DEFAULT_FONT and "'Nope' not found" in font_note(BrandKit(font="Nope"))


def test_render_gives_libass_the_folder_of_a_pypi_caption_font(pypi_font: Path, tmp_path: Path) -> None:
    settings = MediaSettings(width=270, height=480, encoder="libx264",
                             look=LookSettings(captions=CaptionStyle(font="BrandSans")))  # fmt: skip
    store = ArtifactStore(tmp_path / "store")
    ffmpeg = FFmpeg(None, 0)
    voice = tmp_path / "voice.wav"
    ffmpeg.run(["-loglevel", "error", "-f", "lavfi", "-i", "sine=f=200:d=1", "-ar", "22050", str(voice)])
    look, _, _ = look_with_font(settings, "p")
    ass = build_ass([Word(text="brand", start=0.1, end=0.8)], 270, 480, look.font, look.font_size, look=look)
    assert "Style: Default,DejaVu Sans," in ass  # the family inside the PyPI font's file
    captions = store.put_bytes(ass.encode(), ".ass", kind="captions")
    req = RenderRequest(project_id="p", run_id="r", voice=store.put(voice, kind="voice"), duration_s=1.0,
                        captions=captions)  # fmt: skip
    service = RenderService(store, ffmpeg, settings)
    work = tmp_path / "work"
    work.mkdir()
    placed = service.prepare(req, work, notes := [])
    assert not notes and Path(placed.captions.path).parent == work
    assert (work / FONTS_BESIDE / pypi_font.name).resolve() == pypi_font.resolve()
    assert f"fontsdir={work / FONTS_BESIDE}" in " ".join(service.build_args(placed, tmp_path / "o.mp4", 1.6, "libx264"))
    assert service.render(req).video.size > 0
