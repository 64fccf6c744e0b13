"""Freesound APIv2: a text search for the mood, then the chosen sound's preview (no OAuth needed).

`GET {base}/search/text/?query=&filter=&fields=&page_size=` with `Authorization: Token <key>`; each result
carries `previews` (`preview-hq-mp3`, ...), public URLs fetched without the token. The default filter keeps
to CC0 so nothing has to be credited on screen; the sound's name, author and licence go into the notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sma.services.music.sources.base import Fetched, MusicJob, MusicSourceError
from sma.services.music.sources.config import FreesoundSettings

PREVIEWS = ("preview-hq-mp3", "preview-hq-ogg", "preview-lq-mp3", "preview-lq-ogg")
MAX_PREVIEW_BYTES = 40 << 20
FIELDS = "id,name,username,license,duration,previews,url"


def preview_url(sound: dict[str, Any]) -> str | None:
    previews = sound.get("previews") or {}
    return next((previews[k] for k in PREVIEWS if previews.get(k)), None)


class FreesoundSource:
    name = "freesound"

    def __init__(self, settings: FreesoundSettings, api_key: str | None) -> None:
        self.settings = settings
        self._api_key = api_key

    def unavailable_reason(self) -> str | None:
        if not self._api_key:
            return "no Freesound API key (secrets.freesound_api_key)"
        return None

    def search(self, job: MusicJob) -> list[dict[str, Any]]:
        # Long enough to need few loops; not so long that the preview download is large.
        low, high = min(job.duration_s, 20.0), max(120.0, 2 * job.duration_s)
        params = {
            "query": job.prompt(self.settings.query),
            "filter": f"{self.settings.license_filter} duration:[{low:.0f} TO {high:.0f}]".strip(),
            "fields": FIELDS,
            "sort": "rating_desc",
            "page_size": str(self.settings.page_size),
        }
        headers = {"Authorization": f"Token {self._api_key}"}
        url = f"{self.settings.base_url.rstrip('/')}/search/text/"
        with httpx.Client(timeout=self.settings.timeout_s) as client:
            response = client.get(url, params=params, headers=headers)
        if response.status_code != 200:
            raise MusicSourceError(f"Freesound search answered HTTP {response.status_code}: {response.text[:200]}")
        return [s for s in response.json().get("results", []) if preview_url(s)]

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        sounds = self.search(job)
        if not sounds:
            raise MusicSourceError(f"no Freesound results for {job.prompt(self.settings.query)!r}")
        sound = sounds[job.pick % len(sounds)]
        url = preview_url(sound)
        assert url is not None
        suffix = ".ogg" if url.lower().endswith(".ogg") else ".mp3"
        target = workdir / f"freesound-{sound.get('id', 'x')}{suffix}"
        _download(url, target, self.settings.timeout_s)
        credit = f"freesound {sound.get('id')}: {sound.get('name', '')!r} by {sound.get('username', '?')}"
        return Fetched(path=target, notes=[f"{credit} ({sound.get('license', 'licence unknown')})"])


def _download(url: str, target: Path, timeout_s: float) -> None:
    """Stream the preview to disk with a size cap; previews are public, so no token goes with it."""
    size = 0
    with httpx.Client(timeout=timeout_s, follow_redirects=True) as client, client.stream("GET", url) as response:
        if response.status_code != 200:
            raise MusicSourceError(f"Freesound preview answered HTTP {response.status_code}")
        with target.open("wb") as fh:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_PREVIEW_BYTES:
                    raise MusicSourceError(f"Freesound preview larger than {MAX_PREVIEW_BYTES >> 20} MB")
                fh.write(chunk)
    if size == 0:
        raise MusicSourceError("Freesound preview was empty")
