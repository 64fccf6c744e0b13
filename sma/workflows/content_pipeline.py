"""ContentPipelineWorkflow: one video from topic to published post, durable across crashes.

Deterministic and thin: it orders the steps, keeps the run's status for the `status` query, waits for
approval, and loops back to the script with feedback on rejection. All work happens in activities.

Since patch `autonomy-policy` (issue 5) the approval step asks the autonomy policy activity (approve, ask
a human, block), reminds and then parks an undecided run as `expired` (re-openable with `reopen`), reacts
to `set_autonomy` while waiting, holds an approved video while a publishing guard says no (`recheck`
wakes it), and keeps one progress message up to date. Runs recorded before the patch replay unchanged.

Since patch `media-layout` (issue 3) the media steps know the run: the stock footage search uses the
script's title, images and the render keep clear of the run's platforms' UI (images wait for the
background to pick the diagram theme), each platform gets its own variant (duration cap, loudness) before
publishing, and a platform whose publishing fails for good is reported as a failed post instead of
failing the run. `edit_script` (any run waiting for a decision) ends the round with a person's script:
the next round records the voice from it without writing a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.approval import ApprovalActivities
    from sma.activities.media import MediaActivities
    from sma.activities.notify import NotifyActivities
    from sma.activities.publish import PublishActivities
    from sma.activities.record import RecorderActivities
    from sma.activities.script import ScriptActivities
    from sma.activities.voice import VoiceActivities
    from sma.models.autonomy import (
        ApprovalNotice,
        PolicyRequest,
        PolicyVerdict,
        RecheckSignal,
        ReopenSignal,
        SetAutonomySignal,
    )
    from sma.models.common import ArtifactRef, QAReport, StepState
    from sma.models.media import VariantRequest, VariantResult
    from sma.models.pipeline import (
        STEPS,
        ApproveSignal,
        BackgroundRequest,
        CaptionRequest,
        CaptionResult,
        Decision,
        EditScriptSignal,
        ImagesRequest,
        MediaRequest,
        MusicRequest,
        NotifyRequest,
        PipelineInput,
        PipelineResult,
        PipelineStatus,
        PostResult,
        PublishRequest,
        RejectSignal,
        RenderRequest,
        RenderResult,
        RunRecord,
        RunState,
        Script,
        ScriptRequest,
        StatusQuery,
        StepStatus,
        VideoCheckRequest,
        VoiceRequest,
        VoiceResult,
    )

R = TypeVar("R", bound=BaseModel)
RENDER_TAIL_S = 0.6  # the render keeps this much after the voice ends (sma.services.media.render.TAIL_S)

_QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
# Media steps ride out transient faults (a disk that refuses writes for a while): backoff up to 2 min and
# no attempt cap; STEP_BUDGET bounds how long one step keeps trying. Non-retryable errors still fail at once.
_MEDIA = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                     maximum_interval=timedelta(minutes=2), maximum_attempts=0)
_PUBLISH = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=5), maximum_attempts=8)
_RECORD = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10)
_ONCE = RetryPolicy(maximum_attempts=1)
_PATIENT = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1), maximum_attempts=8)

# Every change to the command sequence made by issue 5 (policy, reminders, expiry, holds, progress).
PATCH_AUTONOMY = "autonomy-policy"
# Issue 3's second half: media requests that know the run, per-platform variants, isolated publish failures.
PATCH_MEDIA = "media-layout"
# The database copy of the status is recorded when a step starts, not only when it ends.
PATCH_STEP_START = "record-step-start"

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
    "variant": (queues.CPU, timedelta(minutes=15), timedelta(seconds=60), _MEDIA),
    # The publish activity heartbeats every few seconds: a killed worker is noticed in 30 s, not 10 min.
    "publish": (queues.WORKFLOWS, timedelta(minutes=10), timedelta(seconds=30), _PUBLISH),
    "policy": (queues.WORKFLOWS, timedelta(seconds=30), None, _PATIENT),
    "notify_approval": (queues.WORKFLOWS, timedelta(minutes=2), None, _PATIENT),
    "progress": (queues.WORKFLOWS, timedelta(seconds=20), None, _ONCE),
}

# step -> schedule-to-close: every attempt and backoff of one step together (steps not named: no budget).
STEP_BUDGET: dict[str, timedelta] = {
    "voiceover": timedelta(minutes=45),
    "captions": timedelta(minutes=45),
    "music": timedelta(minutes=20),
    "background": timedelta(minutes=20),
    "images": timedelta(minutes=20),
    "render": timedelta(minutes=60),
    "check_video": timedelta(minutes=45),
    "variant": timedelta(minutes=45),
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
        # Issue 5 state: the run's autonomy level, the approval ask and its timers, holds, progress.
        self._v2 = False
        self._level = inp.autonomy
        self._level_changed = False
        self._recheck = False
        self._reopened = False
        self._seq = 0
        self._asked_at: datetime | None = None
        self._reminded = False
        self._reminder_s = 0.0
        self._expiry_s = 0.0
        self._script: Script | None = None
        self._progress_dirty = False
        self._finished = False
        self._progress_task: asyncio.Task[None] | None = None
        # Issue 3 (second half): run-aware media requests and variants; a person's edited script.
        self._media_v2 = False
        self._edited: EditScriptSignal | None = None
        self._record_starts = False

    # ------------------------------------------------------------ signals and query

    @workflow.signal
    def approve(self, sig: ApproveSignal) -> None:
        self._decide(Decision(round=sig.round, approved=True, by=sig.by))

    @workflow.signal
    def reject(self, sig: RejectSignal) -> None:
        self._decide(Decision(round=sig.round, approved=False, by=sig.by, feedback=sig.feedback.strip()))

    @workflow.signal
    def edit_script(self, sig: EditScriptSignal) -> None:
        """A person's own script for the round they saw: ends it like a rejection, and the next round is made
        from this script (voice, captions, render) instead of a new one from the writer."""
        if not sig.script.beats or not sig.script.narration().strip():
            workflow.logger.info("ignoring an empty edited script from %s", sig.by)
            return
        decision = Decision(round=sig.round, approved=False, by=sig.by, edited=True,
                            feedback=f"script edited by hand by {sig.by}")
        if self._decide(decision):
            self._edited = sig

    @workflow.signal
    def set_autonomy(self, sig: SetAutonomySignal) -> None:
        """A new level for this run; a waiting run asks the policy again (switching down never un-publishes)."""
        workflow.logger.info("autonomy %s -> %s by %s (%s)", self._level, sig.level, sig.by, sig.source)
        self._level = sig.level
        self._status.autonomy = sig.level
        self._level_changed = True

    @workflow.signal
    def recheck(self, sig: RecheckSignal) -> None:
        """A guard changed (resume, limits): a held run asks the policy again now."""
        self._recheck = True

    @workflow.signal
    def reopen(self, sig: ReopenSignal) -> None:
        if self._status.state == RunState.EXPIRED:
            self._reopened = True

    @workflow.query
    def status(self, _: StatusQuery | None = None) -> PipelineStatus:
        return self._status

    def _decide(self, decision: Decision) -> bool:
        waiting = self._status.state == RunState.AWAITING_APPROVAL
        if not waiting or decision.round != self._status.round or self._decision is not None:
            workflow.logger.info("ignoring decision for round %s (current %s, state %s)",
                                 decision.round, self._status.round, self._status.state)
            return False
        self._decision = decision
        return True

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        self._v2 = workflow.patched(PATCH_AUTONOMY)
        self._media_v2 = workflow.patched(PATCH_MEDIA)
        self._record_starts = workflow.patched(PATCH_STEP_START)
        if self._v2:
            self._progress_task = asyncio.create_task(self._progress_pump())
        try:
            result = await self._produce(inp)
        except StepFailed as exc:
            self._status.state = RunState.FAILED
            self._status.error = str(exc)
            await self._record()
            await self._finish_progress()
            raise ApplicationError(str(exc), type="StepFailed", non_retryable=True) from exc
        except asyncio.CancelledError:
            if self._v2:
                self._status.state = RunState.CANCELLED
                self._status.current_step = ""
                await self._record()
                await self._finish_progress()
            raise
        await self._finish_progress()
        return result

    async def _produce(self, inp: PipelineInput) -> PipelineResult:
        run_id = self._status.workflow_id
        await self._record()
        media = await self._step("analyse_media", ScriptActivities.analyse_media,
                                 MediaRequest(project_id=inp.project_id, run_id=run_id, media=inp.media))
        feedback: list[str] = []
        edited: EditScriptSignal | None = None
        for round_no in range(1, inp.max_rounds + 1):
            self._begin_round(round_no)
            script = await self._use_edit(edited) if edited else await self._write_script(inp, feedback,
                                                                                          media.context)
            self._script = script
            await self._notify("script", f"Script for '{script.title}' (round {round_no}):\n{script.narration()}")
            video = await self._make_video(inp, script)
            decision = await self._approval(round_no)
            self._status.decisions.append(decision)
            if decision.approved:
                return await self._publish(inp, script, video)
            edited, self._edited = (self._edited if decision.edited else None), None
            if not decision.edited:
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

    async def _use_edit(self, edit: EditScriptSignal) -> Script:
        """The round's script is the person's: recorded with the run (the script attempts of this round hold
        it), the writer is not called, and QA_SCRIPT stays as it was for the script they edited."""
        step = self._status.steps["write_script"]
        step.state, step.tier = StepState.DONE, "edited"
        step.notes = [f"edited by {edit.by}"]
        step.finished_at = workflow.now().isoformat()
        await self._record(edited=edit)
        return edit.script

    async def _write_script(self, inp: PipelineInput, feedback: list[str], media_context: str) -> Script:
        qa_feedback: list[str] = []
        for attempt in range(1, inp.max_script_attempts + 1):
            req = ScriptRequest(project_id=inp.project_id, run_id=self._status.workflow_id, topic=inp.topic,
                                round=self._status.round, attempt=attempt, feedback=list(feedback),
                                qa_feedback=qa_feedback, media_context=media_context, platforms=list(inp.platforms),
                                previous=self._script if feedback else None)
            result = await self._step("write_script", ScriptActivities.write_script, req)
            self._add_qa(result.qa)
            if result.qa.passed:
                script: Script = result.script
                return script
            qa_feedback = list(result.qa.reasons)
        raise StepFailed(f"write_script: QA_SCRIPT failed {inp.max_script_attempts} times: "
                         + "; ".join(qa_feedback))

    async def _make_video(self, inp: PipelineInput, script: Script) -> RenderResult:
        run_id, project = self._status.workflow_id, inp.project_id
        background_task = asyncio.create_task(self._step(
            "background", MediaActivities.background,
            BackgroundRequest(project_id=project, run_id=run_id, duration_s=script.estimated_seconds,
                              seed=f"{project}/{inp.item_id}", query=script.title if self._media_v2 else "")))
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
        music_task = asyncio.create_task(self._step(
            "music", MediaActivities.music,
            MusicRequest(project_id=project, run_id=run_id, duration_s=voice.duration_s + RENDER_TAIL_S,
                         mood=script.hook_style), required=False))
        images_req = ImagesRequest(project_id=project, run_id=run_id, beats=script.beats, words=captions.words,
                                   duration_s=voice.duration_s)
        if self._media_v2:  # the diagrams' theme follows the background, so the images wait for it
            background = await background_task
            images_req.platforms = list(inp.platforms)
            images_req.background = background.video if background else None
            images = await self._step("images", MediaActivities.images, images_req, required=False)
            music = await music_task
        else:
            music, images, background = await asyncio.gather(
                music_task, self._step("images", MediaActivities.images, images_req, required=False),
                background_task)
        render: RenderResult = await self._step(
            "render", MediaActivities.render,
            RenderRequest(project_id=project, run_id=run_id, voice=voice.audio, duration_s=voice.duration_s,
                          captions=captions.ass, background=background.video if background else None,
                          music=music.audio if music else None, overlays=images.overlays if images else [],
                          platforms=list(inp.platforms) if self._media_v2 else []))
        self._artifact("video", render.video)
        checks = await self._activity("check_video", MediaActivities.check_video,
                                      VideoCheckRequest(video=render.video,
                                                        expected_duration_s=voice.duration_s + RENDER_TAIL_S,
                                                        project_id=project, autonomy=inp.autonomy))
        for report in checks.reports:
            self._add_qa(report)
        render.qa = checks.reports
        await self._record()
        return render

    async def _approval(self, round_no: int) -> Decision:
        if self._v2:
            return await self._approval_v2(round_no)
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

    # ------------------------------------------------------------ approval with the autonomy policy (v2)

    async def _approval_v2(self, round_no: int) -> Decision:
        step = self._status.steps["approval"]
        self._mark_running(step, "approval")
        decision = await self._decide_round(round_no)
        if decision.approved:
            decision = await self._publish_gate(round_no, decision)
        self._status.state = RunState.RUNNING
        step.tier = "auto" if decision.auto else "human"
        verb = "approved" if decision.approved else "edited" if decision.edited else "rejected"
        step.notes = [f"{verb} by {decision.by}", *step.notes[:3]]
        self._mark_done(step, 0.0)
        return decision

    async def _decide_round(self, round_no: int) -> Decision:
        """Ask the policy; when it wants a human, ask one, remind, expire, and re-ask on a level change."""
        phase = "ask"
        while True:
            verdict = await self._policy("approval", auto=False)
            if verdict.verdict == "approve":
                decision = Decision(round=round_no, approved=True, by=f"autonomy:{verdict.level}", auto=True)
                self._status.steps["approval"].notes = list(verdict.reasons)
                if phase != "ask":  # a level change released a run that was waiting for a person
                    await self._notify_decided(decision)
                return decision
            if phase == "ask":
                await self._ask_human(round_no, verdict)
                phase = "waiting"
            outcome = await (self._wait_for_human() if phase == "waiting" else self._wait_for_reopen())
            if outcome == "decided":
                assert self._decision is not None
                self._status.state = RunState.RUNNING  # a second decision for this round is now refused
                await self._notify_decided(self._decision)
                return self._decision
            if outcome == "expired":
                phase = "expired"
                self._status.state = RunState.EXPIRED
                await self._record()
                await self._notify("expired", f"'{self._status.title}' expired without a decision; "
                                   "the video is kept as a draft.", approval=self._notice(round_no, verdict))
            elif outcome == "reopened":
                phase = "ask"
            # "level": ask the policy again with the new level

    async def _ask_human(self, round_no: int, verdict: PolicyVerdict) -> None:
        self._seq += 1
        self._reopened = False
        self._reminded = False
        self._asked_at = workflow.now()
        self._status.state = RunState.AWAITING_APPROVAL
        step = self._status.steps["approval"]
        step.tier = "human"
        step.notes = list(verdict.reasons)
        await self._record()
        await self._notify("approval", f"'{self._status.title}' is ready for approval (round {round_no}).",
                           video=self._status.artifacts.get("video"), approval=self._notice(round_no, verdict))

    async def _wait_for_human(self) -> str:
        """'decided', 'level' (the autonomy level changed) or 'expired'; sends the reminder on the way."""
        def ready() -> bool:
            return self._decision is not None or self._level_changed

        while True:
            deadline, is_reminder = self._next_deadline()
            if deadline is None:
                await workflow.wait_condition(ready)
            else:
                remaining = (deadline - workflow.now()).total_seconds()
                if remaining > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await workflow.wait_condition(ready, timeout=remaining)
            if ready():
                return "decided" if self._decision is not None else "level"
            if not is_reminder:
                return "expired"
            self._reminded = True
            await self._notify("reminder", f"Reminder: '{self._status.title}' is still waiting for your decision "
                               f"(round {self._status.round}).", approval=self._notice(self._status.round, None))

    def _next_deadline(self) -> tuple[datetime | None, bool]:
        """The next timer of the current ask: the reminder (once), then the expiry; (None, False) = none."""
        assert self._asked_at is not None
        expiry = self._asked_at + timedelta(seconds=self._expiry_s) if self._expiry_s > 0 else None
        if not self._reminded and self._reminder_s > 0 and (expiry is None or self._reminder_s < self._expiry_s):
            return self._asked_at + timedelta(seconds=self._reminder_s), True
        return expiry, False

    async def _wait_for_reopen(self) -> str:
        await workflow.wait_condition(lambda: self._reopened or self._level_changed)
        return "reopened" if self._reopened else "level"

    async def _publish_gate(self, round_no: int, decision: Decision) -> Decision:
        """The last check before publishing: the kill switch always; quiet hours and caps for automatic
        approvals. A held run waits for the guard to clear (timer or `recheck`), never fails."""
        held = False
        while True:
            self._recheck = False
            verdict = await self._policy("publish", auto=decision.auto)
            if verdict.verdict == "approve":
                return decision
            if verdict.verdict == "ask":  # the level went down after an automatic approval
                decision = await self._decide_round(round_no)
                if not decision.approved:
                    return decision
                continue
            self._status.state = RunState.HELD
            self._status.steps["approval"].notes = [f"held: {r}" for r in verdict.reasons]
            await self._record()
            if not held:
                held = True
                await self._notify("held", f"'{self._status.title}' is approved but held: "
                                   + "; ".join(verdict.reasons), approval=self._notice(round_no, verdict))
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self._recheck or self._level_changed,
                                              timeout=max(verdict.retry_after_s, 1.0))

    async def _policy(self, stage: str, auto: bool) -> PolicyVerdict:
        """Ask the autonomy policy; if it cannot answer, ask a human (approval) or hold (publish)."""
        self._level_changed = False
        req = PolicyRequest(project_id=self._inp.project_id, run_id=self._status.workflow_id,
                            round=self._status.round, stage=stage, level=self._level, auto=auto,  # type: ignore[arg-type]  # str stage and level; pydantic checks the Literals
                            pinned=self._inp.autonomy_pinned,
                            qa=list(self._status.qa), title=self._status.title, summary=self._inp.topic.summary,
                            platforms=list(self._inp.platforms))
        requested = self._level
        try:
            verdict: PolicyVerdict = await self._activity("policy", ApprovalActivities.approval_policy, req)
        except ActivityError as exc:
            if _is_cancel(exc):
                raise asyncio.CancelledError() from exc
            reason = f"the autonomy policy could not answer: {_cause(exc)}"
            workflow.logger.warning(reason)
            if stage == "approval":
                return PolicyVerdict(verdict="ask", level=self._level, reasons=[reason],
                                     reminder_s=self._reminder_s, expiry_s=self._expiry_s)
            return PolicyVerdict(verdict="block", level=self._level, reasons=[reason], retry_after_s=300)
        if verdict.level != requested and not self._level_changed:  # capped or fell back; a newer signal wins
            self._level = verdict.level
            self._status.autonomy = verdict.level
        self._reminder_s, self._expiry_s = verdict.reminder_s, verdict.expiry_s
        return verdict

    def _notice(self, round_no: int, verdict: PolicyVerdict | None) -> ApprovalNotice:
        return ApprovalNotice(
            round=round_no, seq=self._seq, title=self._status.title,
            script=self._script.narration() if self._script else "", qa=list(self._status.qa),
            platforms=list(self._inp.platforms), reasons=list(verdict.reasons) if verdict else [],
            level=self._level)

    async def _notify_decided(self, decision: Decision) -> None:
        notice = self._notice(decision.round, None)
        notice.approved, notice.by, notice.feedback = decision.approved, decision.by, decision.feedback
        verb = "approved" if decision.approved else "edited" if decision.edited else "rejected"
        await self._notify("decided", f"'{self._status.title}' round {decision.round} {verb} by {decision.by}.",
                           approval=notice)

    # ------------------------------------------------------------ progress message (v2)

    async def _progress_pump(self) -> None:
        """Sends the progress text whenever it changed, one notice at a time, so edits never overtake each
        other and a slow chat never slows the pipeline down."""
        last = ""
        while True:
            await workflow.wait_condition(lambda: self._progress_dirty or self._finished)
            self._progress_dirty = False
            text = self._progress_text()
            if text != last:
                last = text
                await self._notify("progress", text)
            if self._finished and not self._progress_dirty:
                return

    async def _finish_progress(self) -> None:
        if self._progress_task is None:
            return
        self._finished = True
        await self._progress_task

    def _progress_text(self) -> str:
        marks = {StepState.DONE: "✓", StepState.RUNNING: "…", StepState.SKIPPED: "-",
                 StepState.FAILED: "✗", StepState.PENDING: "·"}
        lines = [f"{self._status.title} (round {self._status.round})"]
        for step in self._status.steps.values():
            detail = f" [{step.tier}]" if step.tier else ""
            timing = f" {step.seconds:.1f}s" if step.state == StepState.DONE and step.seconds else ""
            lines.append(f"{marks[step.state]} {step.name.replace('_', ' ')}{detail}{timing}")
        lines.append(f"state: {self._status.state.value}" + (f" ({self._status.error})" if self._status.error else ""))
        return "\n".join(lines)

    # ------------------------------------------------------------ publish

    async def _publish(self, inp: PipelineInput, script: Script, video: RenderResult) -> PipelineResult:
        step = self._status.steps["publish"]
        self._mark_running(step, "publish")
        if self._record_starts:
            await self._record()
        if self._media_v2:
            outcomes = await asyncio.gather(*(self._publish_one(inp, script, video, p) for p in inp.platforms))
            posts = [post for posts_of, _, _ in outcomes for post in posts_of]
            variant_notes = [note for _, notes, _ in outcomes for note in notes]
            seconds = sum(secs for _, _, secs in outcomes)
        else:
            results = await asyncio.gather(*(
                self._activity("publish", PublishActivities.publish,
                               PublishRequest(project_id=inp.project_id, run_id=self._status.workflow_id,
                                              video=video.video, script=script, platforms=[platform]))
                for platform in inp.platforms))
            posts = [post for result in results for post in result.posts]
            variant_notes, seconds = [], sum(r.seconds for r in results)
        self._status.posts = posts
        step.tier = ",".join(inp.platforms)
        step.notes = [f"{p.platform}: {p.status} {p.url or p.reason}".strip() for p in posts] + variant_notes
        self._mark_done(step, seconds)
        published = any(p.status == "published" for p in posts)
        self._status.state = RunState.PUBLISHED if published else RunState.FAILED
        if not published:
            self._status.error = "no platform accepted the video: " + "; ".join(step.notes)
        self._status.current_step = ""
        await self._record()
        if self._v2:
            lines = [f"{p.platform}: {p.status} {p.url or p.reason}".strip() for p in posts]
            await self._notify("published" if published else "failed",
                               f"'{self._status.title}' " + ("published" if published else "was not published")
                               + ":\n" + "\n".join(lines))
        return self._result(video.video)

    async def _publish_one(self, inp: PipelineInput, script: Script, video: RenderResult,
                           platform: str) -> tuple[list[PostResult], list[str], float]:
        """One platform: its variant of the video (the master when nothing differs, or when making the
        variant failed), then the upload. A platform that fails for good becomes a failed post, so the
        others still publish and the run reports every platform."""
        upload, notes = await self._variant(inp, video, platform)
        req = PublishRequest(project_id=inp.project_id, run_id=self._status.workflow_id, video=upload,
                             script=script, platforms=[platform])
        try:
            result = await self._activity("publish", PublishActivities.publish, req)
        except ActivityError as exc:
            if _is_cancel(exc):
                raise asyncio.CancelledError() from exc
            return [PostResult(platform=platform, status="failed", reason=_cause(exc))], notes, 0.0
        return list(result.posts), notes, result.seconds

    async def _variant(self, inp: PipelineInput, video: RenderResult, platform: str) -> tuple[ArtifactRef, list[str]]:
        req = VariantRequest(project_id=inp.project_id, run_id=self._status.workflow_id, video=video.video,
                             platform=platform, words_artifact=self._status.artifacts.get("words"))
        try:
            variant: VariantResult = await self._activity("variant", MediaActivities.variant, req)
        except ActivityError as exc:
            if _is_cancel(exc):
                raise asyncio.CancelledError() from exc
            return video.video, [f"{platform} variant failed, the master is uploaded: {_cause(exc)}"]
        if not variant.changed:
            return video.video, []
        self._artifact(f"video_{platform}", variant.video)
        return variant.video, [f"{platform} variant: {'; '.join(variant.changed)}"]

    # ------------------------------------------------------------ step plumbing

    async def _step(self, name: str, method: Callable[..., Any], arg: Any, required: bool = True) -> Any:
        """Run one pipeline step as an activity and keep its StepStatus; optional steps may fail."""
        step = self._status.steps[name]
        self._mark_running(step, name)
        if self._record_starts:  # the database copy shows the step that runs now, not the last one finished
            await self._record()
        try:
            result = await self._activity(name, method, arg)
        except ActivityError as exc:
            if self._v2 and _is_cancel(exc):
                raise asyncio.CancelledError() from exc
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
        if name in self._inp.gpu_steps:  # a configured tier needs CUDA (decided when the run started)
            queue = queues.GPU
        budget_s = self._inp.step_budgets_s.get(name)
        budget = timedelta(seconds=budget_s) if budget_s else STEP_BUDGET.get(name)
        return await workflow.execute_activity_method(
            method, arg, task_queue=queue + self._inp.queue_suffix, start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat, retry_policy=retry, schedule_to_close_timeout=budget)

    async def _notify(self, kind: str, text: str, video: ArtifactRef | None = None,
                      approval: ApprovalNotice | None = None) -> None:
        """Best effort: a notification that cannot be delivered never stops the run."""
        req = NotifyRequest(project_id=self._inp.project_id, run_id=self._status.workflow_id, kind=kind,
                            text=text, video=video, approval=approval)
        option = {"progress": "progress", "approval": "notify_approval"}.get(kind, "notify") if self._v2 else "notify"
        try:
            result = await self._activity(option, NotifyActivities.notify, req)
        except ActivityError as exc:
            if self._v2 and _is_cancel(exc):
                raise asyncio.CancelledError() from exc
            workflow.logger.warning("notify %s failed: %s", kind, _cause(exc))
            return
        if kind == "script":
            step = self._status.steps["notify"]
            step.tier = result.channel
            self._mark_done(step, result.seconds)

    async def _record(self, edited: EditScriptSignal | None = None) -> None:
        self._progress_dirty = True
        record = RunRecord(status=self._status, topic=self._inp.topic, platforms=self._inp.platforms,
                           edited_script=edited.script if edited else None, edited_by=edited.by if edited else "")
        await workflow.execute_local_activity_method(
            RecorderActivities.record_run, record, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RECORD)

    def _mark_running(self, step: StepStatus, name: str) -> None:
        step.state = StepState.RUNNING
        step.attempts += 1
        step.started_at = step.started_at or workflow.now().isoformat()
        step.error = ""
        self._status.current_step = name
        self._progress_dirty = True  # the progress message shows what is running now

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


def _is_cancel(exc: ActivityError) -> bool:
    """The activity ended because the workflow was cancelled (/cancel), not because it failed."""
    return isinstance(exc.cause, CancelledError)


WORKFLOWS = [ContentPipelineWorkflow]


def _cause(exc: BaseException) -> str:
    """The innermost message: 'ApplicationError: every TTS engine failed' rather than 'Activity task failed'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
