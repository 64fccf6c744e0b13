"""ContentPipelineWorkflow: one video from topic to published post, durable across crashes.

`run` is the design's step table (DESIGN.md, "Content pipeline"), one call per step; a rejection goes
back to step 2 with the feedback so far, a hand-edited script replaces step 2 for the next round. Every
step is an activity (`steps.py`), the run's status is kept and recorded by `status.py`, and step 10 is
`approval.py`. Deterministic and thin: all work happens in activities.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sma.models.autonomy import RecheckSignal, ReopenSignal, SetAutonomySignal
    from sma.models.common import ArtifactRef
    from sma.models.media import VariantRequest
    from sma.models.pipeline import (
        ApproveSignal,
        BackgroundRequest,
        BackgroundResult,
        CaptionRequest,
        CaptionResult,
        Decision,
        EditScriptSignal,
        ImagesRequest,
        ImagesResult,
        MediaAnalysis,
        MediaRequest,
        MusicRequest,
        MusicResult,
        PipelineInput,
        PipelineResult,
        PipelineStatus,
        PostResult,
        PublishRequest,
        RejectSignal,
        RenderRequest,
        RenderResult,
        RunState,
        Script,
        ScriptRequest,
        StatusQuery,
        VideoCheckRequest,
        VoiceRequest,
        VoiceResult,
    )
    from sma.workflows.pipeline.approval import Approval
    from sma.workflows.pipeline.status import StatusBook
    from sma.workflows.pipeline.steps import (
        ANALYSE_MEDIA,
        BACKGROUND,
        CAPTIONS,
        CHECK_VIDEO,
        IMAGES,
        MUSIC,
        PUBLISH,
        RENDER,
        VARIANT,
        VOICEOVER,
        WRITE_SCRIPT,
        StepFailed,
        StepRunner,
        cause,
        reraise_cancel,
    )

RENDER_TAIL_S = 0.6  # the render keeps this much after the voice ends (sma.services.media.render.TAIL_S)


@workflow.defn(name="ContentPipelineWorkflow")
class ContentPipelineWorkflow:
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        self._inp = inp
        self._book = StatusBook(inp)
        self._steps = StepRunner(inp, self._book)
        self._approval = Approval(inp, self._book, self._steps)
        self._script: Script | None = None

    # ------------------------------------------------------------ signals and query

    @workflow.signal
    def approve(self, sig: ApproveSignal) -> None:
        self._approval.decide(Decision(round=sig.round, approved=True, by=sig.by))

    @workflow.signal
    def reject(self, sig: RejectSignal) -> None:
        self._approval.decide(Decision(round=sig.round, approved=False, by=sig.by, feedback=sig.feedback.strip()))

    @workflow.signal
    def edit_script(self, sig: EditScriptSignal) -> None:
        """A person's own script for the round they saw: ends it like a rejection, and the next round is made
        from this script (voice, captions, render) instead of a new one from the writer."""
        self._approval.edit(sig)

    @workflow.signal
    def set_autonomy(self, sig: SetAutonomySignal) -> None:
        self._approval.set_level(sig)

    @workflow.signal
    def recheck(self, sig: RecheckSignal) -> None:
        """A guard changed (resume, limits): a held run asks the policy again now."""
        self._approval.recheck()

    @workflow.signal
    def reopen(self, sig: ReopenSignal) -> None:
        self._approval.reopen()

    @workflow.query
    def status(self, _: StatusQuery | None = None) -> PipelineStatus:
        return self._book.status

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        async with self._ending():
            await self._book.record()
            media = await self._analyse_media()                                         # 1
            feedback: list[str] = []
            for round_no in range(1, inp.max_rounds + 1):
                self._book.begin_round(round_no)
                script = await self._write_script(feedback, media.context)              # 2
                await self._preview(script)                                             # 3
                background = asyncio.create_task(self._background(script))              # 7 (beside 4-5)
                voice = await self._voiceover(script)                                   # 4
                captions = await self._captions(script, voice)                          # 5
                music = asyncio.create_task(self._music(script, voice))                 # 6 (beside 8)
                images = await self._images(script, voice, captions, await background)  # 8
                video = await self._render(voice, captions, await background, await music, images)  # 9
                decision = await self._approval.round(round_no, script)                 # 10
                if decision.approved:
                    return await self._publish(script, video)                           # 11
                await self._back_to_script(decision, feedback)
            return await self._rejected()

    @contextlib.asynccontextmanager
    async def _ending(self) -> AsyncIterator[None]:
        """A failed step ends the run `failed`, a cancel ends it `cancelled`; both are recorded."""
        try:
            yield
        except StepFailed as exc:
            self._book.fail(str(exc))
            await self._book.record()
            raise ApplicationError(str(exc), type="StepFailed", non_retryable=True) from exc
        except asyncio.CancelledError:
            self._book.end(RunState.CANCELLED)
            await self._book.record()
            raise

    # ------------------------------------------------------------ steps 1-9

    async def _analyse_media(self) -> MediaAnalysis:
        return await self._steps.run(ANALYSE_MEDIA, MediaRequest(project_id=self._inp.project_id,
                                                                 run_id=self._book.run_id, media=self._inp.media))

    async def _write_script(self, feedback: list[str], media_context: str) -> Script:
        """The writer's script, rewritten with QA_SCRIPT's reasons until it passes; or a person's edit,
        recorded with the run (QA_SCRIPT stays as it was for the script they edited)."""
        edited = self._approval.take_edit()
        if edited is not None:
            self._book.edited(edited.by)
            await self._book.record(edited=edited)
            self._script = edited.script
            return edited.script
        inp, qa_feedback = self._inp, list[str]()
        for attempt in range(1, inp.max_script_attempts + 1):
            req = ScriptRequest(project_id=inp.project_id, run_id=self._book.run_id, topic=inp.topic,
                                round=self._book.status.round, attempt=attempt, feedback=list(feedback),
                                qa_feedback=qa_feedback, media_context=media_context, platforms=list(inp.platforms),
                                previous=self._script if feedback else None)
            result = await self._steps.run(WRITE_SCRIPT, req)
            self._book.add_qa(result.qa)
            if result.qa.passed:
                self._script = result.script
                return result.script
            qa_feedback = list(result.qa.reasons)
        raise StepFailed(f"write_script: QA_SCRIPT failed {inp.max_script_attempts} times: " + "; ".join(qa_feedback))

    async def _preview(self, script: Script) -> None:
        text = f"Script for '{script.title}' (round {self._book.status.round}):\n{script.narration()}"
        sent = await self._steps.notify("script", text)
        if sent is not None:
            self._book.step("notify").tier = sent.channel
            self._book.done("notify", sent.seconds)

    async def _voiceover(self, script: Script) -> VoiceResult:
        voice = await self._steps.run(VOICEOVER, VoiceRequest(project_id=self._inp.project_id,
                                                              run_id=self._book.run_id, text=script.narration()))
        self._book.artifact("voice", voice.audio)
        self._book.add_qa(voice.qa)
        return voice

    async def _captions(self, script: Script, voice: VoiceResult) -> CaptionResult:
        captions = await self._steps.run(CAPTIONS, CaptionRequest(
            project_id=self._inp.project_id, run_id=self._book.run_id, audio=voice.audio,
            script_text=script.narration()))
        self._book.artifact("captions", captions.ass)
        self._book.artifact("words", captions.words)
        self._book.add_qa(captions.qa)
        return captions

    async def _music(self, script: Script, voice: VoiceResult) -> MusicResult | None:
        return await self._steps.optional(MUSIC, MusicRequest(
            project_id=self._inp.project_id, run_id=self._book.run_id, duration_s=voice.duration_s + RENDER_TAIL_S,
            mood=script.hook_style))

    async def _background(self, script: Script) -> BackgroundResult:
        """Stock footage found by the script's title, else a procedural background."""
        inp = self._inp
        return await self._steps.run(BACKGROUND, BackgroundRequest(
            project_id=inp.project_id, run_id=self._book.run_id, duration_s=script.estimated_seconds,
            seed=f"{inp.project_id}/{inp.item_id}", query=script.title))

    async def _images(self, script: Script, voice: VoiceResult, captions: CaptionResult,
                      background: BackgroundResult) -> ImagesResult | None:
        """The diagrams' theme follows the background, and every image keeps clear of the platforms' UI."""
        return await self._steps.optional(IMAGES, ImagesRequest(
            project_id=self._inp.project_id, run_id=self._book.run_id, beats=script.beats, words=captions.words,
            duration_s=voice.duration_s, platforms=list(self._inp.platforms), background=background.video))

    async def _render(self, voice: VoiceResult, captions: CaptionResult, background: BackgroundResult,
                      music: MusicResult | None, images: ImagesResult | None) -> RenderResult:
        """One FFmpeg pass, then QA_RENDER and QA_VISUAL on the file it wrote."""
        inp = self._inp
        render = await self._steps.run(RENDER, RenderRequest(
            project_id=inp.project_id, run_id=self._book.run_id, voice=voice.audio, duration_s=voice.duration_s,
            captions=captions.ass, background=background.video, music=music.audio if music else None,
            overlays=images.overlays if images else [], platforms=list(inp.platforms)))
        self._book.artifact("video", render.video)
        checks = await self._steps.call(CHECK_VIDEO, VideoCheckRequest(
            video=render.video, expected_duration_s=voice.duration_s + RENDER_TAIL_S, project_id=inp.project_id,
            autonomy=inp.autonomy))
        self._book.add_qa(*checks.reports)
        render.qa = checks.reports
        await self._book.record()
        return render

    # ------------------------------------------------------------ after step 10

    async def _back_to_script(self, decision: Decision, feedback: list[str]) -> None:
        """A rejection's reason joins the feedback for the writer; an edit brings its own script."""
        if not decision.edited:
            feedback.append(decision.feedback or "rejected without a reason")
        self._book.status.feedback = list(feedback)
        await self._book.record()

    async def _rejected(self) -> PipelineResult:
        self._book.end(RunState.REJECTED)
        await self._book.record()
        await self._steps.notify("rejected", f"'{self._inp.topic.title}' was rejected {self._inp.max_rounds} times; "
                                 "nothing published.")
        return self._book.result(None)

    # ------------------------------------------------------------ step 11

    async def _publish(self, script: Script, video: RenderResult) -> PipelineResult:
        """Every platform at once, each with its own variant; one that fails for good is a failed post."""
        self._book.running("publish")
        await self._book.record()
        outcomes = await asyncio.gather(*(self._publish_one(script, video, p) for p in self._inp.platforms))
        posts = [post for posts_of, _, _ in outcomes for post in posts_of]
        lines = [f"{p.platform}: {p.status} {p.url or p.reason}".strip() for p in posts]
        step = self._book.step("publish")
        step.tier = ",".join(self._inp.platforms)
        step.notes = lines + [note for _, notes, _ in outcomes for note in notes]
        self._book.status.posts = posts
        self._book.done("publish", sum(seconds for _, _, seconds in outcomes))
        published = any(p.status == "published" for p in posts)
        self._book.end(RunState.PUBLISHED if published else RunState.FAILED,
                       "" if published else "no platform accepted the video: " + "; ".join(step.notes))
        await self._book.record()
        title = self._book.status.title
        await self._steps.notify("published" if published else "failed",
                                 f"'{title}' " + ("published" if published else "was not published")
                                 + ":\n" + "\n".join(lines))
        return self._book.result(video.video)

    async def _publish_one(self, script: Script, video: RenderResult,
                           platform: str) -> tuple[list[PostResult], list[str], float]:
        """One platform: its variant of the video (the master when nothing differs, or when making the
        variant failed), then the upload."""
        upload, notes = await self._variant(video, platform)
        req = PublishRequest(project_id=self._inp.project_id, run_id=self._book.run_id, video=upload,
                             script=script, platforms=[platform])
        try:
            result = await self._steps.call(PUBLISH, req)
        except ActivityError as exc:
            reraise_cancel(exc)
            return [PostResult(platform=platform, status="failed", reason=cause(exc))], notes, 0.0
        return list(result.posts), notes, result.seconds

    async def _variant(self, video: RenderResult, platform: str) -> tuple[ArtifactRef, list[str]]:
        req = VariantRequest(project_id=self._inp.project_id, run_id=self._book.run_id, video=video.video,
                             platform=platform, words_artifact=self._book.status.artifacts.get("words"))
        try:
            variant = await self._steps.call(VARIANT, req)
        except ActivityError as exc:
            reraise_cancel(exc)
            return video.video, [f"{platform} variant failed, the master is uploaded: {cause(exc)}"]
        if not variant.changed:
            return video.video, []
        self._book.artifact(f"video_{platform}", variant.video)
        return variant.video, [f"{platform} variant: {'; '.join(variant.changed)}"]
