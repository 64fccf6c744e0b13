"""Step specs and the typed runner: how each activity of the pipeline is called.

A `StepSpec[Req, Res]` names one activity method with its queue, timeouts and retry policy; its type
parameters carry the activity's request and result types through `StepRunner`, so a step's result keeps
its type in the workflow. The runner keeps the step's row in the `StatusBook` and records it when the
step starts and ends; the bot and the dashboard read those rows for progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.approval import ApprovalActivities
    from sma.activities.media import MediaActivities
    from sma.activities.notify import NotifyActivities
    from sma.activities.publish import PublishActivities
    from sma.activities.script import ScriptActivities
    from sma.activities.voice import VoiceActivities
    from sma.models.autonomy import ApprovalNotice
    from sma.models.common import ArtifactRef
    from sma.models.pipeline import NotifyRequest, NotifyResult, PipelineInput, StepResult
    from sma.workflows.pipeline.status import StatusBook

Req = TypeVar("Req")
Res = TypeVar("Res")
StepRes = TypeVar("StepRes", bound=StepResult)

QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
# Media steps ride out transient faults (a disk that refuses writes for a while): backoff up to 2 min and
# no attempt cap; the step's budget bounds how long it keeps trying. Non-retryable errors fail at once.
MEDIA = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=2), maximum_attempts=0)
PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                            maximum_interval=timedelta(minutes=5), maximum_attempts=8)
PATIENT = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                      maximum_interval=timedelta(minutes=1), maximum_attempts=8)
_BEAT = timedelta(seconds=60)


class StepFailed(Exception):
    """A required step failed for good; the run ends `failed` with the step's error."""


@dataclass(frozen=True)
class StepSpec(Generic[Req, Res]):
    """One activity of the pipeline and how it runs. `name` is the step's row (and the key of the run's
    `gpu_steps` and `step_budgets_s`); `budget` bounds every attempt and backoff together."""

    name: str
    method: Callable[[Any, Req], Awaitable[Res]] | Callable[[Any, Req], Res]
    queue: str
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    budget: timedelta | None = None
    skipped: Callable[[Res], bool] | None = None  # the result says the step had nothing to do


def _spec(name: str, method: Callable[[Any, Req], Awaitable[Res]], queue: str, minutes: float,
          heartbeat: timedelta | None = None, retry: RetryPolicy = QUICK,
          skipped: Callable[[Res], bool] | None = None) -> StepSpec[Req, Res]:
    """An async activity (IO on the workflows queue)."""
    return StepSpec(name, method, queue, timedelta(minutes=minutes), retry, heartbeat, skipped=skipped)


def _media(name: str, method: Callable[[Any, Req], Res], queue: str, minutes: float, budget_min: float,
           heartbeat: timedelta = _BEAT) -> StepSpec[Req, Res]:
    """A sync media activity on a thread pool: heartbeats, patient retries and a budget."""
    return StepSpec(name, method, queue, timedelta(minutes=minutes), MEDIA, heartbeat, timedelta(minutes=budget_min))


ANALYSE_MEDIA = _spec("analyse_media", ScriptActivities.analyse_media, queues.WORKFLOWS, 2,
                      skipped=lambda media: media.skipped)
WRITE_SCRIPT = _spec("write_script", ScriptActivities.write_script, queues.WORKFLOWS, 3)
NOTIFY = _spec("notify", NotifyActivities.notify, queues.WORKFLOWS, 0.5)
# An approval request that could not be sent raises in the activity: it is retried for a while.
NOTIFY_APPROVAL = _spec("notify_approval", NotifyActivities.notify, queues.WORKFLOWS, 2, retry=PATIENT)
VOICEOVER = _media("voiceover", VoiceActivities.voiceover, queues.GPU, 15, 45)
CAPTIONS = _media("captions", VoiceActivities.captions, queues.GPU, 15, 45)
MUSIC = _media("music", MediaActivities.music, queues.CPU, 5, 20)
BACKGROUND = _media("background", MediaActivities.background, queues.CPU, 5, 20)
IMAGES = _media("images", MediaActivities.images, queues.CPU, 5, 20)
RENDER = _media("render", MediaActivities.render, queues.CPU, 30, 60, heartbeat=timedelta(seconds=15))
CHECK_VIDEO = _media("check_video", MediaActivities.check_video, queues.CPU, 10, 45)
VARIANT = _media("variant", MediaActivities.variant, queues.CPU, 15, 45)
POLICY = _spec("policy", ApprovalActivities.approval_policy, queues.WORKFLOWS, 0.5, retry=PATIENT)
# The publish activity heartbeats every few seconds: a killed worker is noticed in 30 s, not 10 min.
PUBLISH = _spec("publish", PublishActivities.publish, queues.WORKFLOWS, 10, heartbeat=timedelta(seconds=30),
                retry=PUBLISH_RETRY)

