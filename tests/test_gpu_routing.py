"""Steps whose configured tier needs CUDA run on sma-gpu: the routing function over settings, and a real run
(dev server, real workers, FFmpeg) whose history shows where each activity was scheduled."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from sma import queues
from sma.client.handles import start_pipeline
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services.music.sources.config import MusicGenSettings
from sma.services.routing import gpu_steps
from sma.services.runs import pipeline_input
from sma.settings import MediaSettings, MusicSettings, Settings, VisualSettings
from tests.conftest import running_workers

TOPIC = Topic(title="Caches make builds fast", summary="A warm cache skips work. Builds finish in seconds.")


def _settings(musicgen: str | None = None, chain: list[str] | None = None, comfyui: str | None = None,
              image_chain: list[str] | None = None) -> Settings:
    music = MusicSettings(musicgen=MusicGenSettings(model_dir=musicgen))
    if chain is not None:
        music.chain = chain
    visuals = VisualSettings(comfyui_url=comfyui)
    if image_chain is not None:
        visuals.image_chain = image_chain  # type: ignore[assignment]
    return Settings(music=music, media=MediaSettings(visuals=visuals))


@pytest.mark.parametrize(("settings", "expected"), [
    (_settings(), []),
    (_settings(musicgen="/models/musicgen-small"), ["music"]),
    (_settings(musicgen="/models/musicgen-small", chain=["freesound", "procedural"]), []),
    (_settings(musicgen="/models/musicgen-small", chain=[" MusicGen ", "procedural"]), ["music"]),
    (_settings(comfyui="http://127.0.0.1:8188"), ["images"]),
    (_settings(comfyui="http://127.0.0.1:8188", image_chain=["dalle"]), []),
    (_settings(musicgen="/models/musicgen-small", comfyui="http://comfyui:8188"), ["music", "images"]),
])
def test_cuda_tiers_in_config_route_their_steps_to_the_gpu_pool(settings: Settings, expected: list[str]) -> None:
    assert gpu_steps(settings) == expected
    assert pipeline_input(settings, TOPIC).gpu_steps == expected


async def _scheduled_queues(client: Client, wf_id: str) -> dict[str, set[str]]:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    found: dict[str, set[str]] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            found.setdefault(attrs.activity_type.name, set()).add(attrs.task_queue.name)
    return found


async def test_musicgen_configured_schedules_music_on_sma_gpu(
    client: Client, settings: Settings, database: Database, suffix: str, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "musicgen-small"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    settings.music.musicgen.model_dir = str(checkpoint)
    inp = pipeline_input(settings, TOPIC, "test", autonomy="autonomous")
    assert inp.gpu_steps == ["music"]

    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.PUBLISHED
    scheduled = await _scheduled_queues(client, wf_id)
    assert scheduled["music"] == {queues.GPU + suffix}
    assert scheduled["voiceover"] == scheduled["captions"] == {queues.GPU + suffix}
    for step in ("background", "images", "render"):
        assert scheduled[step] == {queues.CPU + suffix}, step
    # No GPU here (or no real checkpoint): the CUDA tier is skipped with its reason and the chain goes on.
    music = result.status.steps["music"]
    assert music.state.value == "done" and music.tier not in ("", "musicgen"), music
    assert any(note.startswith("musicgen: skipped (") for note in music.notes), music.notes
