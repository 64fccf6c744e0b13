"""From an HTML page to an `Article` (trafilatura: main text and metadata, without menus and footers),
and from an article to a run's `Topic`: its title, a short summary, the sentences worth saying as facts
and the link to credit."""

from __future__ import annotations

import re

import trafilatura
from pydantic import BaseModel, Field

from sma.models.topic import SUMMARY_MAX, TITLE_MAX, Topic, clean_line, clean_text, shorten
from sma.services.articles.config import ArticleSettings
from sma.services.articles.fetch import ArticleError, Page

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'“(A-Z0-9])")
FACT_CHARS = (25, 300)  # shorter is a fragment (a caption, a byline); longer will not fit one beat
SUMMARY_SENTENCES = 2


class Article(BaseModel):
    url: str = Field(description="the link a person gave; it is what the post credits")
    final_url: str = ""
    title: str
    description: str = ""
    site_name: str = ""
    text: str


def extract_article(page: Page, settings: ArticleSettings) -> Article:
    """The page's main text and metadata; `ArticleError` when there is no article to speak of."""
    doc = trafilatura.bare_extraction(page.html, url=page.final_url, with_metadata=True, include_comments=False,
                                      include_tables=False, favor_precision=True)
    text = clean_text(getattr(doc, "text", "") or "") if doc is not None else ""
    if len(text) < settings.min_chars:
        raise ArticleError(f"{page.url} has no article text that could be read ({len(text)} characters; pages "
                           "behind a login or built by JavaScript have none): start the run from a topic instead")
    title = clean_line(getattr(doc, "title", "") or "") or clean_line(text.split("\n", 1)[0])
    return Article(url=page.url, final_url=page.final_url, title=title, text=text,
                   description=clean_text(getattr(doc, "description", "") or ""),
                   site_name=clean_line(getattr(doc, "sitename", "") or ""))


def sentences(text: str) -> list[str]:
    """The article's sentences in order; a paragraph break always ends one."""
    found: list[str] = []
    for paragraph in text.split("\n"):
        found += [s.strip() for s in _SENTENCE.split(paragraph.strip()) if s.strip()]
    return found


def article_facts(article: Article, limit: int, skip: list[str] | None = None) -> list[str]:
    """Up to `limit` sentences, in the article's order: those with numbers first (they are what a viewer
    remembers and what QA checks against), then the earliest others. Headings and fragments are left out."""
    skipped = {s.casefold() for s in (skip or [])}
    low, high = FACT_CHARS
    usable = [s for s in sentences(article.text)
              if low <= len(s) <= high and s[-1:] in ".!?\"”'" and s.casefold() not in skipped
              and s.casefold() != article.title.casefold()]
    numeric = [i for i, s in enumerate(usable) if any(c.isdigit() for c in s)]
    rest = [i for i in range(len(usable)) if i not in set(numeric)]
    chosen = sorted((numeric + rest)[:limit])
    return [usable[i] for i in chosen]


def article_summary(article: Article) -> str:
    """The page's own description, else its first sentences."""
    if article.description:
        return article.description
    first = [s for s in sentences(article.text) if s.casefold() != article.title.casefold()]
    return " ".join(first[:SUMMARY_SENTENCES])


def topic_from_article(article: Article, settings: ArticleSettings, title: str = "", summary: str = "") -> Topic:
    """A person's `title`/`summary` win over the article's; the facts and the link are always the article's.
    A person's text is checked (`TopicError`); the page's own is shortened to fit."""
    own_summary = shorten(article_summary(article), SUMMARY_MAX)
    facts = article_facts(article, settings.max_facts, skip=sentences(summary or own_summary))
    if title or summary:
        return Topic.checked(title or shorten(article.title, TITLE_MAX), summary or own_summary, facts, [article.url])
    return Topic.from_source(article.title, own_summary, facts, [article.url])
