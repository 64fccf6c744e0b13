"""What the bot says: plain text (no parse mode, so titles and scripts never need escaping)."""

from __future__ import annotations

from datetime import UTC, datetime

from sma.models.autonomy import ApprovalNotice
from sma.models.common import QAReport, StepState
from sma.models.pipeline import PipelineStatus

MAX_TEXT = 4096
SCRIPT_BUDGET = 2500

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "what this bot does"),
    ("help", "this list"),
    ("status", "recent runs, or /status <run> for one"),
    ("queue", "runs waiting for your decision (and expired ones to re-open)"),
    ("new", "/new [--force] <topic or link>: produce a video about it (once; --force for another)"),
    ("trends", "top scored topics; tap one to produce it"),
    ("schedule", "the next publishing slots"),
    ("stats", "the last 7 days per platform"),
    ("autonomy", "/autonomy [project] [manual|assisted|autonomous]: show or set the level of new and waiting runs"),
    ("pause", "stop all publishing (kill switch)"),
    ("resume", "allow publishing again"),
    ("limits", "/limits [daily N | <platform> N | reset]: daily caps (0 or off: no cap)"),
    ("cancel", "/cancel <run>: stop a run"),
    ("retry", "/retry <run>: retry a failed run from its failed step"),
)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def qa_line(report: QAReport) -> str:
    ok = report.passed and report.score >= report.threshold
    mark = "✅" if ok else "❌"
    line = f"{mark} {report.gate} {report.score:.2f} (min {report.threshold:.2f})"
    if report.reasons and not ok:
        line += " - " + "; ".join(report.reasons)[:200]
    return line


def approval_text(notice: ApprovalNotice, project_id: str, video_note: str = "") -> str:
    lines = [f"🎬 {notice.title}", f"Round {notice.round} · project {project_id} · autonomy {notice.level or '?'}",
             f"Platforms: {', '.join(notice.platforms) or '-'}"]
    if notice.reasons:
        lines.append("Why you: " + "; ".join(notice.reasons)[:400])
    if video_note:
        lines.append(video_note)
    if notice.qa:
        lines += ["", "QA:", *(qa_line(q) for q in notice.qa)]
    if notice.script:
        script = notice.script if len(notice.script) <= SCRIPT_BUDGET else notice.script[:SCRIPT_BUDGET] + "…"
        lines += ["", "Script:", script]
    return clip("\n".join(lines), MAX_TEXT - 200)  # room for the decision footer


def decision_footer(approved: bool, by: str, when: datetime | None = None, feedback: str = "") -> str:
    head = f"✅ Approved by {by}" if approved else f"✏️ Rejected by {by}"
    tail = f"\nReason: {feedback}" if feedback else ""
    return f"\n\n{head} at {stamp(when)}{tail}"


def with_footer(text: str, footer: str) -> str:
    return clip(text, MAX_TEXT - len(footer)) + footer


def expired_footer() -> str:
    return (f"\n\n⌛ Expired at {stamp()} without a decision; the video is kept as a draft. "
            "Re-open it below or from /queue.")


def status_line(status: PipelineStatus) -> str:
    step = f" · {status.current_step}" if status.current_step else ""
    return f"[{status.state.value}] {status.title} (round {status.round}{step})\n  {status.workflow_id}"


def status_detail(status: PipelineStatus) -> str:
    lines = [status_line(status), f"autonomy {status.autonomy}"]
    for step in status.steps.values():
        tier = f" [{step.tier}]" if step.tier else ""
        error = f" {step.error}" if step.error else ""
        if step.retrying:
            error = f" retrying: attempt {step.last_attempt} failed: {step.error}"
        lines.append(f"  {step.name}: {step.state.value}{tier}{error}")
    lines += [f"  {qa_line(q)}" for q in status.qa]
    lines += [f"  posted to {p.platform}: {p.status} {p.url or p.reason}" for p in status.posts]
    if status.error:
        lines.append(f"  error: {status.error}")
    if status.state.value == "failed":
        lines.append(f"  /retry {status.workflow_id} retries it from the failed step")
    return clip("\n".join(lines))


_MARKS = {StepState.DONE: "✓", StepState.RUNNING: "…", StepState.SKIPPED: "-", StepState.FAILED: "✗",
          StepState.PENDING: "·"}


def progress_text(status: PipelineStatus) -> str:
    """The run's progress message: one line per step (engine, seconds), then the run's state."""
    lines = [f"{status.title} (round {status.round})"]
    for step in status.steps.values():
        detail = f" [{step.tier}]" if step.tier else ""
        timing = f" {step.seconds:.1f}s" if step.state == StepState.DONE and step.seconds else ""
        lines.append(f"{_MARKS[step.state]} {step.name.replace('_', ' ')}{detail}{timing}")
    lines.append(f"state: {status.state.value}" + (f" ({status.error})" if status.error else ""))
    return clip("\n".join(lines))


def help_text() -> str:
    return "Commands:\n" + "\n".join(f"/{name} - {what}" for name, what in COMMANDS)


def start_text(projects: list[str]) -> str:
    return ("Hi! I am SMA's bot. I send you each video before it is published, with Approve and Reject "
            f"buttons, and keep you posted while it is made. Projects here: {', '.join(projects)}.\n\n" + help_text())


REFUSAL = "Sorry, this bot only takes orders from its owners. Your attempt was logged."
