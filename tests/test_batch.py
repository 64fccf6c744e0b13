"""`sma batch FILE.csv`: good rows start runs (topics and article links), bad rows are refused with their
line and the fix while the rest still start, duplicate rows and a repeated batch make no second run.
Real dev server, real CLI, a real local web server for the article row."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from typer.testing import CliRunner

from sma.cli import app as cli_app
from sma.services.batch import BatchFileError, read_rows
from sma.settings import ProjectSettings, Settings
from tests.article_server import FACTS, ArticleSite, serve_articles

runner = CliRunner()


@pytest.fixture
def site() -> Iterator[ArticleSite]:
    with serve_articles() as served:
        yield served


def _settings() -> Settings:
    return Settings(projects=[ProjectSettings(id="default"), ProjectSettings(id="shop")])


def test_rows_are_checked_before_anything_starts_and_refusals_name_the_line() -> None:
    text = ("Topic,URL,Summary,Project,Autonomy,Force\n"
            "Good topic,,,,,\n"
            ",https://example.com/a,,shop,assisted,yes\n"
            "\n"
            ",,only a summary,,,\n"
            "Bad level,,,,sometimes,\n"
            "Bad project,,,nowhere,,\n"
            ",ftp://example.com/a,,,,\n"
            f"{'x' * 300},,,,,\n"
            "Too many,,,,,,extra\n"
            "Bad force,,,,,maybe\n")
    rows, refused = read_rows(text, _settings(), "default")
    assert [(r.line, r.label, r.project, r.autonomy, r.force) for r in rows] == [
        (2, "Good topic", "default", None, False), (3, "https://example.com/a", "shop", "assisted", True)]
    reasons = {o.line: o.reason for o in refused}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11]  # the blank line 4 is skipped
    assert "neither a topic nor a url" in reasons[5]
    assert "'sometimes' is not one of manual, assisted, autonomous" in reasons[6]
    assert "unknown project 'nowhere'" in reasons[7]
    assert "not a web link" in reasons[8]
    assert "300 characters; the limit is 200" in reasons[9]
    assert "7 cells but the header names 6" in reasons[10]
    assert "force 'maybe' is not yes or no" in reasons[11]
    assert all(o.describe().startswith(f"line {o.line}: ") for o in refused)


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("topic,colour\nA,red\n", "unknown column(s) 'colour'"),
    ("summary,project\nA,default\n", "neither a topic nor a url column"),
])
def test_an_unreadable_file_starts_nothing(text: str, message: str) -> None:
    with pytest.raises(BatchFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_rows(text, _settings(), "default")


async def test_sma_batch_starts_good_rows_refuses_bad_ones_and_is_safe_to_repeat(
        client: Client, tmp_path: Path, site: ArticleSite) -> None:
    env = {"SMA_DATA_DIR": str(tmp_path / "data"), "SMA_TEMPORAL__ADDRESS": client.service_client.config.target_host}
    tag = uuid.uuid4().hex[:6]
    article = site.url("/news/lighthouse")
    csv_file = tmp_path / "runs.csv"
    csv_file.write_text(
        "title,link,summary,autonomy\n"
        f"Batch topic one {tag},,A first topic.,\n"
        f"Lighthouse keepers {tag},{article},,assisted\n"  # its own title: other tests start this article
        f"Batch topic one {tag},,A first topic.,\n"  # the same topic again in the same file
        f",{site.url('/report.pdf')},,\n"
        f",,,\n"
        f'"Batch topic, with a comma {tag}",,,manual\n', encoding="utf-8")

    def sma_batch() -> tuple[int, str, str]:
        result = runner.invoke(cli_app, ["batch", str(csv_file)], env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = await asyncio.to_thread(sma_batch)
    lines = {int(line.split(":")[0].split()[1]): line for line in out.splitlines() if line.startswith("line ")}
    started = {n: line.split()[3] for n, line in lines.items() if line.split()[2] == "started"}
    try:
        assert code == 1, out + err  # a row was refused
        assert sorted(started) == [2, 3, 7]
        assert started[2].startswith("content-default-batch-topic-one")
        assert started[3].startswith(f"content-default-lighthouse-keepers-{tag}")
        assert f"line 4: already started {started[2]} (running; add force=yes" in lines[4]
        assert "line 5: " in lines[5] and "is application/pdf, not a web page" in lines[5]
        assert 5 in lines and "line 6" not in out  # the empty row is a blank line, not a refusal
        assert out.strip().splitlines()[-1] == "3 started, 1 already started, 1 refused"
        assert "starting 5 run(s)" in err  # the progress bar (the empty row never starts)
        handle = client.get_workflow_handle(started[3])
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        inp = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes.input
        history_input = client.data_converter.payload_converter.from_payloads(inp.payloads)[0]
        assert history_input["topic"]["title"] == f"Lighthouse keepers {tag}"
        assert FACTS[1] in history_input["topic"]["facts"]
        assert history_input["topic"]["source_urls"] == [article] and history_input["autonomy"] == "assisted"

        hits = len(site.hits)
        code, again, _ = await asyncio.to_thread(sma_batch)  # the whole batch a second time
        assert code == 1 and again.strip().splitlines()[-1] == "0 started, 4 already started, 1 refused"
        for n, wf_id in started.items():
            assert f"line {n}: already started {wf_id}" in again
        assert len(site.hits) == hits + 2  # the article and the PDF were fetched again; no run was made
    finally:
        for wf_id in started.values():
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(wf_id).terminate("test over")


def test_sma_batch_stops_on_an_unreadable_file(tmp_path: Path) -> None:
    csv_file = tmp_path / "runs.csv"
    csv_file.write_text("topic;url\nA;\n", encoding="utf-8")
    result = runner.invoke(cli_app, ["batch", str(csv_file)], env={"SMA_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 2 and "unknown column(s) 'topic;url'" in result.output
    missing = runner.invoke(cli_app, ["batch", str(tmp_path / "nope.csv")], env={"SMA_DATA_DIR": str(tmp_path)})
    assert missing.exit_code == 2 and "cannot read" in missing.output
