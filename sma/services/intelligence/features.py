"""Content features of one video, extracted from what the pipeline recorded (script, run status, post).

- length: the rendered video's duration when its file is still there, else the script's estimate;
- words per minute: the narration's words over that length;
- hook style, code / diagram / image beats: from the script;
- music tier: which music engine the run used (procedural, cached loop, MusicGen, ...);
- posting hour and weekday: local to the project's time zone; platform: the post's;
- topic cluster: `cluster_topics` over all titles analysed together (a shared keyword, see there).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sma.models.intelligence import VideoFeatures
from sma.models.pipeline import PipelineStatus, Script

DAYPARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
_WORD = re.compile(r"[a-z][a-z0-9+#.]*[a-z0-9+#]|[a-z]")
_STOP = {
    "the", "and", "for", "with", "that", "this", "your", "are", "why", "how", "what", "into", "from", "you",
    "about", "new", "now", "can", "will", "just", "its", "it's", "was", "has", "have", "not", "but", "all", "out",
    "more", "one", "get", "use", "using", "than", "over", "when", "who", "here", "our", "their", "they", "is",
    "a", "an", "of", "to", "in", "on", "at", "by", "or", "be", "vs", "do", "does", "did", "my", "we",
}


def daypart(hour: int) -> str:
    for name, start, end in DAYPARTS:
        if start <= hour < end:
            return name
    return "night"


def is_weekend(weekday: int) -> bool:
    return weekday >= 5


def video_duration(path: str) -> float | None:
    """Seconds of a rendered video, or None when the file is gone or unreadable."""
    if not path or not Path(path).is_file():
        return None
    try:
        import av

        with av.open(path) as container:
            if container.duration:
                return container.duration / 1_000_000
    except Exception:  # a damaged or foreign file: fall back to the script's estimate
        return None
    return None


def extract(script: Script | None, status: PipelineStatus | None, platform: str, published_at: datetime,
            zone: ZoneInfo, duration_s: float | None = None, title: str = "") -> VideoFeatures:
    """The features of one post; missing inputs leave neutral defaults ("unknown", 0, False)."""
    local = published_at.astimezone(zone)
    features = VideoFeatures(platform=platform, hour=local.hour, weekday=local.weekday(),
                             topic=title or (script.title if script else ""))
    if status is not None:
        music = status.steps.get("music")
        features.music_tier = (music.tier or "none") if music is not None else "none"
    if script is None:
        return features
    words = len(script.narration().split())
    length = duration_s or script.estimated_seconds
    kinds = {beat.visual.kind for beat in script.beats}
    features.hook_style = script.hook_style
    features.length_s = round(float(length), 2)
    features.words_per_minute = round(words * 60 / length, 1) if length > 0 else 0.0
    features.has_code = "code" in kinds
    features.has_diagram = "diagram" in kinds
    features.has_image = "image" in kinds
    return features


def keywords(title: str) -> list[str]:
    words = _WORD.findall(title.lower())
    return [w.strip(".") for w in words if len(w.strip(".")) >= 2 and w.strip(".") not in _STOP]


def cluster_topics(titles: Sequence[str], min_titles: int = 2) -> list[str]:
    """A topic cluster per title: its keyword shared by the most titles (at least `min_titles`), else
    "other". Deterministic and explainable ("rust", "python"); ties go to the alphabetically first word.
    An embedding clustering was considered; keyword clusters name themselves and need no model."""
    sets = [set(keywords(t)) for t in titles]
    df = Counter(word for words in sets for word in words)
    out = []
    for words in sets:
        shared = [w for w in words if df[w] >= min_titles]
        out.append(min(shared, key=lambda w: (-df[w], w)) if shared else "other")
    return out
