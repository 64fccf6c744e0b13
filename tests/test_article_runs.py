"""A link starts a run: `sma run --url` puts the article's facts and link into the run's input (its workflow
history, so retries never refetch the page), refuses an unusable link in one line, and a real pipeline
(offline tiers, short target) turns the article into a published video whose script says the article's
facts and whose post metadata credits the link."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner

from sma.cli import app as cli_app
from sma.client import RunClient
from sma.db.engine import Database
from sma.models.pipeline import PipelineInput, PipelineResult, RunState, ScriptResult
from sma.services import runs
from sma.services.articles import article_topic
from sma.settings import Settings
from tests.article_server import ARTICLE_TITLE, FACTS, ArticleSite, serve_articles
from tests.conftest import running_workers

runner = CliRunner()


@pytest.fixture
def site() -> Iterator[ArticleSite]:
    with serve_articles() as served:
        yield served


def _env(client: Client, tmp_path: Path) -> dict[str, str]:
    return {"SMA_DATA_DIR": str(tmp_path / "data"), "SMA_TEMPORAL__ADDRESS": client.service_client.config.target_host}


async def _run_input(client: Client, wf_id: str) -> PipelineInput:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [inp] = pydantic_data_converter.payload_converter.from_payloads(payloads, [PipelineInput])
    return inp


async def test_sma_run_url_starts_a_run_that_carries_the_article(
        client: Client, tmp_path: Path, site: ArticleSite) -> None:
    url = site.url("/news/lighthouse")

    def sma_run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli_app, ["run", *args], env=_env(client, tmp_path))
        return result.exit_code, result.stdout, result.stderr

    code, out, err = await asyncio.to_thread(sma_run, "--url", url)
    wf_id = out.strip().splitlines()[-1]
    try:
        assert code == 0, out + err
        assert wf_id.startswith("content-default-lighthouse-keepers-return")
        topic = (await _run_input(client, wf_id)).topic
        assert topic.title == ARTICLE_TITLE and topic.source_urls == [url]
        assert all(fact in topic.facts for fact in FACTS)
        code, again, note = await asyncio.to_thread(sma_run, "--url", url)
        assert code == 0 and again.strip() == wf_id and "already started" in note
    finally:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")


async def test_sma_run_url_refuses_an_unusable_link_in_one_line(
        client: Client, tmp_path: Path, site: ArticleSite) -> None:
    pdf = await asyncio.to_thread(runner.invoke, cli_app, ["run", "--url", site.url("/report.pdf")],
                                  env=_env(client, tmp_path))
    assert pdf.exit_code == 1 and "is application/pdf, not a web page (HTML)" in pdf.output
    scheme = runner.invoke(cli_app, ["run", "--url", "file:///etc/passwd"], env=_env(client, tmp_path))
    assert scheme.exit_code == 2 and "is not a web link" in scheme.output
    nothing = runner.invoke(cli_app, ["run"], env=_env(client, tmp_path))
    assert nothing.exit_code == 2 and "--url https://" in nothing.output


async def _script_results(client: Client, wf_id: str) -> list[ScriptResult]:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    names = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    results = []
    for event in history.events:
        attrs = event.activity_task_completed_event_attributes
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED \
                and names.get(attrs.scheduled_event_id) == "write_script":
            [result] = pydantic_data_converter.payload_converter.from_payloads(attrs.result.payloads, [ScriptResult])
            results.append(result)
    return results


@pytest.mark.slow
async def test_a_link_becomes_a_published_video_with_the_articles_facts_and_source(
        client: Client, settings: Settings, database: Database, suffix: str, site: ArticleSite) -> None:
    url = site.url("/news/lighthouse")
    _, topic = await article_topic(settings.articles, url)
    inp = await runs.new_run_input(settings, database, topic, "test", entry="cli", autonomy="autonomous")
    async with running_workers(client, settings, database, suffix):
        started = await RunClient(client, settings, None, queue_suffix=suffix).start_input(inp)
        result = await client.get_workflow_handle(started.workflow_id, result_type=PipelineResult).result()
        scripts = await _script_results(client, started.workflow_id)
    assert result.state == RunState.PUBLISHED, result.status.error
    script = scripts[-1].script
    narration = script.narration()
    assert scripts[-1].tier == "template" and scripts[-1].qa.passed
    assert "41 years" in narration and any(fact in narration for fact in FACTS)
    [metadata_file] = (settings.data_dir / "outbox").rglob("metadata.json")
    metadata = json.loads(metadata_file.read_text())
    assert f"Source: {url}" in metadata["description"] and metadata["title"] == ARTICLE_TITLE
