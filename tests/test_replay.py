"""Determinism guard: committed histories of real runs must replay against today's workflow code.

Regenerate after an intended change of the command sequence with `SMA_WRITE_HISTORIES=1` and the tests that
write them: tests/test_pipeline_workflow.py (autonomous, reject_then_approve),
tests/test_pipeline_edit_variants.py (edit_variants) and tests/test_autonomy_workflow.py (expire_reopen).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from sma.models.pipeline import NotifyRequest
from sma.workflows.pipeline import ContentPipelineWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
SCHEDULED = "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"


def test_histories_are_committed() -> None:
    assert HISTORIES, "tests/histories/ must hold at least one recorded run"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[ContentPipelineWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def _events(name: str) -> list[dict]:
    return json.loads((Path(__file__).parent / "histories" / f"{name}.json").read_text())["events"]


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_histories_carry_no_patch_markers(path: Path) -> None:
    """Nothing is deployed, so the workflow has no `workflow.patched` branches (DESIGN.md convention 7)."""
    markers = [e["markerRecordedEventAttributes"]["markerName"] for e in json.loads(path.read_text())["events"]
               if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"]
    assert "core_patch" not in markers


def test_an_autonomous_run_sends_only_the_notices_a_person_reads() -> None:
    """Progress comes from the recorded steps, not from notify activities: an autonomous run notifies twice
    (the script preview and the published notice) beside the 13 activities that do the work."""
    scheduled = [e["activityTaskScheduledEventAttributes"] for e in _events("content_pipeline_autonomous")
                 if e["eventType"] == SCHEDULED]
    kinds = Counter(a["activityType"]["name"] for a in scheduled)
    notices = [NotifyRequest.model_validate_json(base64.b64decode(a["input"]["payloads"][0]["data"]))
               for a in scheduled if a["activityType"]["name"] == "notify"]
    assert [n.kind for n in notices] == ["script", "published"]
    assert sum(kinds.values()) - kinds["notify"] == 13, kinds
