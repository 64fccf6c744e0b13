"""Trend sources, one module per API, all behind `TrendSource` (base.py); `build_sources` wires them."""

from __future__ import annotations

from sma.services.trends.sources.base import TrendSource
from sma.services.trends.sources.feeds import FeedSource
from sma.services.trends.sources.github import GitHubSource
from sma.services.trends.sources.google_trends import GoogleTrendsSource
from sma.services.trends.sources.hackernews import HackerNewsSource
from sma.services.trends.sources.reddit import RedditSource
from sma.services.trends.sources.youtube import YouTubeSource


def build_sources(settings: object) -> dict[str, TrendSource]:
    """Every source adapter, keyed by its name, configured from `settings.trends` and the secrets."""
    from sma.settings import Settings

    assert isinstance(settings, Settings)
    trends, secrets = settings.trends, settings.secrets
    github_token, youtube_key = secrets.github_token, secrets.youtube_api_key
    sources: list[TrendSource] = [
        RedditSource(trends),
        HackerNewsSource(trends),
        GoogleTrendsSource(trends),
        GitHubSource(trends, github_token.get_secret_value() if github_token else None),
        YouTubeSource(trends, youtube_key.get_secret_value() if youtube_key else None),
        FeedSource(trends),
    ]
    return {s.name: s for s in sources}


__all__ = ["TrendSource", "build_sources"]
