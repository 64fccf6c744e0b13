"""Contracts of the content pipeline: one input model in, one result model out, for every step.

New fields always get defaults so that histories recorded with older code still decode.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from sma.models.autonomy import ApprovalNotice
from sma.models.common import ArtifactRef, QAReport, StepState
from sma.models.topic import Topic as Topic  # re-exported: step inputs and callers name it from here

Autonomy = Literal["manual", "assisted", "autonomous"]

STEPS: tuple[str, ...] = (
    "analyse_media",
    "write_script",
    "notify",
    "voiceover",
    "captions",
    "music",
    "background",
    "images",
    "render",
    "approval",
    "publish",
)


class RunState(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"  # nobody decided in time; the video is kept as a draft, re-openable
    HELD = "held"  # approved, but a publishing guard (kill switch, quiet hours, caps) holds it
    CANCELLED = "cancelled"


class StepResult(BaseModel):
    """Common tail of every step result: which tier or engine did the work and how long it took."""

    tier: str = ""
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- inputs of a run


class PipelineInput(BaseModel):
    project_id: str = "default"
    item_id: str
    topic: Topic
    autonomy: Autonomy = "manual"
    autonomy_pinned: bool = Field(False, description="an explicit per-run level (sma run --autonomy, the demo): "
                                  "the run keeps it instead of following its project's stored level")
    platforms: list[str] = Field(default_factory=lambda: ["local"])
    media: list[str] = Field(default_factory=list)
    max_rounds: int = 5
    max_script_attempts: int = 3
    gpu_steps: list[str] = Field(
        default_factory=list, description="steps sent to sma-gpu because a configured tier needs CUDA (routing.py)")
    step_budgets_s: dict[str, float] = Field(
        default_factory=dict, description="per step, seconds all its attempts may take (default: STEP_BUDGET)")


# ---------------------------------------------------------------- step 1: media analysis


class MediaRequest(BaseModel):
    project_id: str
    run_id: str
    media: list[str] = Field(default_factory=list)


class MediaAnalysis(StepResult):
    skipped: bool = True
    context: str = ""
    mood: str = ""
    subjects: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- step 2: script


VisualKind = Literal["none", "code", "diagram", "image", "title", "text", "stat", "quote"]


class Visual(BaseModel):
    """What is on screen during a beat besides the background and captions.

    "none" still gets cards made from the beat's spoken words; "text" shows `headline` (its key words);
    "stat" counts up to `stat_value` (e.g. "73%", "2.5x", "1,200") over `stat_label`; "quote" shows `quote`
    and `attribution`; "title" shows `headline` as a title card.
    """

    kind: VisualKind = "none"
    code: str = ""
    language: str = "python"
    diagram: str = ""
    image_prompt: str = ""
    headline: str = ""
    stat_value: str = ""
    stat_label: str = ""
    quote: str = ""
    attribution: str = ""


class Beat(BaseModel):
    narration: str
    visual: Visual = Field(default_factory=Visual)


HookStyle = Literal["question", "bold_claim", "statistic", "story", "contrarian", "how_to"]


class Script(BaseModel):
    title: str
    hook: str
    hook_style: HookStyle = "question"
    beats: list[Beat]
    cta: str = ""
    hashtags: list[str] = Field(default_factory=list)
    description: str = ""
    estimated_seconds: float = 0.0
    prompt_version: str = ""
    platform_hashtags: dict[str, list[str]] = Field(default_factory=dict)
    platform_descriptions: dict[str, str] = Field(default_factory=dict)
    memories_used: list[str] = Field(default_factory=list)

    def hashtags_for(self, platform: str) -> list[str]:
        """This platform's hashtags, else the general ones."""
        return self.platform_hashtags.get(platform) or self.hashtags

    def description_for(self, platform: str) -> str:
        return self.platform_descriptions.get(platform) or self.description

    def narration(self) -> str:
        """The words the voice says, in order: hook, beats, call to action."""
        parts = [self.hook, *(b.narration for b in self.beats), self.cta]
        return " ".join(p.strip() for p in parts if p.strip())


class ScriptRequest(BaseModel):
    project_id: str
    run_id: str
    topic: Topic
    round: int = 1
    attempt: int = 1
    feedback: list[str] = Field(default_factory=list)
    qa_feedback: list[str] = Field(default_factory=list)
    media_context: str = ""
    platforms: list[str] = Field(default_factory=list, description="the run's platforms; empty = the project's")
    previous: Script | None = Field(None, description="the script of the round the newest feedback is about; "
                                    "the next one must differ from it")


class ScriptResult(StepResult):
    script: Script
    qa: QAReport
    feedback_used: list[str] = Field(default_factory=list)
    cost_usd: float = 0.0
    llm_calls: int = 0
    budget_left_usd: float | None = None


# ---------------------------------------------------------------- step 3: notify


class NotifyRequest(BaseModel):
    project_id: str
    run_id: str
    kind: str
    text: str
    video: ArtifactRef | None = None
    approval: ApprovalNotice | None = None


class NotifyResult(StepResult):
    delivered: bool = False
    channel: str = ""


# ---------------------------------------------------------------- step 4: voice


class VoiceRequest(BaseModel):
    project_id: str
    run_id: str
    text: str


class EngineAttempt(BaseModel):
    engine: str
    outcome: Literal["used", "skipped", "failed", "qa_failed"]
    reason: str = ""


class VoiceResult(StepResult):
    audio: ArtifactRef
    duration_s: float
    attempts: list[EngineAttempt] = Field(default_factory=list)
    qa: QAReport


# ---------------------------------------------------------------- step 5: captions


