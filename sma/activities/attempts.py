"""Record a pipeline step's failed attempt while Temporal retries it, so the database copy says why.

The workflow sees an activity only when it finally succeeds or fails; between attempts it knows nothing.
This worker interceptor, on every pool, notes each failed attempt that will be retried on the run's
stored status (`repo.record_attempt_failure`): the step, the attempt number, the error and roughly when
the next attempt starts. The live view gets the same facts from Temporal's pending-activity info
(`sma.client.handles.pending_steps`); this copy is what is left when the server cannot be asked.
Best effort: a note that cannot be written never changes the activity's outcome.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from sma.models.pipeline import STEPS

log = structlog.get_logger("sma.attempts")

PIPELINE_WORKFLOW = "ContentPipelineWorkflow"
RECORD_TIMEOUT_S = 5.0
# The step activities whose attempts are noted; `notify` also carries best-effort progress messages.
NOTED_STEPS = frozenset(STEPS) - {"notify"}


def will_retry(exc: BaseException, attempt: int, policy: RetryPolicy | None) -> bool:
    """Whether Temporal schedules another attempt after this failure (the schedule-to-close budget aside)."""
    if isinstance(exc, CancelledError | asyncio.CancelledError):
        return False
    if isinstance(exc, ApplicationError) and exc.non_retryable:
        return False
    if policy is None:
        return True
    kind = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
    if kind in (policy.non_retryable_error_types or ()):
        return False
    return not (policy.maximum_attempts > 0 and attempt >= policy.maximum_attempts)


def next_delay(exc: BaseException, attempt: int, policy: RetryPolicy | None) -> timedelta:
    """The backoff before the next attempt, as the server computes it (or the error's own delay)."""
    if isinstance(exc, ApplicationError) and exc.next_retry_delay is not None:
        return exc.next_retry_delay
    policy = policy or RetryPolicy()
    delay = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** max(attempt - 1, 0)
    if policy.maximum_interval is not None:
        delay = min(delay, policy.maximum_interval.total_seconds())
    return timedelta(seconds=delay)


def retries_left() -> bool:
    """Whether Temporal will run this activity again after a retryable failure (False outside an activity):
    a step that would fall back or give up does so only on its last attempt."""
    if not activity.in_activity():
        return False
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return maximum == 0 or info.attempt < maximum


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AttemptRecorder(Interceptor):
    """Worker interceptor; `database` is a `Database`, or a factory that opens one on first use."""

    def __init__(self, database: Any) -> None:
        self._database = database

    def database(self) -> Any:
        if callable(self._database):
            self._database = self._database()
        return self._database

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: AttemptRecorder) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except BaseException as exc:
            info = activity.info()
            if (info.workflow_type == PIPELINE_WORKFLOW and info.activity_type in NOTED_STEPS
                    and will_retry(exc, info.attempt, info.retry_policy)):
                await self._note(info, exc)
            raise

    async def _note(self, info: activity.Info, exc: BaseException) -> None:
        from sma.db import repo

        at = datetime.now(UTC) + next_delay(exc, info.attempt, info.retry_policy)
        try:
            await asyncio.wait_for(
                repo.record_attempt_failure(self.owner.database(), info.workflow_id or "", info.activity_type,
                                            info.attempt, describe(exc), at.isoformat(timespec="seconds")),
                timeout=RECORD_TIMEOUT_S)
        except Exception as err:  # the note is best effort; the retry happens either way
            log.warning("could not record a failed attempt", run=info.workflow_id, step=info.activity_type,
                        attempt=info.attempt, error=repr(err))
