"""ContentPipelineWorkflow on the real dev server with real workers, FFmpeg, Piper and Whisper."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sma.client import RunClient, RunError
from sma.client.handles import start_pipeline
from sma.db import repo
from sma.db.engine import Database
from sma.models.pipeline import (
    ApproveSignal,
    PipelineResult,
    PipelineStatus,
    RunState,
    Script,
    ScriptRequest,
    Topic,
)
from sma.services.llm.store import DBUsageStore
from sma.services.runs import pipeline_input
from sma.settings import Settings
from sma.workflows.pipeline import ContentPipelineWorkflow
from tests.conftest import running_workers, wait_for

HISTORIES = Path(__file__).parent / "histories"
TOPIC = Topic(
    title="Small tests catch big bugs",
    summary="A small test runs in a second. It catches the bug before your users do.",
)


async def _maybe_save_history(client: Client, wf_id: str, name: str) -> None:
    """Refresh the replay fixtures (tests/test_replay.py) when asked to."""
    if os.environ.get("SMA_WRITE_HISTORIES"):
        history = await client.get_workflow_handle(wf_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())


def _outbox_videos(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "outbox").rglob("video.mp4"))


async def _script_requests(client: Client, wf_id: str) -> list[ScriptRequest]:
    """The inputs the write_script activity really received, read back from the event history."""
    history = await client.get_workflow_handle(wf_id).fetch_history()
    requests = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attrs = event.activity_task_scheduled_event_attributes
        if attrs.activity_type.name == "write_script":
            [req] = pydantic_data_converter.payload_converter.from_payloads(attrs.input.payloads, [ScriptRequest])
            requests.append(req)
    return requests


async def test_autonomous_run_publishes_a_captioned_vertical_video(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    inp = pipeline_input(settings, TOPIC, "test", autonomy="autonomous")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.PUBLISHED
    [video] = _outbox_videos(settings)
    metadata = json.loads((video.parent / "metadata.json").read_text())
    assert metadata["title"] == TOPIC.title and metadata["hashtags"]
    with av.open(str(video)) as container:
        vstream, astream = container.streams.video[0], container.streams.audio[0]
        assert (vstream.codec_context.name, vstream.width, vstream.height) == ("h264", 1080, 1920)
        assert astream.codec_context.name == "aac"
        duration = container.duration / 1_000_000
    voice = Path(result.status.artifacts["voice"].path)
    with av.open(str(voice)) as container:
        voice_s = container.duration / 1_000_000
    assert abs(duration - voice_s) <= 1.0  # voice plus a short tail
    steps = result.status.steps
    assert steps["analyse_media"].state == "skipped"
    for name in ("write_script", "voiceover", "captions", "render", "approval", "publish"):
        assert steps[name].state == "done", name
    assert steps["voiceover"].tier == "piper"
    assert all(q.passed for q in result.status.qa), result.status.qa
    assert {q.gate for q in result.status.qa} >= {"QA_SCRIPT", "QA_TTS", "QA_CAPTIONS", "QA_RENDER", "QA_VISUAL"}

    row = await repo.get_run(database, wf_id)
    assert row is not None and row.state == "published" and row.project_id == "test"
    assert [p.platform for p in await repo.list_posts(database, wf_id)] == ["local"]

    await _maybe_save_history(client, wf_id, "content_pipeline_autonomous")


async def test_reject_then_approve(client: Client, settings: Settings, database: Database, suffix: str) -> None:
    inp = pipeline_input(settings, TOPIC, "test", autonomy="manual")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        assert (await RunClient(client, settings, None).reject(wf_id, "make it shorter", by="tester")).round == 1

        second = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 2)
        assert second.feedback == ["make it shorter"]
        # A late tap on round 1's buttons changes nothing.
        await client.get_workflow_handle(wf_id).signal(ContentPipelineWorkflow.approve, ApproveSignal(round=1))
        assert (await wait_for(client, wf_id, lambda s: True)).state == RunState.AWAITING_APPROVAL

        assert (await RunClient(client, settings, None).approve(wf_id, by="tester")).round == 2
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
        with pytest.raises(RunError, match="finished"):
            await RunClient(client, settings, None).approve(wf_id, by="tester")

    assert result.state == RunState.PUBLISHED and result.rounds == 2
    requests = await _script_requests(client, wf_id)
    assert requests[0].feedback == [] and requests[-1].feedback == ["make it shorter"]
    assert len(_outbox_videos(settings)) == 1
    assert [d.approved for d in result.status.decisions] == [False, True]
    assert [a.round for a in await repo.list_approvals(database, wf_id)] == [1, 2]
    await _maybe_save_history(client, wf_id, "content_pipeline_reject_then_approve")


async def test_five_rejections_end_rejected_and_publish_nothing(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    inp = pipeline_input(settings, TOPIC, "test", autonomy="manual")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        for round_no in range(1, 6):
            await wait_for(client, wf_id, lambda s, r=round_no: s.state == RunState.AWAITING_APPROVAL and s.round == r)
            await RunClient(client, settings, None).reject(wf_id, f"not yet ({round_no})", by="tester")
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.REJECTED and result.rounds == 5
    assert result.status.feedback == [f"not yet ({n})" for n in range(1, 6)]
    assert _outbox_videos(settings) == []
    row = await repo.get_run(database, wf_id)
    assert row is not None and row.state == "rejected"


async def _round_scripts(database: Database, wf_id: str) -> dict[int, Script]:
    """The script each round ended with (its last attempt), as stored by the script service."""
    return {a.round: Script.model_validate_json(a.script_json) for a in await DBUsageStore(database).attempts(wf_id)}


def _media(status: PipelineStatus) -> tuple[str, str]:
    return status.artifacts["voice"].sha256, status.artifacts["video"].sha256


async def test_feedback_always_changes_the_next_rounds_script_voice_and_video(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    inp = pipeline_input(settings, TOPIC, "test", autonomy="manual")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        first = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        await RunClient(client, settings, None).reject(wf_id, "make it shorter", by="tester")
        second = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 2)
        await RunClient(client, settings, None).reject(wf_id, "blorp the frobnicator", by="tester")
        third = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 3)
        await client.get_workflow_handle(wf_id).terminate("test done")

    scripts = await _round_scripts(database, wf_id)
    one, two, three = (scripts[n].narration() for n in (1, 2, 3))
    assert len({one, two, three}) == 3
    assert len(two.split()) < len(one.split())  # "make it shorter", measurably
    voices, videos = zip(_media(first), _media(second), _media(third), strict=True)
    assert len(set(voices)) == 3 and len(set(videos)) == 3  # no round reuses another's voice or video
    assert "feedback applied: shorter" in second.steps["write_script"].notes
    notes = " ".join(third.steps["write_script"].notes)
    assert "not understood" in notes and "'blorp the frobnicator'" in notes
    requests = await _script_requests(client, wf_id)
    assert requests[0].previous is None and requests[-1].previous == scripts[2]