class CaptionRequest(BaseModel):
    project_id: str
    run_id: str
    audio: ArtifactRef
    script_text: str


class CaptionResult(StepResult):
    ass: ArtifactRef
    words: ArtifactRef
    word_count: int = 0
    qa: QAReport


# ---------------------------------------------------------------- step 6-8: music, background, images


class MusicRequest(BaseModel):
    project_id: str
    run_id: str
    duration_s: float
    mood: str = ""


class MusicResult(StepResult):
    audio: ArtifactRef | None = None
    attempts: list[EngineAttempt] = Field(default_factory=list)


class BackgroundRequest(BaseModel):
    project_id: str
    run_id: str
    duration_s: float
    seed: str = ""
    query: str = Field("", description="stock footage search words (e.g. the topic); empty = configured queries")


class BackgroundResult(StepResult):
    video: ArtifactRef | None = None
    loop: bool = True


class Overlay(BaseModel):
    image: ArtifactRef
    start_s: float
    end_s: float
    x: int = 0
    y: int = 0
    width: int = Field(0, description="drawn size in frame pixels; 0 = the image's own size")
    height: int = 0
    frames: int = Field(1, ge=1, description="frames stacked vertically in the image (an animated sprite)")
    frame_s: float = Field(0.08, gt=0, description="seconds each sprite frame shows; the last one stays")
    motion: Literal["fade", "slide"] = Field("fade", description="how the card enters and leaves")
    opacity: float = Field(1.0, ge=0.0, le=1.0, description="a watermark is drawn translucent")


class ImagesRequest(BaseModel):
    project_id: str
    run_id: str
    beats: list[Beat]
    words: ArtifactRef
    duration_s: float
    platforms: list[str] = Field(default_factory=list, description="safe zones to respect; empty = all known")
    background: ArtifactRef | None = Field(None, description="picks the diagram theme (dark or light)")


class ImagesResult(StepResult):
    overlays: list[Overlay] = Field(default_factory=list)


# ---------------------------------------------------------------- step 9: render


class RenderRequest(BaseModel):
    project_id: str
    run_id: str
    voice: ArtifactRef
    duration_s: float
    captions: ArtifactRef
    background: ArtifactRef | None = None
    music: ArtifactRef | None = None
    overlays: list[Overlay] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list, description="safe zones to respect; empty = all known")


class RenderResult(StepResult):
    video: ArtifactRef
    duration_s: float
    encoder: str = ""
    qa: list[QAReport] = Field(default_factory=list)


class VideoCheckRequest(BaseModel):
    video: ArtifactRef
    expected_duration_s: float
    project_id: str = Field("", description="whose look settings (monotony limit) apply; empty = defaults")
    autonomy: Autonomy = Field("manual", description="autonomous runs fail on monotony, others are warned")


class VideoCheckResult(StepResult):
    reports: list[QAReport]


# ---------------------------------------------------------------- step 10: approval


class ApproveSignal(BaseModel):
    round: int
    by: str = "cli"


class RejectSignal(BaseModel):
    round: int
    feedback: str
    by: str = "cli"


class EditScriptSignal(BaseModel):
    """A person's hand-edited script for the round they looked at: the run records the voice again from it
    (no new LLM script) and renders a new video for approval."""

    round: int
    script: Script
    by: str = "cli"


class Decision(BaseModel):
    round: int
    approved: bool
    by: str
    feedback: str = ""
    auto: bool = False
    edited: bool = Field(False, description="the round ended with a hand-edited script for the next one")


# ---------------------------------------------------------------- step 11: publish


class PublishRequest(BaseModel):
    project_id: str
    run_id: str
    video: ArtifactRef
    script: Script
    platforms: list[str]


class PostResult(BaseModel):
    platform: str
    status: Literal["published", "failed", "skipped"]
    url: str = ""
    external_id: str = ""
    reason: str = ""


class PublishResult(StepResult):
    posts: list[PostResult] = Field(default_factory=list)


# ---------------------------------------------------------------- run record and query


class StepStatus(BaseModel):
    name: str
    state: StepState = StepState.PENDING
    tier: str = ""
    seconds: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    attempts: int = 0
    notes: list[str] = Field(default_factory=list)
    error: str = ""
    # While Temporal retries the step's activity: its last failed attempt (error above) and the next one.
    retrying: bool = False
    last_attempt: int = 0
    next_attempt_at: str = ""


class PipelineStatus(BaseModel):
    workflow_id: str
    project_id: str
    item_id: str
    state: RunState = RunState.RUNNING
    current_step: str = ""
    round: int = 1
    autonomy: Autonomy = "manual"
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    artifacts: dict[str, ArtifactRef] = Field(default_factory=dict)
    qa: list[QAReport] = Field(default_factory=list)
    feedback: list[str] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    posts: list[PostResult] = Field(default_factory=list)
    title: str = ""
    error: str = ""


class StatusQuery(BaseModel):
    """Query input (DESIGN.md convention 2); empty for now."""


class RunRecord(BaseModel):
    """What the workflow asks the recorder to persist in SQLite after each change of state."""

    status: PipelineStatus
    topic: Topic
    platforms: list[str] = Field(default_factory=list)
    edited_script: Script | None = Field(None, description="a hand-edited script this round is made from")
    edited_by: str = ""


class RecordResult(BaseModel):
    ok: bool = True


class PipelineResult(BaseModel):
    workflow_id: str
    state: RunState
    video: ArtifactRef | None = None
    posts: list[PostResult] = Field(default_factory=list)
    rounds: int = 1
    status: PipelineStatus
