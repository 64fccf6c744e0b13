"""ContentPipelineWorkflow: one video from topic to published post, durable across crashes.

Deterministic and thin: it orders the steps, keeps the run's status for the `status` query, waits for
approval, and loops back to the script with feedback on rejection. All work happens in activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.media import MediaActivities
    from sma.activities.notify import NotifyActivities
    from sma.activities.publish import PublishActivities
    from sma.activities.record import RecorderActivities
    from sma.activities.script import ScriptActivities
    from sma.activities.voice import VoiceActivities
    from sma.models.common import ArtifactRef, QAReport, StepState
    from sma.models.pipeline import (
        STEPS,
        ApproveSignal,
        BackgroundRequest,
        CaptionRequest,
        CaptionResult,
        Decision,
        ImagesRequest,
        MediaRequest,
        MusicRequest,
        NotifyRequest,
        PipelineInput,
        PipelineResult,
        PipelineStatus,
        PublishRequest,
        RejectSignal,
        RenderRequest,
        RenderResult,
        RunRecord,
        RunState,
        Script,
        ScriptRequest,
        StatusQuery,
        StepResult,
        StepStatus,
        VideoCheckRequest,
        VoiceRequest,
        VoiceResult,
    )

R = TypeVar("R", bound=StepResult)

_QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
_MEDIA = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_attempts=3)
_PUBLISH = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=5), maximum_attempts=8)
_RECORD = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)

# step -> (task queue, start-to-close, heartbeat timeout or None, retry policy)
STEP_OPTIONS: dict[str, tuple[str, timedelta, timedelta | None, RetryPolicy]] = {
    "analyse_media": (queues.WORKFLOWS, timedelta(minutes=2), None, _QUICK),
    "write_script": (queues.WORKFLOWS, timedelta(minutes=3), None, _QUICK),
    "notify": (queues.WORKFLOWS, timedelta(seconds=30), None, _QUICK),
    "voiceover": (queues.GPU, timedelta(minutes=15), timedelta(seconds=60), _MEDIA),
    "captions": (queues.GPU, timedelta(minutes=15), timedelta(seconds=60), _MEDIA),
    "music": (queues.CPU, timedelta(minutes=5), timedelta(seconds=60), _MEDIA),
    "background": (queues.CPU, timedelta(minutes=5), timedelta(seconds=60), _MEDIA),
    "images": (queues.CPU, timedelta(minutes=5), timedelta(seconds=60), _MEDIA),
    "render": (queues.CPU, timedelta(minutes=30), timedelta(seconds=15), _MEDIA),
    "check_video": (queues.CPU, timedelta(minutes=10), timedelta(seconds=60), _MEDIA),
    "publish": (queues.WORKFLOWS, timedelta(minutes=10), None, _PUBLISH),
}


class StepFailed(Exception):
    """A required step failed for good; the run ends `failed` with the step's error."""


