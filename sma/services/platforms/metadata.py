"""Per-platform metadata: the script's title, description and hashtags fitted to each platform's rules.

Limits are the platforms' documented ones: YouTube titles 100 characters and descriptions 5,000 bytes
without angle brackets (and every hashtag is ignored when there are more than 60), Instagram captions
2,200 characters and 30 hashtags, TikTok captions 2,200, Telegram captions 1,024; the short-text networks
take their limit from their options (`max_chars`: Mastodon 500, Bluesky 300 graphemes, X 280 weighted,
Threads 500, LinkedIn 3,000). Text is shortened at a word boundary with an ellipsis and hashtags are kept
whole; what was changed is listed in `notes`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from pydantic import BaseModel, Field

from sma.models.pipeline import Script
from sma.services.platforms.config import (
    InstagramOptions,
    PlatformOptions,
    TikTokOptions,
    YouTubeOptions,
)

ELLIPSIS = "…"
YOUTUBE_TITLE = 100
YOUTUBE_DESCRIPTION_BYTES = 5000
YOUTUBE_TAGS_CHARS = 500
YOUTUBE_MAX_HASHTAGS = 60
CAPTION_LIMITS = {"instagram": 2200, "tiktok": 2200, "telegram": 1024, "facebook": 5000}
FACEBOOK_TITLE = 255
MEDIA_TITLE = 200
X_URL_WEIGHT = 23
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+")


class PostDraft(BaseModel):
    """What one platform gets: already within that platform's limits."""

    platform: str
    title: str
    caption: str
    hashtags: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    privacy: str = ""
    made_for_kids: bool = False
    cover_ms: int | None = None
    notes: list[str] = Field(default_factory=list)


def normalize_hashtags(tags: list[str], limit: int) -> list[str]:
    """'#Dev Tools', 'devtools' -> ['#DevTools']: letters, digits and '_' only, no duplicates, at most `limit`."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        word = "".join(c for c in unicodedata.normalize("NFC", tag) if c.isalnum() or c == "_")
        if not word or word.casefold() in seen:
            continue
        seen.add(word.casefold())
        result.append(f"#{word}")
    return result[:max(0, limit)]


def fit(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """`text` if it fits `limit`, else cut at a word boundary with an ellipsis."""
    text = text.strip()
    if measure(text) <= limit:
        return text
    cut = text
    while cut and measure(cut + ELLIPSIS) > limit:
        cut = cut[:-1]
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + ELLIPSIS


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def x_length(text: str) -> int:
    """X's weighted length: Latin and most European scripts count 1, CJK and emoji 2, every URL 23."""
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    weight = sum(1 if any(lo <= ord(c) <= hi for lo, hi in _X_LIGHT) else 2
                 for c in unicodedata.normalize("NFC", rest))
    return weight + X_URL_WEIGHT * len(urls)


def graphemes(text: str) -> int:
    """Approximate grapheme count (Bluesky's unit): combining marks, joiners and variation selectors are free."""
    return sum(1 for c in text if not unicodedata.combining(c) and c not in "\u200d\ufe0e\ufe0f")


def _no_brackets(text: str) -> str:
    return text.replace("<", "\u2039").replace(">", "\u203a")  # YouTube refuses < and > in metadata


def _caption(script: Script, hashtags: list[str], limit: int, notes: list[str],
             measure: Callable[[str], int] = len) -> str:
    """Title, description and hashtags; the prose is shortened so the hashtags always fit whole."""
    tags = " ".join(hashtags)
    room = limit - (measure(tags) + 2 if tags else 0)
    body = "\n\n".join(p for p in (script.title.strip(), script.description.strip()) if p)
    short = fit(body, max(room, 1), measure)
    if short != body:
        notes.append(f"caption shortened to {limit} characters")
    return f"{short}\n\n{tags}".strip() if tags else short


def build_draft(platform: str, script: Script, options: PlatformOptions) -> PostDraft:
    """The draft for `platform` from the approved script and that platform's options."""
    builder = _BUILDERS.get(platform, _plain)
    return builder(platform, script, options)


