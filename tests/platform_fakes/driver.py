"""A test-only workflow that calls the real `publish` activity once per platform, in parallel (like step 11
of the content pipeline), with the timeouts a test wants (a short heartbeat timeout for kill -9 tests)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from sma.models.pipeline import PublishRequest, PublishResult


class DriverInput(BaseModel):
    request: PublishRequest
    task_queue: str
    heartbeat_s: float = 3.0
    max_attempts: int = 5


@workflow.defn(name="PublishDriverWorkflow", sandboxed=False)
class PublishDriverWorkflow:
    @workflow.run
    async def run(self, inp: DriverInput) -> list[PublishResult]:
        retry = RetryPolicy(initial_interval=timedelta(milliseconds=300), backoff_coefficient=1.0,
                            maximum_attempts=inp.max_attempts)
        calls = [
            workflow.execute_activity(
                "publish", inp.request.model_copy(update={"platforms": [platform]}), result_type=PublishResult,
                task_queue=inp.task_queue, start_to_close_timeout=timedelta(seconds=120),
                heartbeat_timeout=timedelta(seconds=inp.heartbeat_s), retry_policy=retry)
            for platform in inp.request.platforms
        ]
        return list(await asyncio.gather(*calls))
