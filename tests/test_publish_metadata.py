"""Per-platform metadata: limits, hashtags, privacy, made-for-kids and cover frames."""

from __future__ import annotations

from sma.services.platforms.config import InstagramOptions, TikTokOptions, YouTubeOptions
from sma.services.platforms.metadata import build_draft, fit, normalize_hashtags
from tests.platform_fakes.kit import script


def test_hashtags_are_cleaned_deduplicated_and_capped() -> None:
    assert normalize_hashtags(["#Dev Tools", "devtools", "c++", "python", "#", "ünïcode"], 10) == [
        "#DevTools", "#c", "#python", "#ünïcode"]
    assert normalize_hashtags([f"t{i}" for i in range(50)], 30) == [f"#t{i}" for i in range(30)]


def test_fit_cuts_at_a_word_with_an_ellipsis() -> None:
    assert fit("short", 10) == "short"
    cut = fit("one two three four five six", 15)
    assert cut == "one two three…" and len(cut) <= 15


def test_youtube_title_description_tags_privacy_and_kids_flag() -> None:
    s = script(title="A <very> long title " + "word " * 30, hashtags=[f"tag{i}" for i in range(80)],
               description="ü" * 3000)
    draft = build_draft("youtube", s, YouTubeOptions(privacy="unlisted", made_for_kids=True, max_hashtags=100))
    assert len(draft.title) <= 100 and "<" not in draft.title and ">" not in draft.title
    assert len(draft.caption.encode()) <= 5000 and draft.caption.endswith("#tag59")  # more than 60 = all ignored
    assert len(draft.hashtags) == 60 and len(",".join(draft.tags)) <= 500
    assert draft.privacy == "unlisted" and draft.made_for_kids
    assert "title shortened to 100 characters" in draft.notes and "description shortened to 5000 bytes" in draft.notes
    assert build_draft("youtube", script(), YouTubeOptions()).title == "Why uv is so fast #Shorts"


def test_instagram_tiktok_and_telegram_captions() -> None:
    s = script(hashtags=[f"tag{i}" for i in range(40)], description="word " * 1000)
    ig = build_draft("instagram", s, InstagramOptions(thumb_offset_ms=2500))
    assert len(ig.caption) <= 2200 and ig.caption.count("#") == 30 and ig.cover_ms == 2500
    tt = build_draft("tiktok", s, TikTokOptions(privacy="SELF_ONLY", cover_timestamp_ms=500, max_hashtags=5))
    assert len(tt.caption) <= 2200 and tt.caption.endswith("#tag4") and tt.privacy == "SELF_ONLY" and tt.cover_ms == 500
    from sma.services.platforms.config import TelegramOptions

    tg = build_draft("telegram", s, TelegramOptions())
    assert len(tg.caption) <= 1024 and tg.caption.startswith("Why uv is so fast")
