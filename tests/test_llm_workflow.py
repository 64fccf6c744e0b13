"""A budget stop inside a real ContentPipelineWorkflow: the run ends `failed` with the budget message.

Only the sma-workflows worker runs: the run stops at step 2, before any media work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from sma import queues
from sma.client.handles import query_status, start_pipeline
from sma.db import repo
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.pipeline import PipelineStatus, RunState, Topic
from sma.services.llm.store import DBUsageStore, start_of_day
from sma.services.runs import pipeline_input
from tests.conftest import running_workers, wait_for
from tests.test_llm_fakes import llm_settings, serving


async def test_budget_stop_fails_the_run_with_the_budget_message(client: Client, tmp_path: Path, suffix: str) -> None:
    with serving("openai") as oai:
        settings = llm_settings(tmp_path, openai_url=oai.url, chain=["openai"], budget=0.0001)
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        topic = Topic(title="Small tests catch big bugs", summary="A small test runs in a second.")
        inp = pipeline_input(settings, topic, "test", autonomy="autonomous")
        try:
            async with running_workers(client, settings, database, suffix, pools=(queues.WORKFLOWS,)):
                wf_id = await start_pipeline(client, inp, suffix)
                with pytest.raises(WorkflowFailureError):
                    await client.get_workflow_handle(wf_id).result()
                status: PipelineStatus = await query_status(client, wf_id)
            row = await repo.get_run(database, wf_id)
            calls = await DBUsageStore(database).calls(start_of_day())
        finally:
            await database.close()

    assert status.state == RunState.FAILED
    assert status.error.startswith("write_script: BudgetExceeded: LLM budget exceeded for project 'test'")
    assert "daily budget $0.0001" in status.error and "llm.project_budgets.test" in status.error
    step = status.steps["write_script"]
    assert step.state == "failed" and step.attempts == 1  # non-retryable: not retried by Temporal
    assert row is not None and row.state == "failed" and "budget" in row.error
    assert oai.requests == [] and [c.outcome for c in calls] == ["budget_blocked"]


async def test_a_transient_llm_failure_is_retried_by_temporal_and_the_llm_writes(client: Client, tmp_path: Path,
                                                                                 suffix: str) -> None:
    with serving("openai") as oai:
        oai.script({"status": 503})  # the first call fails; the next one answers
        settings = llm_settings(tmp_path, openai_url=oai.url, chain=["openai"])
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        topic = Topic(title="Small tests catch big bugs", summary="A small test runs in a second.")
        inp = pipeline_input(settings, topic, "test", autonomy="autonomous")
        try:
            async with running_workers(client, settings, database, suffix, pools=(queues.WORKFLOWS,)):
                wf_id = await start_pipeline(client, inp, suffix)
                status = await wait_for(client, wf_id, lambda s: s.steps["write_script"].state == "done", 60)
                await client.get_workflow_handle(wf_id).terminate("test done")
            calls = await DBUsageStore(database).calls(start_of_day())
        finally:
            await database.close()

    assert status.steps["write_script"].tier == "openai:gpt-4o-mini"  # not the template: Temporal retried
    assert len(oai.requests) == 2 and [c.outcome for c in calls] == ["server_error", "ok"]
