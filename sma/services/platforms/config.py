"""Configuration of publishing and analytics (sections `publishing:` and `analytics:`).

Every platform has its own options (metadata limits, privacy, duration cap) with the platform's documented
defaults; `overrides` replaces a platform's options for one project. API base URLs are configurable so
tests (and proxies) can point the real clients at other servers. Account credentials are not here: they
live encrypted in the database (`sma credentials set PROJECT PLATFORM`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from sma.models.section import Section

TooLong = Literal["recut", "fail"]


class ApiEndpoints(Section):
    """Base URLs of the real APIs; change only to go through a proxy or, in tests, a local server."""

    graph: str = "https://graph.facebook.com"
    graph_version: str = "v21.0"
    facebook_upload: str = Field("https://rupload.facebook.com", description="Reels binary upload host")
    youtube: str = Field("https://www.googleapis.com", description="Data API v3 and its /upload path")
    youtube_analytics: str = "https://youtubeanalytics.googleapis.com"
    google_oauth: str = "https://oauth2.googleapis.com"
    tiktok: str = "https://open.tiktokapis.com"
    telegram: str = "https://api.telegram.org"
    cloudinary: str = "https://api.cloudinary.com"
    bluesky: str = Field("https://bsky.social", description="the PDS (credentials may name another: pds_url)")
    x: str = Field("https://api.x.com", description="X API v2, its media upload and OAuth 2.0 token endpoint")
    threads: str = "https://graph.threads.net"
    threads_version: str = "v1.0"
    linkedin: str = "https://api.linkedin.com"
    linkedin_version: str = Field("202610", description="the Linkedin-Version header (YYYYMM)")


class PlatformOptions(Section):
    """What every platform has: a duration cap and what to do with a longer video."""

    max_duration_s: float | None = Field(None, description="empty = the platform's documented cap")
    on_too_long: TooLong = Field("recut", description="recut: trim the end with ffmpeg; fail: report it")
    max_hashtags: int = 15


class YouTubeOptions(PlatformOptions):
    privacy: Literal["public", "unlisted", "private"] = "public"
    made_for_kids: bool = False
    category_id: str = Field("28", description="28 = Science & Technology, 22 = People & Blogs")
    shorts_hashtag: bool = Field(True, description="add #Shorts to the title when it fits")
    max_duration_s: float | None = 180.0
    thumbnail: bool = Field(True, description="upload a cover with the hook as the custom thumbnail")


class FacebookOptions(PlatformOptions):
    max_duration_s: float | None = 90.0


class InstagramOptions(PlatformOptions):
    share_to_feed: bool = True
    thumb_offset_ms: int = Field(1000, description="cover frame, milliseconds into the video")
    max_duration_s: float | None = 900.0
    max_hashtags: int = 30


class TikTokOptions(PlatformOptions):
    mode: Literal["direct", "inbox"] = Field("direct", description="inbox: a draft the creator finishes in app")
    privacy: Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"] = (
        "PUBLIC_TO_EVERYONE")
    disable_comment: bool = False
    disable_duet: bool = False
    disable_stitch: bool = False
    cover_timestamp_ms: int = 1000
    chunk_mb: int = Field(10, ge=5, le=64, description="upload chunk size; files under 5 MB go in one piece")
    max_duration_s: float | None = Field(None, description="empty = what creator_info allows the account")


class TelegramOptions(PlatformOptions):
    on_uncertain: Literal["skip", "resend"] = Field(
        "skip", description="an interrupted send cannot be checked on Telegram: skip = never risk a second copy")
    max_mb: float = Field(50.0, description="Bot API upload limit")


class MastodonOptions(PlatformOptions):
    visibility: Literal["public", "unlisted", "private"] = "public"
    max_chars: int = Field(500, ge=50, description="the instance's status length (500 on mastodon.social)")
    max_mb: float = Field(99.0, gt=0, description="the instance's video_size_limit")
    language: str = Field("", description="ISO 639-1 code of the posts; empty = the account's default")


class BlueskyOptions(PlatformOptions):
    max_chars: int = Field(300, ge=10, le=300, description="post text, in graphemes")
    max_mb: float = Field(100.0, gt=0, description="video blob limit")
    max_duration_s: float | None = 180.0
    language: str = Field("en", description="`langs` of the post record; empty = none")


class XOptions(PlatformOptions):
    max_chars: int = Field(280, ge=10, description="weighted length (CJK counts 2); Premium accounts: more")
    max_mb: float = Field(512.0, gt=0)
    max_duration_s: float | None = 140.0
    chunk_mb: float = Field(4.0, gt=0, le=5, description="media upload APPEND segment size")
    max_hashtags: int = 3


class ThreadsOptions(PlatformOptions):
    max_chars: int = 500
    max_mb: float = Field(1000.0, gt=0)
    max_duration_s: float | None = 300.0
    max_hashtags: int = Field(1, description="Threads links only the first topic tag of a post")


class LinkedInOptions(PlatformOptions):
    max_chars: int = 3000
    max_mb: float = Field(500.0, gt=0)
    max_duration_s: float | None = 600.0
    visibility: Literal["PUBLIC", "CONNECTIONS"] = "PUBLIC"
    max_hashtags: int = 5


class PlatformOverrides(Section):
    """Per-project replacements of a platform's options (whole objects, not single keys)."""

    youtube: YouTubeOptions | None = None
    facebook: FacebookOptions | None = None
    instagram: InstagramOptions | None = None
    tiktok: TikTokOptions | None = None
    telegram: TelegramOptions | None = None
    mastodon: MastodonOptions | None = None
    bluesky: BlueskyOptions | None = None
    x: XOptions | None = None
    threads: ThreadsOptions | None = None
    linkedin: LinkedInOptions | None = None