@workflow.defn(name="ContentPipelineWorkflow")
class ContentPipelineWorkflow:
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        self._inp = inp
        self._status = PipelineStatus(
            workflow_id=workflow.info().workflow_id,
            project_id=inp.project_id,
            item_id=inp.item_id,
            autonomy=inp.autonomy,
            title=inp.topic.title,
            steps={name: StepStatus(name=name) for name in STEPS},
        )
        self._decision: Decision | None = None

    # ------------------------------------------------------------ signals and query

    @workflow.signal
    def approve(self, sig: ApproveSignal) -> None:
        self._decide(Decision(round=sig.round, approved=True, by=sig.by))

    @workflow.signal
    def reject(self, sig: RejectSignal) -> None:
        self._decide(Decision(round=sig.round, approved=False, by=sig.by, feedback=sig.feedback.strip()))

    @workflow.query
    def status(self, _: StatusQuery | None = None) -> PipelineStatus:
        return self._status

    def _decide(self, decision: Decision) -> None:
        waiting = self._status.state == RunState.AWAITING_APPROVAL
        if not waiting or decision.round != self._status.round or self._decision is not None:
            workflow.logger.info("ignoring decision for round %s (current %s, state %s)",
                                 decision.round, self._status.round, self._status.state)
            return
        self._decision = decision

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        try:
            return await self._produce(inp)
        except StepFailed as exc:
            self._status.state = RunState.FAILED
            self._status.error = str(exc)
            await self._record()
            raise ApplicationError(str(exc), type="StepFailed", non_retryable=True) from exc

    async def _produce(self, inp: PipelineInput) -> PipelineResult:
        run_id = self._status.workflow_id
        await self._record()
        media = await self._step("analyse_media", ScriptActivities.analyse_media,
                                 MediaRequest(project_id=inp.project_id, run_id=run_id, media=inp.media))
        feedback: list[str] = []
        for round_no in range(1, inp.max_rounds + 1):
            self._begin_round(round_no)
            script = await self._write_script(inp, feedback, media.context)
            await self._notify("script", f"Script for '{script.title}' (round {round_no}):\n{script.narration()}")
            video = await self._make_video(inp, script)
            decision = await self._approval(round_no)
            self._status.decisions.append(decision)
            if decision.approved:
                return await self._publish(inp, script, video)
            feedback.append(decision.feedback or "rejected without a reason")
            self._status.feedback = list(feedback)
            await self._record()
        self._status.state = RunState.REJECTED
        self._status.current_step = ""
        await self._record()
        await self._notify("rejected", f"'{inp.topic.title}' was rejected {inp.max_rounds} times; nothing published.")
        return self._result(None)

    def _begin_round(self, round_no: int) -> None:
        self._status.round = round_no
        self._status.state = RunState.RUNNING
        self._decision = None
        if round_no > 1:
            for name in STEPS[1:]:
                self._status.steps[name] = StepStatus(name=name)

    async def _write_script(self, inp: PipelineInput, feedback: list[str], media_context: str) -> Script:
        qa_feedback: list[str] = []
        for attempt in range(1, inp.max_script_attempts + 1):
            req = ScriptRequest(project_id=inp.project_id, run_id=self._status.workflow_id, topic=inp.topic,
                                round=self._status.round, attempt=attempt, feedback=list(feedback),
                                qa_feedback=qa_feedback, media_context=media_context)
            result = await self._step("write_script", ScriptActivities.write_script, req)
            self._add_qa(result.qa)
            if result.qa.passed:
                return result.script
            qa_feedback = list(result.qa.reasons)
        raise StepFailed(f"write_script: QA_SCRIPT failed {inp.max_script_attempts} times: "
                         + "; ".join(qa_feedback))

    async def _make_video(self, inp: PipelineInput, script: Script) -> RenderResult:
        run_id, project = self._status.workflow_id, inp.project_id
        background_task = asyncio.create_task(self._step(
            "background", MediaActivities.background,
            BackgroundRequest(project_id=project, run_id=run_id, duration_s=script.estimated_seconds,
                              seed=f"{project}/{inp.item_id}")))
        voice: VoiceResult = await self._step(
            "voiceover", VoiceActivities.voiceover, VoiceRequest(project_id=project, run_id=run_id,
                                                                 text=script.narration()))
        self._artifact("voice", voice.audio)
        self._add_qa(voice.qa)
        captions: CaptionResult = await self._step(
            "captions", VoiceActivities.captions,
            CaptionRequest(project_id=project, run_id=run_id, audio=voice.audio, script_text=script.narration()))
        self._artifact("captions", captions.ass)
        self._artifact("words", captions.words)
        self._add_qa(captions.qa)
        music, images, background = await asyncio.gather(
            self._step("music", MediaActivities.music,
                       MusicRequest(project_id=project, run_id=run_id, duration_s=voice.duration_s,
                                    mood=script.hook_style), required=False),
            self._step("images", MediaActivities.images,
                       ImagesRequest(project_id=project, run_id=run_id, beats=script.beats,
                                     words=captions.words, duration_s=voice.duration_s), required=False),
            background_task,
        )
        render: RenderResult = await self._step(
            "render", MediaActivities.render,
            RenderRequest(project_id=project, run_id=run_id, voice=voice.audio, duration_s=voice.duration_s,
                          captions=captions.ass, background=background.video if background else None,
                          music=music.audio if music else None, overlays=images.overlays if images else []))
        self._artifact("video", render.video)
        checks = await self._activity("check_video", MediaActivities.check_video,
                                      VideoCheckRequest(video=render.video, expected_duration_s=render.duration_s))
        for report in checks.reports:
            self._add_qa(report)
        render.qa = checks.reports
        await self._record()
        return render

    async def _approval(self, round_no: int) -> Decision:
        step = self._status.steps["approval"]
        self._mark_running(step, "approval")
        all_passed = all(q.passed for q in self._status.qa)  # one report per gate: the latest
        if self._inp.autonomy == "autonomous" or (self._inp.autonomy == "assisted" and all_passed):
            decision = Decision(round=round_no, approved=True, by=f"autonomy:{self._inp.autonomy}", auto=True)
        else:
            self._status.state = RunState.AWAITING_APPROVAL
            step.tier = "human"
            await self._record()
            await self._notify("approval", f"'{self._status.title}' is ready for approval (round {round_no}).",
                               video=self._status.artifacts.get("video"))
            await workflow.wait_condition(lambda: self._decision is not None)
            assert self._decision is not None
            decision = self._decision
            self._status.state = RunState.RUNNING
        step.tier = step.tier or "auto"
        step.notes = [f"{'approved' if decision.approved else 'rejected'} by {decision.by}"]
        self._mark_done(step, 0.0)
        return decision

    async def _publish(self, inp: PipelineInput, script: Script, video: RenderResult) -> PipelineResult:
        step = self._status.steps["publish"]
        self._mark_running(step, "publish")
        results = await asyncio.gather(*(
            self._activity("publish", PublishActivities.publish,
                           PublishRequest(project_id=inp.project_id, run_id=self._status.workflow_id,
                                          video=video.video, script=script, platforms=[platform]))
            for platform in inp.platforms))
        posts = [post for result in results for post in result.posts]
        self._status.posts = posts
        step.tier = ",".join(inp.platforms)
        step.notes = [f"{p.platform}: {p.status} {p.url or p.reason}".strip() for p in posts]
        self._mark_done(step, sum(r.seconds for r in results))
        published = any(p.status == "published" for p in posts)
        self._status.state = RunState.PUBLISHED if published else RunState.FAILED
        if not published:
            self._status.error = "no platform accepted the video: " + "; ".join(step.notes)
        self._status.current_step = ""
        await self._record()
        return self._result(video.video)

    # ------------------------------------------------------------ step plumbing

    async def _step(self, name: str, method: Callable[..., Any], arg: Any, required: bool = True) -> Any:
        """Run one pipeline step as an activity and keep its StepStatus; optional steps may fail."""
        step = self._status.steps[name]
        self._mark_running(step, name)
        try:
            result = await self._activity(name, method, arg)
        except ActivityError as exc:
            step.state = StepState.FAILED if required else StepState.SKIPPED
            step.error = _cause(exc)
            step.finished_at = workflow.now().isoformat()
            await self._record()
            if required:
                raise StepFailed(f"{name}: {step.error}") from exc
            return None
        step.tier = result.tier
        step.notes = list(result.notes)
        if name == "analyse_media" and getattr(result, "skipped", False):
            step.state = StepState.SKIPPED
            step.seconds = result.seconds
            step.finished_at = workflow.now().isoformat()
        else:
            self._mark_done(step, result.seconds)
        await self._record()
        return result

    async def _activity(self, name: str, method: Callable[..., Awaitable[R]] | Callable[..., R], arg: Any) -> R:
        queue, timeout, heartbeat, retry = STEP_OPTIONS[name]
        return await workflow.execute_activity_method(
            method, arg, task_queue=queue + self._inp.queue_suffix, start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat, retry_policy=retry)

    async def _notify(self, kind: str, text: str, video: ArtifactRef | None = None) -> None:
        """Best effort: a notification that cannot be delivered never stops the run."""
        req = NotifyRequest(project_id=self._inp.project_id, run_id=self._status.workflow_id, kind=kind,
                            text=text, video=video)
        try:
            result = await self._activity("notify", NotifyActivities.notify, req)
        except ActivityError as exc:
            workflow.logger.warning("notify %s failed: %s", kind, _cause(exc))
            return
        if kind == "script":
            step = self._status.steps["notify"]
            step.tier = result.channel
            self._mark_done(step, result.seconds)

    async def _record(self) -> None:
        record = RunRecord(status=self._status, topic=self._inp.topic, platforms=self._inp.platforms)
        await workflow.execute_local_activity_method(
            RecorderActivities.record_run, record, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RECORD)

    def _mark_running(self, step: StepStatus, name: str) -> None:
        step.state = StepState.RUNNING
        step.attempts += 1
        step.started_at = step.started_at or workflow.now().isoformat()
        step.error = ""
        self._status.current_step = name

    def _mark_done(self, step: StepStatus, seconds: float) -> None:
        step.state = StepState.DONE
        step.seconds = round(step.seconds + seconds, 3)
        step.finished_at = workflow.now().isoformat()

    def _artifact(self, name: str, ref: ArtifactRef) -> None:
        self._status.artifacts[name] = ref

    def _add_qa(self, report: QAReport) -> None:
        self._status.qa = [q for q in self._status.qa if q.gate != report.gate] + [report]

    def _result(self, video: ArtifactRef | None) -> PipelineResult:
        return PipelineResult(workflow_id=self._status.workflow_id, state=self._status.state, video=video,
                              posts=self._status.posts, rounds=self._status.round, status=self._status)


def _cause(exc: BaseException) -> str:
    """The innermost message: 'ApplicationError: every TTS engine failed' rather than 'Activity task failed'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