def _plain(platform: str, script: Script, options: PlatformOptions) -> PostDraft:
    hashtags = normalize_hashtags(script.hashtags, options.max_hashtags)
    caption = "\n\n".join(p for p in (script.description.strip(), " ".join(hashtags)) if p)
    return PostDraft(platform=platform, title=script.title.strip(), caption=caption, hashtags=hashtags)


def _youtube(platform: str, script: Script, options: PlatformOptions) -> PostDraft:
    opts = options if isinstance(options, YouTubeOptions) else YouTubeOptions()
    notes: list[str] = []
    hashtags = normalize_hashtags(script.hashtags, min(opts.max_hashtags, YOUTUBE_MAX_HASHTAGS))
    title = _no_brackets(" ".join(script.title.split()))
    if opts.shorts_hashtag and "#shorts" not in title.casefold() and len(title) + 8 <= YOUTUBE_TITLE:
        title = f"{title} #Shorts"
    short_title = fit(title, YOUTUBE_TITLE)
    if short_title != title:
        notes.append(f"title shortened to {YOUTUBE_TITLE} characters")
    tags_line = " ".join(hashtags)
    body = _no_brackets(script.description.strip())
    room = YOUTUBE_DESCRIPTION_BYTES - (_utf8_len(tags_line) + 2 if tags_line else 0)
    description = fit(body, room, _utf8_len) if body else ""
    if description != body:
        notes.append("description shortened to 5000 bytes")
    description = "\n\n".join(p for p in (description, tags_line) if p)
    return PostDraft(platform=platform, title=short_title, caption=description, hashtags=hashtags,
                     tags=_youtube_tags(hashtags), privacy=opts.privacy, made_for_kids=opts.made_for_kids,
                     notes=notes)


def _youtube_tags(hashtags: list[str]) -> list[str]:
    """Keywords for `snippet.tags`, within YouTube's 500-character total (commas count)."""
    tags: list[str] = []
    used = 0
    for tag in (h.lstrip("#") for h in hashtags):
        cost = len(tag) + (1 if tags else 0)
        if used + cost > YOUTUBE_TAGS_CHARS:
            break
        tags.append(tag)
        used += cost
    return tags


def _captioned(platform: str, script: Script, options: PlatformOptions) -> PostDraft:
    notes: list[str] = []
    hashtags = normalize_hashtags(script.hashtags, options.max_hashtags)
    caption = _caption(script, hashtags, CAPTION_LIMITS[platform], notes)
    title = fit(" ".join(script.title.split()), FACEBOOK_TITLE)
    draft = PostDraft(platform=platform, title=title, caption=caption, hashtags=hashtags, notes=notes)
    if isinstance(options, InstagramOptions):
        draft.cover_ms = options.thumb_offset_ms
    if isinstance(options, TikTokOptions):
        draft.cover_ms = options.cover_timestamp_ms
        draft.privacy = options.privacy
    return draft


def _short_text(platform: str, script: Script, options: PlatformOptions) -> PostDraft:
    """Mastodon, Bluesky, X, Threads, LinkedIn: one text within `options.max_chars` in the network's unit."""
    notes: list[str] = []
    hashtags = normalize_hashtags(script.hashtags, options.max_hashtags)
    limit = int(getattr(options, "max_chars", 500))
    caption = _caption(script, hashtags, limit, notes, _MEASURES.get(platform, len))
    title = fit(" ".join(script.title.split()), MEDIA_TITLE)
    return PostDraft(platform=platform, title=title, caption=caption, hashtags=hashtags, notes=notes)


_MEASURES: dict[str, Callable[[str], int]] = {"x": x_length, "bluesky": graphemes}

_BUILDERS: dict[str, Callable[[str, Script, PlatformOptions], PostDraft]] = {
    "youtube": _youtube,
    "facebook": _captioned,
    "instagram": _captioned,
    "tiktok": _captioned,
    "telegram": _captioned,
    "mastodon": _short_text,
    "bluesky": _short_text,
    "x": _short_text,
    "threads": _short_text,
    "linkedin": _short_text,
}