class S3Host(Section):
    endpoint: str = Field("https://s3.amazonaws.com", description="any S3-compatible endpoint (MinIO, R2...)")
    bucket: str = ""
    region: str = "us-east-1"
    prefix: str = "sma/"
    path_style: bool = Field(False, description="http://endpoint/bucket/key instead of bucket.endpoint/key")
    url_expiry_s: int = Field(86400, ge=60, le=604800, description="lifetime of the presigned GET link")


class CloudinaryHost(Section):
    cloud_name: str = ""
    folder: str = "sma"


class MediaHostSettings(Section):
    """Where Instagram fetches the video from (it only accepts a public URL)."""

    kind: Literal["none", "public_dir", "s3", "cloudinary"] = "none"
    public_base_url: str = Field("", description="public_dir: URL under which `public_dir` is served")
    public_dir: Path | None = Field(None, description="public_dir: folder a web server publishes")
    s3: S3Host = Field(default_factory=S3Host)
    cloudinary: CloudinaryHost = Field(default_factory=CloudinaryHost)


class PublishingSettings(Section):
    api: ApiEndpoints = Field(default_factory=ApiEndpoints)
    youtube: YouTubeOptions = Field(default_factory=YouTubeOptions)
    facebook: FacebookOptions = Field(default_factory=FacebookOptions)
    instagram: InstagramOptions = Field(default_factory=InstagramOptions)
    tiktok: TikTokOptions = Field(default_factory=TikTokOptions)
    telegram: TelegramOptions = Field(default_factory=TelegramOptions)
    mastodon: MastodonOptions = Field(default_factory=MastodonOptions)
    bluesky: BlueskyOptions = Field(default_factory=BlueskyOptions)
    x: XOptions = Field(default_factory=XOptions)
    threads: ThreadsOptions = Field(default_factory=ThreadsOptions)
    linkedin: LinkedInOptions = Field(default_factory=LinkedInOptions)
    overrides: dict[str, PlatformOverrides] = Field(default_factory=dict, description="by project id")
    media_host: MediaHostSettings = Field(default_factory=MediaHostSettings)
    http_timeout_s: float = Field(120.0, gt=0)
    poll_interval_s: float = Field(5.0, gt=0, description="container / processing status polling")
    poll_timeout_s: float = Field(600.0, gt=0)
    inline_retry_max_s: float = Field(10.0, ge=0, description="a 429 asking to wait longer goes to Temporal")
    refresh_margin_s: float = Field(300.0, ge=0, description="refresh OAuth tokens this long before expiry")
    heartbeat_s: float = Field(5.0, gt=0)

    def options(self, project_id: str, platform: str) -> PlatformOptions:
        """The platform's options for a project: the project's override if any, else the global ones."""
        override = self.overrides.get(project_id)
        chosen: PlatformOptions | None = getattr(override, platform, None) if override else None
        if chosen is not None:
            return chosen
        return getattr(self, platform, None) or PlatformOptions(max_hashtags=30)


class AnalyticsSettings(Section):
    enabled: bool = True
    interval_h: float = Field(4.0, gt=0, description="the analytics-collector Temporal Schedule")
    checkpoints_h: list[float] = Field(default_factory=lambda: [1.0, 6.0, 24.0, 48.0, 168.0], min_length=1)
    replan_min: float = Field(15.0, gt=0, description="a run looks for newly due checkpoints this often")
    late_after_min: float = Field(30.0, ge=0, description="collected later than this after due = late")
    baseline_days: int = Field(90, ge=1, description="posts compared against for the median")
    baseline_min_posts: int = Field(3, ge=1, description="fewer earlier posts: no viral score yet")
    weight_views: float = Field(0.6, ge=0)
    weight_engagement: float = Field(0.4, ge=0)
