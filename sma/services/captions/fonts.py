"""Which font family draws a script's captions: the first candidate whose glyphs cover every character.

libass substitutes a missing glyph with an empty box, and a box-filled caption is worse than none, so the
font is chosen by coverage, not by language: the configured font, the bundled DejaVu Sans (Latin, Greek,
Cyrillic), Noto Sans and its per-script faces (Debian fonts-noto-core: Arabic, Hebrew, Devanagari, Thai,
...), then Noto Sans CJK (fonts-noto-cjk) with the face for the language (SC, TC, JP, KR). When none covers
the text the best one is used and `missing` names what is not drawn and the package that would draw it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sma
from sma.models.language import primary_language
from sma.settings import MediaSettings

FONT_NAME = "DejaVu Sans"
FONT_FILE = "DejaVuSans-Bold.ttf"
NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
_CJK_FACE = {"ja": "JP", "ko": "KR", "zh-Hant": "TC", "zh-TW": "TC", "zh-HK": "HK"}


@dataclass(frozen=True)
class CaptionFont:
    family: str
    file: Path
    missing: str = ""
    """Characters of the text this font cannot draw (empty when it covers everything)."""
    notes: list[str] = field(default_factory=list, compare=False)


@lru_cache(maxsize=64)
def _face(file: str, index: int) -> tuple[str, frozenset[int]]:
    """The family name and the code points a font face maps (fontTools reads the cmap, no rendering)."""
    from fontTools.ttLib import TTFont

    font = TTFont(file, fontNumber=index, lazy=True)
    try:
        name = font["name"]
        family = str(name.getDebugName(16) or name.getDebugName(1) or Path(file).stem)
        cmap = font.getBestCmap() or {}
        return family, frozenset(cmap)
    finally:
        font.close()


def _cjk_index(file: Path, language: str) -> int:
    """The face of a Noto CJK collection whose family ends with the language's variant (SC by default)."""
    want = _CJK_FACE.get(language) or _CJK_FACE.get(primary_language(language)) or "SC"
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(file), lazy=True)
    try:
        for i, font in enumerate(collection.fonts):
            family = str(font["name"].getDebugName(1) or "")
            if family.endswith(f"CJK {want}") and "Mono" not in family:
                return i
    finally:
        collection.close()
    return 0


def candidates(preferred: Path | None, bundled: Path, language: str) -> list[tuple[Path, int]]:
    """Font files to try, in order, with the face index inside a collection."""
    out: list[tuple[Path, int]] = []
    if preferred is not None:
        out.append((preferred, 0))
    out.append((bundled, 0))
    if NOTO_DIR.is_dir():
        out.append((NOTO_DIR / "NotoSans-Bold.ttf", 0))
        out += [(p, 0) for p in sorted(NOTO_DIR.glob("NotoSans*-Bold.ttf")) if p.name != "NotoSans-Bold.ttf"
                and "Mono" not in p.name]
    if NOTO_CJK.is_file():
        out.append((NOTO_CJK, _cjk_index(NOTO_CJK, language)))
    return [(p, i) for p, i in dict.fromkeys(out) if p.is_file()]


def _drawn(text: str) -> set[int]:
    """Code points that need a glyph: everything but spaces and invisible format characters."""
    return {ord(ch) for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc")}


def caption_font(text: str, preferred: Path | None, bundled: Path, language: str = "en") -> CaptionFont:
    """The first candidate that covers every character of `text`, else the one that covers most."""
    needed = _drawn(text)
    best: tuple[int, Path, int, str, set[int]] | None = None
    for path, index in candidates(preferred, bundled, language):
        try:
            family, covered = _face(str(path), index)
        except Exception:  # a broken or foreign file is not a candidate
            continue
        missing = needed - covered
        if not missing:
            return CaptionFont(family=family, file=path)
        if best is None or len(missing) < len(best[4]):
            best = (len(missing), path, index, family, missing)
    if best is None:
        return CaptionFont(family="DejaVu Sans", file=bundled, missing="".join(sorted(map(chr, needed)))[:40])
    _, path, _, family, missing = best
    shown = "".join(sorted(map(chr, missing)))[:20]
    return CaptionFont(family=family, file=path, missing=shown,
                       notes=[f"no installed font draws {shown!r}: install fonts-noto-core and fonts-noto-cjk "
                              "(Debian) or set media.font_file"])


def font_missing(text: str, file: Path) -> str:
    """The characters of `text` the font file cannot draw (its first face), sorted; "" when it covers all."""
    try:
        _, covered = _face(str(file), _cjk_index(file, "zh") if file.suffix.lower() == ".ttc" else 0)
    except Exception:
        return ""
    return "".join(sorted(map(chr, _drawn(text) - covered)))


def fonts_dir() -> Path:
    """The fonts shipped with the repo; the renderer passes this to libass as `fontsdir`."""
    return Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"


def caption_font_file(media: MediaSettings) -> Path:
    return Path(media.font_file) if media.font_file else fonts_dir() / FONT_FILE
