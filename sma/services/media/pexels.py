"""Pexels video search and download (https://www.pexels.com/api/documentation/#videos-search).

`GET {base}/videos/search?query=&orientation=portrait&per_page=&page=` with the API key as the raw
`Authorization` header; each video lists `video_files` (renditions with width, height and a `link`).
We keep only what the background step needs: the clip id, its page and author (attribution), its
duration and the rendition closest to the size we render from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sma.settings import VisualSettings


class PexelsError(RuntimeError):
    """The API answered with an error or something that is not a search result."""


@dataclass(frozen=True)
class StockClip:
    id: str
    duration_s: float
    width: int
    height: int
    file_url: str
    page_url: str = ""
    author: str = ""


class PexelsClient:
    def __init__(self, settings: VisualSettings, api_key: str) -> None:
        self.settings = settings
        self.api_key = api_key

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.settings.pexels_base_url.rstrip("/"),
            headers={"Authorization": self.api_key, "User-Agent": "sma/0.1"},
            timeout=self.settings.http_timeout_s,
            follow_redirects=True,
        )

    def search(self, query: str, page: int = 1, min_height: int = 1280) -> list[StockClip]:
        """Portrait clips for `query`, in Pexels' relevance order, each with its best rendition."""
        params: dict[str, str | int] = {"query": query, "orientation": "portrait",
                                        "per_page": self.settings.pexels_per_page, "page": page}
        with self._client() as http:
            reply = http.get("/videos/search", params=params)
        if reply.status_code in (401, 403):
            raise PexelsError(f"Pexels rejected the API key ({reply.status_code})")
        if reply.status_code == 429:
            raise PexelsError("Pexels rate limit reached (429); try again later")
        if reply.status_code >= 400:
            raise PexelsError(f"Pexels search failed with HTTP {reply.status_code}")
        try:
            videos = reply.json()["videos"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PexelsError("Pexels search returned no 'videos' list") from exc
        clips = [_clip(video, min_height) for video in videos if isinstance(video, dict)]
        return [c for c in clips if c is not None and c.duration_s >= self.settings.pexels_min_duration_s]

    def download(self, clip: StockClip, out: Path) -> None:
        """Stream the rendition to `out`, stopping at `stock_max_mb` so a wrong link cannot fill the disk."""
        limit = int(self.settings.stock_max_mb * 1024 * 1024)
        written = 0
        with self._client() as http, http.stream("GET", clip.file_url) as reply:
            if reply.status_code >= 400:
                raise PexelsError(f"download of clip {clip.id} failed with HTTP {reply.status_code}")
            with out.open("wb") as fh:
                for chunk in reply.iter_bytes(1 << 16):
                    written += len(chunk)
                    if written > limit:
                        raise PexelsError(f"clip {clip.id} is larger than {self.settings.stock_max_mb:.0f} MB")
                    fh.write(chunk)
        if written == 0:
            raise PexelsError(f"clip {clip.id} downloaded empty")


def _clip(video: dict[str, Any], min_height: int) -> StockClip | None:
    files = [f for f in video.get("video_files") or [] if _is_mp4(f)]
    if not files:
        return None
    best = choose_rendition(files, min_height)
    user = video.get("user") or {}
    return StockClip(
        id=str(video.get("id", "")), duration_s=float(video.get("duration") or 0),
        width=int(best.get("width") or 0), height=int(best.get("height") or 0), file_url=str(best["link"]),
        page_url=str(video.get("url") or ""), author=str(user.get("name") or ""),
    )  # fmt: skip


def _is_mp4(rendition: Any) -> bool:
    return isinstance(rendition, dict) and bool(rendition.get("link")) and (
        rendition.get("file_type") in (None, "", "video/mp4")
    )


def choose_rendition(files: list[dict[str, Any]], min_height: int) -> dict[str, Any]:
    """The smallest rendition at least `min_height` tall, else the tallest: enough pixels for the output,
    no more to download and decode."""

    def size(f: dict[str, Any]) -> tuple[int, int]:
        return int(f.get("height") or 0), int(f.get("width") or 0)

    big_enough = [f for f in files if size(f)[0] >= min_height]
    return min(big_enough, key=size) if big_enough else max(files, key=size)
