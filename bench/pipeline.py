"""Benchmark: one full pipeline on the embedded stack; per-step seconds and Temporal's orchestration overhead.

    python bench/pipeline.py [--seconds 40] [--runs 1] [--data-dir bench/out/pipeline]

Overhead = workflow wall time (first to last history event) minus the time covered by activity executions
(union of ActivityTaskStarted→Completed intervals, so parallel steps are not counted twice). It includes
task dispatch, workflow tasks and the local `record_run` writes to SQLite. Target: under 5 % of the total.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sma.client.handles import start_pipeline
from sma.models.pipeline import PipelineResult, Topic
from sma.runtime import Stack
from sma.services.runs import pipeline_input
from sma.settings import PipelineSettings, Settings
from sma.temporal_client import connect

TOPIC = Topic(
    title="Why short feedback loops win",
    summary=(
        "Teams that ship small changes learn faster. Every change is easy to review and easy to undo. "
        "Mistakes cost minutes instead of weeks. The habit compounds over a year. "
        "Automated tests make the loop safe. Continuous deployment makes it fast. "
        "Measure the time from idea to production, then make it shorter every month."
    ),
)


def union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


async def history_timings(client: Client, wf_id: str) -> tuple[float, float, int]:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    events = history.events
    wall = (events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()).total_seconds()
    started: dict[int, datetime] = {}
    intervals = []
    markers = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = event.event_time.ToDatetime()
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            intervals.append((started[attrs.scheduled_event_id], event.event_time.ToDatetime()))
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            markers += 1
    return wall, union_seconds(intervals), markers


async def _bench(settings: Settings, stack: Stack, runs: int) -> list[tuple[PipelineResult, float, float, int]]:
    client = await connect(stack.address, attempts=120)
    out = []
    for _ in range(runs):
        wf_id = await start_pipeline(client, pipeline_input(settings, TOPIC, autonomy="autonomous"))
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
        out.append((result, *await history_timings(client, wf_id)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="target script length")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--data-dir", default="bench/out/pipeline")
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, pipeline=PipelineSettings(target_seconds=args.seconds))
    began = time.perf_counter()
    with Stack(settings, ephemeral_ports=True) as stack:
        results = asyncio.run(_bench(settings, stack, args.runs))
    print(f"\nembedded stack, {args.runs} run(s), {time.perf_counter() - began:.1f} s including start/stop\n")
    for n, (result, wall, busy, markers) in enumerate(results, 1):
        video_s = result.status.artifacts["video"] and result.status.steps["render"]
        print(f"run {n}: {result.state.value}, video {video_s.seconds:.1f} s to render")
        print("| step | tier | seconds |\n|---|---|---:|")
        for step in result.status.steps.values():
            print(f"| {step.name} | {step.tier} | {step.seconds:.2f} |")
        overhead = wall - busy
        print("\n| measure | seconds | share of wall |\n|---|---:|---:|")
        print(f"| workflow wall time | {wall:.2f} | 100.0 % |")
        print(f"| activities (union of executions) | {busy:.2f} | {100 * busy / wall:.1f} % |")
        print(f"| orchestration overhead ({markers} local DB writes incl.) | {overhead:.2f} | "
              f"{100 * overhead / wall:.1f} % |\n")


if __name__ == "__main__":
    main()
