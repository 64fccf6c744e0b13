"""StatusBook: the run's `PipelineStatus` and every change to it, and its copy in SQLite.

The `status` query answers from the book; `record()` writes it through a local activity after each change,
so the database (and the bot's progress message and the dashboard that read it) follows the run step by
step without a task queue round-trip.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sma.activities.record import RecorderActivities
    from sma.models.common import ArtifactRef, QAReport, StepState
    from sma.models.pipeline import (
        STEPS,
        EditScriptSignal,
        PipelineInput,
        PipelineResult,
        PipelineStatus,
        RunRecord,
        RunState,
        StepResult,
        StepStatus,
    )

_RECORD = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)


class StatusBook:
    def __init__(self, inp: PipelineInput) -> None:
        self._inp = inp
        self.status = PipelineStatus(
            workflow_id=workflow.info().workflow_id, project_id=inp.project_id, item_id=inp.item_id,
            autonomy=inp.autonomy, title=inp.topic.title, steps={name: StepStatus(name=name) for name in STEPS})

    @property
    def run_id(self) -> str:
        return self.status.workflow_id

    def step(self, name: str) -> StepStatus:
        return self.status.steps[name]

    # ------------------------------------------------------------ rounds and steps

    def begin_round(self, round_no: int) -> None:
        """A new round starts from the script: every step after media analysis is pending again."""
        self.status.round = round_no
        self.status.state = RunState.RUNNING
        if round_no > 1:
            for name in STEPS[1:]:
                self.status.steps[name] = StepStatus(name=name)

    def running(self, name: str) -> None:
        step = self.step(name)
        step.state = StepState.RUNNING
        step.attempts += 1
        step.started_at = step.started_at or self._now()
        step.error = ""
        self.status.current_step = name

    def finished(self, name: str, result: StepResult, skipped: bool = False) -> None:
        step = self.step(name)
        step.tier, step.notes = result.tier, list(result.notes)
        if skipped:
            step.state, step.seconds, step.finished_at = StepState.SKIPPED, result.seconds, self._now()
        else:
            self.done(name, result.seconds)

    def done(self, name: str, seconds: float = 0.0) -> None:
        step = self.step(name)
        step.state = StepState.DONE
        step.seconds = round(step.seconds + seconds, 3)
        step.finished_at = self._now()

    def failed(self, name: str, error: str, skipped: bool = False) -> None:
        step = self.step(name)
        step.state = StepState.SKIPPED if skipped else StepState.FAILED
        step.error = error
        step.finished_at = self._now()

    def edited(self, by: str) -> None:
        """The round's script is a person's: the writer step is done by them."""
        step = self.step("write_script")
        step.state, step.tier, step.notes = StepState.DONE, "edited", [f"edited by {by}"]
        step.finished_at = self._now()

    def add_qa(self, *reports: QAReport) -> None:
        """One report per gate: the latest replaces the one before."""
        for report in reports:
            self.status.qa = [q for q in self.status.qa if q.gate != report.gate] + [report]

    def artifact(self, name: str, ref: ArtifactRef) -> None:
        self.status.artifacts[name] = ref

    # ------------------------------------------------------------ run states

    def set_state(self, state: RunState) -> None:
        self.status.state = state

    def fail(self, error: str) -> None:
        """A required step failed for good; `current_step` keeps naming it."""
        self.status.state = RunState.FAILED
        self.status.error = error

    def end(self, state: RunState, error: str = "") -> None:
        """The run is over (or parked): nothing runs now."""
        self.status.state = state
        self.status.current_step = ""
        if error:
            self.status.error = error

    def result(self, video: ArtifactRef | None) -> PipelineResult:
        return PipelineResult(workflow_id=self.run_id, state=self.status.state, video=video,
                              posts=self.status.posts, rounds=self.status.round, status=self.status)

    # ------------------------------------------------------------ the database copy

    async def record(self, edited: EditScriptSignal | None = None) -> None:
        record = RunRecord(status=self.status, topic=self._inp.topic, platforms=self._inp.platforms,
                           edited_script=edited.script if edited else None, edited_by=edited.by if edited else "")
        await workflow.execute_local_activity_method(
            RecorderActivities.record_run, record, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RECORD)

    @staticmethod
    def _now() -> str:
        return workflow.now().isoformat()
