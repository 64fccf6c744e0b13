"""Small view models shared by several pages: a run's recorded status, its progress, its step timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import ValidationError

from sma.db.tables import PipelineRun, StepRun
from sma.db.tables_llm import ScriptAttempt
from sma.models.common import QAReport
from sma.models.pipeline import STEPS, PipelineStatus, Script, StepStatus

FINISHED_STEP_STATES = ("done", "skipped")
OPEN_STATES = ("running", "awaiting_approval", "held", "expired")
EDIT_SIGNAL = "edit_script"  # how an edited script reaches a run (ScriptEdit.sent_as): RunClient.edit_script


def recorded_status(run: PipelineRun) -> PipelineStatus | None:
    """The PipelineStatus the recorder stored with the run (None for rows written by other tools).

    Parsed once per stored text (a few kB of JSON per run, on every poll of the in-flight list and the
    approval queue otherwise); the result is shared, so callers only read it."""
    return _parse_status(run.status_json or "{}")


@lru_cache(maxsize=512)
def _parse_status(text: str) -> PipelineStatus | None:
    try:
        return PipelineStatus.model_validate_json(text)
    except ValidationError:
        return None


@dataclass
class RunCard:
    """One run in flight: where it is and how far along (steps done plus the running step's heartbeat)."""

    run: PipelineRun
    status: PipelineStatus | None
    live: dict[str, float] = field(default_factory=dict)

    @property
    def step(self) -> str:
        if self.status and self.status.current_step:
            return self.status.current_step
        return self.run.current_step

    @property
    def fraction(self) -> float:
        if self.status is None:
            return 0.0
        steps = self.status.steps or {}
        done = sum(1 for s in steps.values() if s.state.value in FINISHED_STEP_STATES)
        running = max(self.live.values(), default=0.0)
        return min(1.0, (done + running) / len(STEPS))

    @property
    def live_text(self) -> str:
        return ", ".join(f"{name} {value:.0%}" for name, value in sorted(self.live.items()))


def timeline(status: PipelineStatus | None, steps: list[StepRun]) -> list[StepStatus]:
    """The current round's steps in pipeline order, from the live status when there is one, else the rows."""
    if status is not None and status.steps:
        return [status.steps.get(name, StepStatus(name=name)) for name in STEPS]
    if not steps:
        return []
    latest = max(s.round for s in steps)
    by_name = {s.name: s for s in steps if s.round == latest}
    result = []
    for name in STEPS:
        row = by_name.get(name)
        if row is None:
            result.append(StepStatus(name=name))
            continue
        result.append(StepStatus.model_validate({
            "name": name, "state": row.state, "tier": row.tier, "seconds": row.seconds, "attempts": row.attempts,
            "error": row.error, "started_at": row.started_at.isoformat() if row.started_at else "",
            "finished_at": row.finished_at.isoformat() if row.finished_at else "",
        }))
    return result


def earlier_rounds(steps: list[StepRun], current_round: int) -> dict[int, list[StepRun]]:
    rounds: dict[int, list[StepRun]] = {}
    for step in steps:
        if step.round < current_round:
            rounds.setdefault(step.round, []).append(step)
    order = {name: i for i, name in enumerate(STEPS)}
    return {r: sorted(v, key=lambda s: order.get(s.name, 99)) for r, v in sorted(rounds.items(), reverse=True)}


def qa_reports(status: PipelineStatus | None) -> list[QAReport]:
    return list(status.qa) if status else []


def final_script(attempts: list[ScriptAttempt], round_no: int) -> Script | None:
    """The script the video of this round was made from: its last passing attempt, else its last attempt."""
    mine = [a for a in attempts if a.round == round_no] or attempts
    if not mine:
        return None
    chosen = next((a for a in reversed(mine) if a.passed), mine[-1])
    try:
        return Script.model_validate_json(chosen.script_json)
    except ValidationError:
        return None


def edit_mode() -> str:
    """How an edited script reaches the run: the workflow's `edit_script` signal, which the run client sends
    by method (a workflow without it fails the type check, not a person's edit)."""
    return EDIT_SIGNAL
