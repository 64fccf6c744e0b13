"""A folder of ready loops (bought, made, or kept from earlier runs): offline, instant, picked by mood.

A file whose path mentions the mood word (`calm/pad-01.wav`, `upbeat_synth.mp3`) is preferred; the
run's seed picks among the candidates, so a retry gets the same loop and different runs vary.
"""

from __future__ import annotations

from pathlib import Path

from sma.services.music.sources.base import AUDIO_SUFFIXES, Fetched, MusicJob


class LoopsSource:
    name = "loops"

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None

    def files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)

    def unavailable_reason(self) -> str | None:
        if self.folder is None:
            return "music.loops_dir is not set"
        if not self.folder.is_dir():
            return f"loops folder {self.folder} not found"
        if not self.files():
            return f"no audio files in the loops folder {self.folder}"
        return None

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        files = self.files()
        assert self.folder is not None
        matching = [p for p in files if job.mood in p.relative_to(self.folder).as_posix().lower()]
        pool = matching or files
        chosen = pool[job.pick % len(pool)]
        how = "mood match" if matching else "no file named for the mood"
        return Fetched(path=chosen, notes=[f"loop {chosen.relative_to(self.folder).as_posix()} ({how})"])
