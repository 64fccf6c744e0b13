"""Determinism guard: committed histories of real runs must replay against today's workflow code.

Regenerate after an intended, patched change with `SMA_WRITE_HISTORIES=1 pytest tests/test_pipeline_workflow.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from sma.workflows.content_pipeline import ContentPipelineWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    assert HISTORIES, "tests/histories/ must hold at least one recorded run"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[ContentPipelineWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
