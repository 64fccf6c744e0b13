"""Worker interceptor: every activity's run time, and what its result says about QA gates and publishing.

Reading results here, rather than adding counters inside each service, keeps the services free of metrics
code and covers every step, including future ones: any `QAReport` or `PostResult` in a result (at any depth)
is counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from sma import metrics
from sma.models.common import QAReport
from sma.models.pipeline import PostResult


class MetricsInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        step, started = activity.info().activity_type, time.perf_counter()
        try:
            result = await self.next.execute_activity(input)
        except BaseException:
            metrics.STEP_SECONDS.labels(step, "error").observe(time.perf_counter() - started)
            raise
        metrics.STEP_SECONDS.labels(step, "ok").observe(time.perf_counter() - started)
        count_result(result)
        return result


def count_result(result: object) -> None:
    for item in _walk(result):
        if isinstance(item, QAReport):
            metrics.QA_REPORTS.labels(item.gate, "pass" if item.passed else "fail").inc()
        elif isinstance(item, PostResult):
            metrics.PUBLISHES.labels(item.platform, item.status).inc()


def _walk(value: object, depth: int = 0) -> Iterator[object]:
    if depth > 6:
        return
    yield value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item, depth + 1)
