"""Run-aware media on the real dev server: a hand-edited script is recorded from (no new LLM script),
the media requests know the run (stock query, platforms, background for the diagram theme), and each
platform uploads its own variant of the master (here a 4 s cap on the local outbox)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import av
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from sma.client import RunClient
from sma.client.handles import start_pipeline
from sma.dashboard import queries as q
from sma.db.engine import Database
from sma.models.media import VariantRequest
from sma.models.pipeline import (
    BackgroundRequest,
    Beat,
    ImagesRequest,
    PipelineResult,
    RenderRequest,
    RunState,
    Script,
    ScriptRequest,
    Topic,
    VoiceRequest,
)
from sma.services.runs import pipeline_input
from sma.settings import Settings
from tests.conftest import running_workers, wait_for

HISTORIES = Path(__file__).parent / "histories"
TOPIC = Topic(title="Flaky tests are bugs", summary="A flaky test hides a race. Fix the race, not the test.")
CAP_S = 4.0


async def _inputs(client: Client, wf_id: str, activity: str, model: type) -> list[Any]:
    """The inputs an activity really received, read back from the event history."""
    history = await client.get_workflow_handle(wf_id).fetch_history()
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == activity:
                [value] = pydantic_data_converter.payload_converter.from_payloads(attrs.input.payloads, [model])
                found.append(value)
    return found


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


async def test_edited_script_is_recorded_and_each_platform_gets_its_variant(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    settings.media.variant_max_s = {"local": CAP_S}
    inp = pipeline_input(settings, TOPIC, "test", autonomy="manual")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        [written] = await _inputs(client, wf_id, "write_script", ScriptRequest)
        attempts = await q.script_attempts(database, wf_id)
        original = Script.model_validate_json(attempts[-1].script_json)
        edited = original.model_copy(update={
            "hook": "Flaky tests are not bad luck.",
            "beats": [Beat(narration="They are races you have not found yet. Fix the race, not the test.")]})
        assert (await RunClient(client, settings, None).edit_script(wf_id, edited, 1, by="editor")).round == 1

        second = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 2)
        assert second.steps["write_script"].tier == "edited"
        assert second.feedback == []  # an edit is not a complaint for the writer
        assert [d.edited for d in second.decisions] == [True]
        assert (await RunClient(client, settings, None).approve(wf_id, by="tester")).round == 2
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.PUBLISHED, result.status.error
    assert written.round == 1 and len(await _inputs(client, wf_id, "write_script", ScriptRequest)) == 1
    voices = await _inputs(client, wf_id, "voiceover", VoiceRequest)
    assert voices[-1].text == edited.narration() != voices[0].text
    stored = [a for a in await q.script_attempts(database, wf_id) if a.round == 2]
    assert [(a.attempt, a.passed, a.tier) for a in stored] == [(0, True, "edited by editor")]

    # The media steps know the run.
    assert {b.query for b in await _inputs(client, wf_id, "background", BackgroundRequest)} == {TOPIC.title}
    images = await _inputs(client, wf_id, "images", ImagesRequest)
    assert all(r.platforms == ["local"] and r.background is not None for r in images)
    assert all(r.platforms == ["local"] for r in await _inputs(client, wf_id, "render", RenderRequest))

    # The outbox got the 4 s variant, not the longer master.
    [variant_req] = await _inputs(client, wf_id, "variant", VariantRequest)
    assert variant_req.platform == "local" and variant_req.words_artifact is not None
    master = Path(result.status.artifacts["video"].path)
    [uploaded] = sorted((settings.data_dir / "outbox").rglob("video.mp4"))
    assert _duration(master) > CAP_S + 0.5
    assert _duration(uploaded) <= CAP_S + 0.1
    assert "video_local" in result.status.artifacts
    assert any(n.startswith("local variant: cut from") for n in result.status.steps["publish"].notes)

    if os.environ.get("SMA_WRITE_HISTORIES"):
        history = await client.get_workflow_handle(wf_id).fetch_history()
        (HISTORIES / "content_pipeline_edit_variants.json").write_text(history.to_json())
