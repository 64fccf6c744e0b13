"""Find a font named in the look (captions or brand kit): a file, a shipped font, or one installed.

A font can be named by path (`~/fonts/Brand.otf`), by a file name shipped in assets/fonts, or by its
family or file stem ("Noto Sans", "Noto Sans Bold", "NotoSans-Bold") when it was installed from Debian
(`apt-get install fonts-noto-core` puts it under /usr/share/fonts) or from PyPI (any installed
distribution with "font" in its name that ships .ttf/.otf files, e.g. `pip install font-roboto`). A family
name alone prefers its Bold face: captions and cards are drawn bold. A font that cannot be found is one
line that names it and how to install it; callers fall back to the shipped DejaVu Sans Bold and keep
the line as a note, so a missing font never costs a video.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sma

FONTS = Path(sma.__file__).resolve().parent.parent / "assets" / "fonts"
DEFAULT_FONT = FONTS / "DejaVuSans-Bold.ttf"
DEFAULT_FAMILY = "DejaVu Sans"
SYSTEM_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("~/.local/share/fonts"),
               Path("~/.fonts"))  # fmt: skip
SUFFIXES = (".ttf", ".otf", ".ttc")
_DEBIAN_PACKAGES = (  # family prefix -> the Debian package that installs it
    ("noto sans cjk", "fonts-noto-cjk"), ("noto serif cjk", "fonts-noto-cjk"), ("noto color emoji",
    "fonts-noto-color-emoji"), ("noto sans mono", "fonts-noto-mono"), ("noto", "fonts-noto-core"),
    ("dejavu", "fonts-dejavu-extra"), ("liberation", "fonts-liberation2"), ("roboto", "fonts-roboto"),
    ("open sans", "fonts-open-sans"), ("lato", "fonts-lato"), ("inter", "fonts-inter"),
    ("source sans", "fonts-adobe-sourcesans3"), ("fira", "fonts-firacode"), ("ubuntu", "fonts-ubuntu"),
)  # fmt: skip


class FontNotFound(ValueError):
    """A named font is not a file and not installed; the message says how to install it."""


@dataclass(frozen=True)
class Font:
    file: Path
    family: str  # the name libass matches in an ASS style


def find_font(name: str) -> Font:
    """The font `name` names (see the module docstring), or FontNotFound with a one-line fix."""
    name = name.strip()
    as_path = Path(name).expanduser()
    for candidate in (as_path, FONTS / name):
        if candidate.suffix.lower() in SUFFIXES and candidate.is_file():
            return Font(candidate, _family(candidate))
    want = _norm(as_path.stem if as_path.suffix.lower() in SUFFIXES else name)
    installed = _installed()
    for key in (want + "bold", want, want + "regular"):
        if key in installed:
            return Font(installed[key], _family(installed[key]))
    raise FontNotFound(install_hint(name))


def font_or_default(name: str | None) -> tuple[Font, str]:
    """The named font, else the shipped default and the one-line reason (empty when found or unnamed)."""
    if not name or not name.strip():
        return Font(DEFAULT_FONT, DEFAULT_FAMILY), ""
    try:
        return find_font(name), ""
    except FontNotFound as exc:
        return Font(DEFAULT_FONT, DEFAULT_FAMILY), f"{exc}; using {DEFAULT_FAMILY} Bold"


def install_hint(name: str) -> str:
    """One line: the font is missing, and the Debian package (when known) or PyPI package that has it."""
    lowered = name.lower()
    debian = next((pkg for prefix, pkg in _DEBIAN_PACKAGES if lowered.startswith(prefix)), None)
    apt = f"apt-get install {debian}" if debian else f"apt-get install its fonts-* package (apt-cache search {name!r})"
    pypi = "font-" + re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    return (f"font {name!r} not found: install it ({apt}, or pip install {pypi} if PyPI has it), "
            f"or give a .ttf/.otf path or a file in {FONTS}")  # fmt: skip


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@lru_cache(maxsize=1)
def _installed() -> dict[str, Path]:
    """Normalised file stem -> file, for the shipped, system and PyPI fonts (first found wins: shipped
    first, so the default never changes because a system has another copy)."""
    found: dict[str, Path] = {}
    files = sorted(FONTS.glob("*"))
    for folder in SYSTEM_DIRS:
        folder = folder.expanduser()
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    files += _pypi_fonts()
    for path in files:
        if path.suffix.lower() in SUFFIXES:
            found.setdefault(_norm(path.stem), path)
    return found


def _pypi_fonts() -> list[Path]:
    """Font files shipped by installed distributions with "font" in their name (font-roboto, ...)."""
    out: list[Path] = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if "font" not in name or name == "fonttools":
            continue
        for file in dist.files or []:
            if file.suffix.lower() in SUFFIXES:
                out.append(Path(str(dist.locate_file(file))))
    return sorted(out)


def _family(path: Path) -> str:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), 12).getname()[0] or path.stem
    except OSError:
        return path.stem


def clear_cache() -> None:
    """Forget the scanned fonts (after installing one while the worker runs; tests)."""
    _installed.cache_clear()
