"""Articles as the start of a run: fetch a web page (bounded), extract its text, turn it into a `Topic`.

`article_topic` is the one call every entry point uses (CLI, batch, dashboard, bot). It runs before the
run starts, so the article's facts and link travel in the run's input and its workflow history: a retry
never fetches the page again, and a page that changes later does not change the video.
"""

from __future__ import annotations

import asyncio

import httpx

from sma.models.topic import Topic
from sma.services.articles.config import ArticleSettings
from sma.services.articles.extract import Article, extract_article, topic_from_article
from sma.services.articles.fetch import ArticleError, Page, check_url, fetch_page, is_link

__all__ = ["Article", "ArticleError", "ArticleSettings", "Page", "article_topic", "check_url",
           "extract_article", "fetch_page", "is_link", "topic_from_article"]


async def article_topic(settings: ArticleSettings, url: str, title: str = "", summary: str = "",
                        transport: httpx.AsyncBaseTransport | None = None) -> tuple[Article, Topic]:
    """Fetch and extract `url`; the `Topic` carries its facts and link. A person's `title`/`summary`
    replace the article's own. Raises `ArticleError` (one line: what is wrong, what to do)."""
    page = await fetch_page(settings, url, transport=transport)
    article = await asyncio.to_thread(extract_article, page, settings)
    return article, topic_from_article(article, settings, title=title, summary=summary)
