"""Download one web page for a run, with limits: http/https only, timeouts (per read and in total),
a size cap enforced while streaming, a redirect cap, and an HTML content type.

Every refusal is an `ArticleError` whose one line names the link, the problem and what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from sma.services.articles.config import ArticleSettings


class ArticleError(ValueError):
    """A link that cannot start a run; the message says why and what to do instead."""


@dataclass(frozen=True)
class Page:
    url: str  # as given
    final_url: str  # after redirects
    html: str
    content_type: str


def is_link(text: str) -> bool:
    """True when `text` is one http(s) link and nothing else (a bot message that is just a link)."""
    text = text.strip()
    return bool(text) and not any(c.isspace() for c in text) and text.lower().startswith(("http://", "https://"))


def check_url(url: str) -> str:
    """The link, trimmed, when it is an absolute http(s) URL with a host; else an `ArticleError`."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        raise ArticleError(f"{url[:200]!r} is not a web link: give the article's address starting with "
                           "https:// or http://")
    if not host or any(c.isspace() for c in url):
        raise ArticleError(f"{url[:200]!r} is not a complete web link: copy the whole address of the article")
    return url


async def fetch_page(settings: ArticleSettings, url: str,
                     transport: httpx.AsyncBaseTransport | None = None) -> Page:
    url = check_url(url)
    host = urlsplit(url).hostname
    try:
        async with asyncio.timeout(settings.timeout_s * 2):
            return await _download(settings, url, transport)
    except TimeoutError:
        raise ArticleError(f"{url} took longer than {settings.timeout_s * 2:g}s to download "
                           "(articles.timeout_s): try again later or use another link") from None
    except httpx.TimeoutException:
        raise ArticleError(f"{url} did not answer within {settings.timeout_s:g}s (articles.timeout_s): "
                           "try again later or use another link") from None
    except httpx.TooManyRedirects:
        raise ArticleError(f"{url} redirects more than {settings.max_redirects} times (articles.max_redirects): "
                           "open it in a browser and use the address it ends on") from None
    except httpx.UnsupportedProtocol:
        raise ArticleError(f"{url} redirects to a link that is not http(s): use another link") from None
    except httpx.TransportError as exc:
        raise ArticleError(f"could not reach {host} ({type(exc).__name__}): check the link and the network")\
            from None


async def _download(settings: ArticleSettings, url: str, transport: httpx.AsyncBaseTransport | None) -> Page:
    timeout = httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0))
    headers = {"User-Agent": settings.user_agent, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
    async with httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=True,
                                 max_redirects=settings.max_redirects) as http, \
            http.stream("GET", url, headers=headers) as response:
        final = str(response.url)
        if response.status_code >= 400:
            raise ArticleError(f"{url} answered HTTP {response.status_code}: check that the link opens in a browser")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in settings.content_types:
            kind = content_type or "no declared type"
            raise ArticleError(f"{url} is {kind}, not a web page (HTML): link the article's page itself")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_bytes:
            raise _too_large(url, settings)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > settings.max_bytes:
                raise _too_large(url, settings)
        encoding = response.charset_encoding or "utf-8"
    try:
        html = bytes(body).decode(encoding, errors="replace")
    except LookupError:
        html = bytes(body).decode("utf-8", errors="replace")
    return Page(url=url, final_url=final, html=html, content_type=content_type)


def _too_large(url: str, settings: ArticleSettings) -> ArticleError:
    return ArticleError(f"{url} is larger than {settings.max_bytes:,} bytes (articles.max_bytes): "
                        "link a single article, or raise the limit")
