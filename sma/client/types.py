"""What the run client answers and raises: plain Pydantic results, and three errors a caller can tell apart
(unknown run, a decision that is not due, anything else), each with a message a person can act on."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from sma.models.pipeline import PipelineStatus
from sma.services import runs

FORCE_HINT = "--force"


class RunError(runs.RunError):
    """A request about a run that cannot be honoured; the message says why in plain words."""


class RunNotFound(RunError):
    """Temporal (and, for reads, the database) knows no run with this id."""

    def __init__(self, run_id: str, detail: str = "") -> None:
        self.run_id = run_id
        super().__init__(f"I know no run {run_id}" + (f": {detail}" if detail else ""))


class NotDecidable(RunError):
    """The run cannot take this action now (finished, another round, expired, not failed...)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Unavailable(RunError):
    """Temporal did not answer (down, or no worker in time); nothing changed, trying again may work."""


class Started(BaseModel):
    """What `start` did: started `workflow_id`, or found it already started from the same topic."""

    workflow_id: str
    existing: bool = False
    state: str = "running"
    started_at: datetime | None = None
    autonomy: str = ""  # the level the new run starts at ("" when an existing run answered)

    def note_for(self, force_hint: str = FORCE_HINT) -> str:
        """One line for a person: empty for a new run, else which run answered and how to get a new one."""
        if not self.existing:
            return ""
        when = f" at {self.started_at:%Y-%m-%d %H:%M} UTC" if self.started_at else ""
        return (f"This topic was already started{when} as {self.workflow_id} ({self.state}), so no second run "
                f"was made; to make another video anyway, use {force_hint}")

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented computed_field over a property
    @property
    def note(self) -> str:
        return self.note_for()


class RunStatus(BaseModel):
    """A run's status: live from the workflow (with Temporal's retry info), else the copy in the database."""

    run_id: str
    source: Literal["live", "database"]
    status: PipelineStatus
    progress: dict[str, float] = Field(default_factory=dict)  # running activities' heartbeat, 0..1
    running: bool = True  # the workflow execution is open (False for a closed run or a database copy)


class RunView(BaseModel):
    """Temporal's view of a run: open or how it closed, and its status when a worker answered."""

    run_id: str
    running: bool
    status: PipelineStatus | None = None
    closed_as: str = ""  # completed | failed | canceled | terminated | timed_out ("" while running)


class Decision(BaseModel):
    """A decision the run accepted: which round it was for."""

    run_id: str
    action: Literal["approve", "reject", "edit_script"]
    round: int
    by: str


class Retried(BaseModel):
    """A failed run reset to just before its failed step (same workflow id, a new Temporal run id)."""

    workflow_id: str
    step: str
    run_id: str


class LevelChange(BaseModel):
    """A project's stored level changed; `signalled` open runs were told."""

    project_id: str
    previous: str
    level: str
    signalled: int = 0


class RunSummary(BaseModel):
    """One row of the run table (what lists and pagination show; `status` reads the full status)."""

    id: str
    project_id: str
    item_id: str = ""
    title: str = ""
    state: str = "running"
    current_step: str = ""
    round: int = 1
    autonomy: str = "manual"
    platforms: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    video_path: str | None = None
    error: str = ""


class RunPage(BaseModel):
    """A page of runs, most recently updated first; pass `next_cursor` back for the next page."""

    runs: list[RunSummary]
    next_cursor: str | None = None
