"""Which adapter publishes to which platform for which project, built from settings and stored credentials.

Adapters are built per use (each owns an HTTP client, closed with `aclose()`): credentials may have been
changed by `sma credentials set` since the worker started, and a refreshed token must be read fresh.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sma.services.platforms.base import MetricsSource, Platform
from sma.services.platforms.bluesky import Bluesky, session_refresher
from sma.services.platforms.config import (
    BlueskyOptions,
    FacebookOptions,
    InstagramOptions,
    LinkedInOptions,
    MastodonOptions,
    PublishingSettings,
    TelegramOptions,
    ThreadsOptions,
    TikTokOptions,
    XOptions,
    YouTubeOptions,
)
from sma.services.platforms.credentials import Credentials, CredentialStore
from sma.services.platforms.errors import NotConfigured
from sma.services.platforms.facebook import FacebookReels
from sma.services.platforms.hosting import CloudinaryMediaHost, MediaHost, PublicDirHost, S3MediaHost
from sma.services.platforms.http import ApiClient
from sma.services.platforms.instagram import InstagramReels
from sma.services.platforms.linkedin import LinkedIn
from sma.services.platforms.local import LocalAdapter, LocalOutbox
from sma.services.platforms.mastodon import Mastodon
from sma.services.platforms.media import MediaPreparer
from sma.services.platforms.oauth import TokenSource, google_refresher, tiktok_refresher
from sma.services.platforms.telegram import TelegramChannel
from sma.services.platforms.threads import Threads
from sma.services.platforms.tiktok import TikTok
from sma.services.platforms.x import XPosts, x_refresher
from sma.services.platforms.youtube import YouTube
from sma.settings import BrandKit

PLATFORMS = ("local", "youtube", "facebook", "instagram", "tiktok", "telegram", "mastodon", "bluesky", "x", "threads",
             "linkedin")
# LinkedIn is absent: its post analytics need partner-only permissions (r_member_postAnalytics).
METRIC_PLATFORMS = frozenset({"youtube", "facebook", "instagram", "tiktok", "mastodon", "bluesky", "x", "threads"})


class PlatformRegistry:
    def __init__(self, publishing: PublishingSettings, credentials: CredentialStore | None, media: MediaPreparer,
                 outbox: LocalOutbox, default_bot_token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 looks: Callable[[str], BrandKit] | None = None) -> None:
        self.looks = looks or (lambda _project: BrandKit())  # a project's brand kit, for covers
        self.publishing = publishing
        self.credentials = credentials
        self.media = media
        self.outbox = outbox
        self.default_bot_token = default_bot_token
        self.transport = transport
        self.youtube_chunk_bytes = 8 * 1024 * 1024

    def _http(self, platform: str) -> ApiClient:
        p = self.publishing
        return ApiClient(platform, p.http_timeout_s, p.inline_retry_max_s, transport=self.transport)

    async def _creds(self, project_id: str, platform: str) -> Credentials:
        if self.credentials is None:
            raise NotConfigured("no Fernet key configured, so no credentials can be read: run "
                                "`sma secrets rotate` to create one, then `sma credentials set`")
        _ = self.credentials.fernet  # a malformed key is reported as such, before "no credentials"
        creds = await self.credentials.get(project_id, platform)
        if creds is None:
            raise NotConfigured(f"no {platform} credentials for project '{project_id}': run "
                                f"`sma credentials set {project_id} {platform}`")
        return creds

    async def open(self, project_id: str, platform: str) -> Platform:
        """The adapter that publishes to `platform` for `project_id`; raises NotConfigured with the fix."""
        if platform == "local":
            return LocalAdapter(self.outbox)
        if platform not in PLATFORMS:
            raise NotConfigured(f"no '{platform}' adapter; known platforms: {', '.join(PLATFORMS)}")
        return await self._build(project_id, platform, publishing=True)

    async def metrics_source(self, project_id: str, platform: str) -> MetricsSource | None:
        if platform not in METRIC_PLATFORMS:
            return None
        return await self._build(project_id, platform, publishing=False)  # type: ignore[return-value]  # these adapters also read metrics

    async def _build(self, project_id: str, platform: str, publishing: bool) -> Platform:
        creds = await self._creds(project_id, platform)
        p, api = self.publishing, self.publishing.api
        options = p.options(project_id, platform)
        if platform == "mastodon":
            assert isinstance(options, MastodonOptions)
            return Mastodon(creds.require("instance_url"), creds.require("access_token"), options, project_id,
                            p.http_timeout_s, p.inline_retry_max_s, p.poll_interval_s, p.poll_timeout_s)
        http = self._http(platform)
        if platform == "bluesky":
            assert isinstance(options, BlueskyOptions)
            pds = creds.reveal("pds_url") or api.bluesky
            tokens = TokenSource(self.credentials, creds, http, session_refresher(pds), p.refresh_margin_s,
                                 token_field="access_jwt")
            return Bluesky(pds, tokens, options)
        poll = {"poll_interval_s": p.poll_interval_s, "poll_timeout_s": p.poll_timeout_s}
        if platform == "x":
            assert isinstance(options, XOptions)
            tokens = TokenSource(self.credentials, creds, http, x_refresher(api.x), p.refresh_margin_s)
            return XPosts(api.x, tokens, options, **poll)
        if platform == "linkedin":
            assert isinstance(options, LinkedInOptions)
            tokens = TokenSource(self.credentials, creds, http)
            return LinkedIn(api.linkedin, api.linkedin_version, tokens, creds.require("author_urn"), options, **poll)
        if platform == "threads":
            assert isinstance(options, ThreadsOptions)
            tokens = TokenSource(self.credentials, creds, http)
            host = await self.media_host(project_id, http) if publishing else None
            return Threads(api.threads, api.threads_version, tokens, creds.require("threads_user_id"), options,
                           host, **poll)
        if platform == "youtube":
            tokens = TokenSource(self.credentials, creds, http, google_refresher(api.google_oauth), p.refresh_margin_s)
            assert isinstance(options, YouTubeOptions)
            return YouTube(api, tokens, options, chunk_bytes=self.youtube_chunk_bytes, brand=self.looks(project_id))
        if platform == "tiktok":
            tokens = TokenSource(self.credentials, creds, http, tiktok_refresher(api.tiktok), p.refresh_margin_s)
            assert isinstance(options, TikTokOptions)
            return TikTok(api, tokens, options, self.media, **poll)
        if platform == "facebook":
            assert isinstance(options, FacebookOptions)
            tokens = TokenSource(self.credentials, creds, http, token_field="page_access_token")
            return FacebookReels(api, tokens, creds.require("page_id"), **poll)
        if platform == "instagram":
            assert isinstance(options, InstagramOptions)
            tokens = TokenSource(self.credentials, creds, http)
            host = await self.media_host(project_id, http) if publishing else None
            return InstagramReels(api, tokens, creds.require("ig_user_id"), options, host, **poll)
        assert isinstance(options, TelegramOptions)
        token = creds.reveal("bot_token") or self.default_bot_token
        if not token:
            raise NotConfigured(f"no Telegram bot token: set secrets.telegram_bot_token or run "
                                f"`sma credentials set {project_id} telegram`")
        return TelegramChannel(api.telegram, token, creds.require("chat_id"), options, http, project_id)

    async def media_host(self, project_id: str, http: ApiClient) -> MediaHost | None:
        host = self.publishing.media_host
        if host.kind == "public_dir":
            if host.public_dir is None or not host.public_base_url:
                raise NotConfigured("media_host public_dir needs publishing.media_host.public_dir and public_base_url")
            return PublicDirHost(host.public_dir, host.public_base_url)
        if host.kind == "s3":
            creds = await self._creds(project_id, "s3")
            return S3MediaHost(http, host.s3, creds.require("access_key_id"), creds.require("secret_access_key"))
        if host.kind == "cloudinary":
            creds = await self._creds(project_id, "cloudinary")
            return CloudinaryMediaHost(http, self.publishing.api.cloudinary, host.cloudinary,
                                       creds.require("api_key"), creds.require("api_secret"))
        return None
