"""A link becomes a run's topic: the article is fetched over real HTTP from a local server (within limits
of scheme, time, size and content type), its text extracted with trafilatura, and its facts and link
reach the script and the post's description, whichever writer tier wrote it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sma.models.pipeline import Script, ScriptRequest
from sma.services.articles import ArticleError, ArticleSettings, article_topic, check_url, is_link
from sma.services.script.template import TemplateScriptWriter
from sma.services.source_credit import credit_sources
from sma.settings import PipelineSettings, ProjectSettings
from tests.article_server import ARTICLE_TITLE, FACTS, ArticleSite, serve_articles

LIMITS = ArticleSettings(timeout_s=1.0, max_bytes=1_000_000)


@pytest.fixture
def site() -> Iterator[ArticleSite]:
    with serve_articles() as served:
        yield served


async def test_an_article_link_becomes_a_topic_with_its_facts_and_link(site: ArticleSite) -> None:
    url = site.url("/short/lighthouse")  # a redirect, as shared links often are
    article, topic = await article_topic(LIMITS, url)
    assert article.final_url == site.url("/news/lighthouse") and article.site_name == "Harbour Gazette"
    assert topic.title == ARTICLE_TITLE
    assert topic.summary == "A lighthouse on the northern coast gets human keepers again."
    assert all(fact in topic.facts for fact in FACTS)
    assert not any("Subscribe" in f or "Home" in f for f in topic.facts)  # menus and footers are not facts
    assert topic.source_urls == [url]  # the link the person gave is the one credited


async def test_a_persons_title_and_summary_win_over_the_articles(site: ArticleSite) -> None:
    _, topic = await article_topic(LIMITS, site.url("/news/lighthouse"), "Why lighthouses still matter", "Mine.")
    assert topic.title == "Why lighthouses still matter" and topic.summary == "Mine."
    assert FACTS[0] in topic.facts and topic.source_urls == [site.url("/news/lighthouse")]


@pytest.mark.parametrize(("path", "message"), [
    ("/report.pdf", "is application/pdf, not a web page (HTML)"),
    ("/huge-declared", "is larger than 1,000,000 bytes (articles.max_bytes)"),
    ("/huge-streamed", "is larger than 1,000,000 bytes (articles.max_bytes)"),
    ("/slow", "(articles.timeout_s)"),
    ("/empty", "has no article text that could be read"),
    ("/missing", "answered HTTP 404"),
    ("/loop", "redirects more than 5 times (articles.max_redirects)"),
    ("/to-ftp", "redirects to a link that is not http(s)"),
])
async def test_pages_that_are_not_usable_articles_are_refused_in_one_line(
        site: ArticleSite, path: str, message: str) -> None:
    with pytest.raises(ArticleError) as raised:
        await article_topic(LIMITS, site.url(path))
    text = str(raised.value)
    assert message in text and "\n" not in text and ":" in text


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a", "javascript:alert(1)",
                                 "example.com/news", "https://", "http://exa mple.com/"])
def test_only_complete_http_links_are_fetched(url: str) -> None:
    with pytest.raises(ArticleError, match="web link"):
        check_url(url)


def test_a_message_that_is_just_a_link_is_recognised() -> None:
    assert is_link(" https://example.com/news/a?x=1 ") and is_link("http://example.com")
    assert not is_link("read https://example.com") and not is_link("ftp://example.com") and not is_link("")


async def test_the_template_script_says_the_articles_facts_and_credits_its_link(site: ArticleSite) -> None:
    url = site.url("/news/lighthouse")
    _, topic = await article_topic(LIMITS, url)
    project = ProjectSettings(id="test", niche="coastal heritage", platforms=["local", "youtube"])
    writer = TemplateScriptWriter(PipelineSettings(target_seconds=20))
    script = writer.write(ScriptRequest(project_id="test", run_id="r", topic=topic), project)
    narration = script.narration()
    assert any(fact in narration for fact in FACTS)
    assert f"Source: {url}" in script.description
    assert all(f"Source: {url}" in d for d in script.platform_descriptions.values())


def test_credit_adds_missing_links_once_to_every_description() -> None:
    from sma.models.topic import Topic

    topic = Topic(title="t", source_urls=["https://a.example/1", "https://b.example/2"])
    llm_script = Script(title="t", hook="h", beats=[], description="An LLM description. Source: https://a.example/1",
                        platform_descriptions={"youtube": "For YouTube."})
    credited = credit_sources(llm_script, topic)
    assert credited.description == ("An LLM description. Source: https://a.example/1\nSource: https://b.example/2")
    assert credited.platform_descriptions["youtube"] == (
        "For YouTube.\nSource: https://a.example/1\nSource: https://b.example/2")
    assert credit_sources(credited, topic) == credited
    assert credit_sources(llm_script, Topic(title="t")) == llm_script
