"""Every entry point starts a run from an article link the same way: the bot (`/new <link>` and a message
that is just a link), and the dashboard's start form (its link field). Real bot against the local Bot-API
server, real dashboard app, real dev server, a local web server for the articles."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from sma.dashboard.testing import alogin
from sma.db.engine import Database
from sma.settings import Settings
from tests.article_server import ARTICLE_TITLE, FACTS, ArticleSite, serve_articles
from tests.test_article_runs import _run_input
from tests.test_bot_flow import Phone, bot_api, quick, run_id_in  # noqa: F401  (fixtures)
from tests.test_topic_validation import PASSWORD, dashboard  # noqa: F401  (fixture)


@pytest.fixture
def site() -> Iterator[ArticleSite]:
    with serve_articles() as served:
        yield served


async def _terminate(client: Client, *wf_ids: str) -> None:
    for wf_id in set(wf_ids):
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")


async def test_bot_new_with_a_link_and_a_bare_link_start_runs_from_the_article(
        client: Client, quick: tuple[Settings, Database, Phone], site: ArticleSite) -> None:  # noqa: F811
    phone = quick[2]
    url = site.url("/news/lighthouse")
    answer = await phone.say(f"/new {url}")
    first = run_id_in(answer)
    again = await phone.say(url)  # just the link: the same article, so the same run
    titled = run_id_in(await phone.say(f"/new --force {url} Keepers are back"))
    refused = await phone.say(site.url("/report.pdf"))
    try:
        assert f"Started '{ARTICLE_TITLE}' from the article in project test" in answer
        topic = (await _run_input(client, first)).topic
        assert topic.source_urls == [url] and FACTS[2] in topic.facts
        assert "already started" in again and run_id_in(again) == first
        assert titled != first and (await _run_input(client, titled)).topic.title == "Keepers are back"
        assert refused.startswith("Nothing was started: ") and "not a web page (HTML)" in refused
    finally:
        await _terminate(client, first, titled)


async def test_dashboard_start_form_takes_an_article_link(
        client: Client, dashboard: tuple[FastAPI, Settings], site: ArticleSite) -> None:  # noqa: F811
    app, _ = dashboard
    url = site.url("/short/lighthouse")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        token = await alogin(http, PASSWORD)
        form_page = (await http.get("/trends")).text
        sent = await http.post("/trends/start", data={"csrf_token": token, "url": url, "project": "test"})
        bad = await http.post("/trends/start", data={"csrf_token": token, "url": "ftp://x.example/a",
                                                     "project": "test"})
        flash = (await http.get("/trends")).text
    wf_id = sent.headers["location"].split("q=")[1]
    try:
        assert 'name="url"' in form_page
        assert wf_id.startswith("content-test-lighthouse-keepers-return")
        topic = (await _run_input(client, wf_id)).topic
        assert topic.title == ARTICLE_TITLE and topic.source_urls == [url]
        assert bad.headers["location"] == "/trends" and "is not a web link" in flash
    finally:
        await _terminate(client, wf_id)