MEDIA_STEPS = (VOICEOVER, CAPTIONS, MUSIC, BACKGROUND, IMAGES, RENDER, CHECK_VIDEO, VARIANT)


def is_cancel(exc: ActivityError) -> bool:
    """The activity ended because the workflow was cancelled (/cancel), not because it failed."""
    return isinstance(exc.cause, CancelledError)


def cause(exc: BaseException) -> str:
    """The innermost message: 'ApplicationError: every TTS engine failed' rather than 'Activity task failed'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def reraise_cancel(exc: ActivityError) -> None:
    """A cancelled run stops here; any other failure is the caller's to handle."""
    if is_cancel(exc):
        raise asyncio.CancelledError() from exc


class StepRunner:
    """Runs specs as activities in the run's worker pool and keeps their rows in the book."""

    def __init__(self, inp: PipelineInput, book: StatusBook) -> None:
        self._inp = inp
        self._book = book

    async def call(self, spec: StepSpec[Req, Res], req: Req) -> Res:
        """The activity alone: no row (policy, notices, checks and per-platform work)."""
        queue = queues.GPU if spec.name in self._inp.gpu_steps else spec.queue  # a configured tier needs CUDA
        budget_s = self._inp.step_budgets_s.get(spec.name)
        return await workflow.execute_activity_method(
            spec.method, req, task_queue=queues.in_pool(queue), start_to_close_timeout=spec.start_to_close,
            heartbeat_timeout=spec.heartbeat, retry_policy=spec.retry,
            schedule_to_close_timeout=timedelta(seconds=budget_s) if budget_s else spec.budget)

    async def run(self, spec: StepSpec[Req, StepRes], req: Req) -> StepRes:
        """A required step: a failure ends the run (`StepFailed`)."""
        result = await self._tracked(spec, req, required=True)
        assert result is not None
        return result

    async def optional(self, spec: StepSpec[Req, StepRes], req: Req) -> StepRes | None:
        """A best-effort step: a failure marks it skipped and the run goes on without it."""
        return await self._tracked(spec, req, required=False)

    async def _tracked(self, spec: StepSpec[Req, StepRes], req: Req, required: bool) -> StepRes | None:
        self._book.running(spec.name)
        await self._book.record()  # the database copy shows the step that runs now
        try:
            result = await self.call(spec, req)
        except ActivityError as exc:
            reraise_cancel(exc)
            self._book.failed(spec.name, cause(exc), skipped=not required)
            await self._book.record()
            if required:
                raise StepFailed(f"{spec.name}: {cause(exc)}") from exc
            return None
        skipped = spec.skipped is not None and spec.skipped(result)
        self._book.finished(spec.name, result, skipped=skipped)
        await self._book.record()
        return result

    async def notify(self, kind: str, text: str, video: ArtifactRef | None = None,
                     approval: ApprovalNotice | None = None) -> NotifyResult | None:
        """Best effort: a notice that cannot be delivered never stops the run."""
        req = NotifyRequest(project_id=self._inp.project_id, run_id=self._book.status.workflow_id, kind=kind,
                            text=text, video=video, approval=approval)
        try:
            return await self.call(NOTIFY_APPROVAL if kind == "approval" else NOTIFY, req)
        except ActivityError as exc:
            reraise_cancel(exc)
            workflow.logger.warning("notify %s failed: %s", kind, cause(exc))
            return None
