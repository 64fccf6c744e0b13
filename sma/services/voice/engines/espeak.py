"""espeak-ng: the offline floor for a language no installed Piper voice speaks.

Formant synthesis from Debian's `espeak-ng` package: it speaks ~100 languages with no model files, and
sounds robotic. It is appended after Piper only for projects in another language than English, and its
label says "floor" so a run never passes it off as a natural voice.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from sma.models.language import primary_language
from sma.services.voice.engines.base import EngineContext

WORDS_PER_MINUTE = 160
"""espeak-ng's -s: close to the pipeline's pacing, slower than its default 175 for intelligibility."""


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


@lru_cache(maxsize=32)
def espeak_voice(language: str) -> str | None:
    """The espeak-ng voice for a BCP-47 tag: the exact tag ("es-419") if espeak has it, else the primary."""
    binary = espeak_binary()
    if binary is None:
        return None
    for candidate in dict.fromkeys([language.lower(), primary_language(language)]):
        out = subprocess.run([binary, f"--voices={candidate}"], capture_output=True, text=True, timeout=10)
        rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
        if any(len(row) > 1 and row[1].lower() == candidate for row in rows):
            return candidate
    return None


class EspeakEngine:
    name = "espeak-ng"

    def __init__(self, language: str, words_per_minute: int = WORDS_PER_MINUTE, amplitude: int = 80) -> None:
        self.language = language
        self.words_per_minute = words_per_minute
        # espeak's default amplitude (100) peaks at full scale on some phonemes; 80 leaves headroom.
        self.amplitude = amplitude

    @classmethod
    def from_context(cls, ctx: EngineContext) -> EspeakEngine:
        return cls(ctx.language)

    @property
    def label(self) -> str:
        return f"espeak-ng {espeak_voice(self.language) or self.language} (floor: robotic, offline)"

    def unavailable_reason(self) -> str | None:
        if espeak_binary() is None:
            return "espeak-ng is not installed (apt-get install espeak-ng)"
        if espeak_voice(self.language) is None:
            return f"espeak-ng has no voice for {self.language}"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        binary, voice = espeak_binary(), espeak_voice(self.language)
        if binary is None or voice is None:
            raise RuntimeError(self.unavailable_reason() or "espeak-ng unavailable")
        # Text on stdin: a script starting with "-" is not an option, and no length limit of argv applies.
        cmd = [binary, "-v", voice, "-s", str(self.words_per_minute), "-a", str(self.amplitude), "-w",
               str(out_wav), "--stdin"]
        done = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or not out_wav.is_file() or out_wav.stat().st_size <= 44:
            raise RuntimeError(f"espeak-ng failed ({done.returncode}): {done.stderr.strip()[:200]}")
