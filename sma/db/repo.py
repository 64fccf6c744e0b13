"""Queries and idempotent writes. Temporal may run the recorder activity more than once with the same
record, so every write is an upsert on a business key and a repeat leaves the tables unchanged.

Functions take a `Database` (they open a session and commit) or an `AsyncSession` (the caller owns the
transaction and commits).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, and_, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database
from sma.db.tables import (
    Approval,
    Artifact,
    ContentItem,
    PipelineRun,
    Post,
    Project,
    StepRun,
    utcnow,
)
from sma.db.tables_llm import ScriptAttempt
from sma.models.common import StepState
from sma.models.pipeline import PipelineStatus, RunRecord, RunState

DB = Database | AsyncSession
TERMINAL_STATES = frozenset({RunState.PUBLISHED, RunState.REJECTED, RunState.FAILED, RunState.CANCELLED})
# Dialects with INSERT ... ON CONFLICT, which makes an upsert one atomic statement.
_ON_CONFLICT: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert}


class ProjectLike(Protocol):
    id: str
    name: str
    niche: str


@asynccontextmanager
async def _session(db: DB, *, write: bool = False) -> AsyncIterator[AsyncSession]:
    if isinstance(db, AsyncSession):
        yield db
        return
    async with db.session() as session:
        if write:
            async with session.begin():
                yield session
        else:
            yield session


async def _upsert(
    session: AsyncSession,
    model: type[SQLModel],
    rows: dict[str, Any] | list[dict[str, Any]],
    keys: Sequence[str],
    keep: Iterable[str] = (),
    first: Iterable[str] = (),
) -> None:
    """Insert `rows`, or update the rows with the same `keys`, in one statement where the dialect allows.

    `keep` columns are written only on insert (created_at); `first` columns keep their first non-null
    value (finished_at, published_at). Rows repeating a key collapse to the last one.
    """
    rows = _dedupe([rows] if isinstance(rows, dict) else rows, keys)
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
    keep, first = set(keep), set(first)
    dialect = (await session.connection()).dialect.name
    if dialect not in _ON_CONFLICT:
        for values in rows:
            await _upsert_portable(session, table, values, keys, keep, first)
        return
    ins = _ON_CONFLICT[dialect](table).values(rows)
    columns = rows[0].keys()
    set_: dict[str, Any] = {c: ins.excluded[c] for c in columns if c not in keys and c not in keep | first}
    set_.update({c: func.coalesce(table.c[c], ins.excluded[c]) for c in first if c in columns})
    if set_:
        await session.exec(ins.on_conflict_do_update(index_elements=list(keys), set_=set_))
    else:
        await session.exec(ins.on_conflict_do_nothing(index_elements=list(keys)))


def _dedupe(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per key: PostgreSQL refuses an ON CONFLICT statement that touches a row twice."""
    return list({tuple(r[k] for k in keys): r for r in rows}.values())


async def _upsert_portable(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str], keep: set[str],
    first: set[str],
) -> None:
    """Select-then-write for dialects without ON CONFLICT."""
    where = and_(*(table.c[k] == values[k] for k in keys))
    existing = (await session.exec(table.select().where(where))).mappings().first()  # type: ignore[call-overload]  # exec() is typed for sqlmodel selects only; a Core select runs the same
    if existing is None:
        await session.exec(insert(table).values(**values))
        return
    changes = {
        c: v for c, v in values.items()
        if c not in keys and c not in keep and not (c in first and existing[c] is not None)
    }
    if changes:
        await session.exec(update(table).where(where).values(**changes))


def _parse_time(value: str) -> datetime | None:
    """StepStatus times are ISO strings written by the workflow; empty or unparsable means unknown."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# ---------------------------------------------------------------- writes


async def ensure_project(db: DB, project: ProjectLike) -> None:
    """Create or refresh a project row from configuration (the config file is the source of truth)."""
    async with _session(db, write=True) as session:
        await _upsert(
            session, Project,
            {"id": project.id, "name": project.name, "niche": project.niche, "created_at": utcnow()},
            keys=["id"], keep=["created_at"],
        )


async def _ensure_project_id(session: AsyncSession, project_id: str) -> None:
    """A placeholder project row so foreign keys hold even if ensure_project was never called."""
    await _upsert(session, Project, {"id": project_id, "created_at": utcnow()}, keys=["id"],
                  keep=["created_at"])


async def record_run(db: DB, record: RunRecord) -> None:
    """Persist a run's latest status: item, run, steps, approvals, posts and artifacts (idempotent)."""
    status = record.status
    now = utcnow()
    async with _session(db, write=True) as session:
        await _ensure_project_id(session, status.project_id)
        reopened = await _carry_retrying(session, record)
        await _upsert(session, ContentItem, _item_values(record, now), keys=["id"], keep=["created_at"])
        await _upsert(session, PipelineRun, _run_values(record, now), keys=["id"], keep=["started_at"],
                      first=["finished_at"])
        if reopened:  # a failed run retried: it is not finished any more
            await session.exec(update(PipelineRun).where(col(PipelineRun.id) == status.workflow_id)
                               .values(finished_at=None))
        await _upsert(session, StepRun, _step_values(status), keys=["run_id", "round", "name"])
        await _upsert(session, Approval, _approval_values(status, now), keys=["run_id", "round"],
                      keep=["decided_at"])
        await _upsert(session, Post, _post_values(status, now), keys=["run_id", "platform"],
                      first=["published_at"])
        await _upsert(session, Artifact, _artifact_values(status, now), keys=["run_id", "name"],
                      keep=["created_at"])
        if record.edited_script is not None:
            await _upsert(session, ScriptAttempt, _edited_values(record, now), keys=["run_id", "round", "attempt"],
                          keep=["created_at"])


async def _carry_retrying(session: AsyncSession, record: RunRecord) -> bool:
    """Keep the retry notes a worker wrote (`record_attempt_failure`) on the steps the workflow still
    reports running: the workflow does not see failed attempts, so its record must not erase them.
    Returns True when a finished run is running again (a retry)."""
    row = await session.get(PipelineRun, record.status.workflow_id)
    if row is None or row.status_json in ("", "{}"):
        return False
    stored = PipelineStatus.model_validate_json(row.status_json)
    for name, step in record.status.steps.items():
        old = stored.steps.get(name)
        if (step.state == StepState.RUNNING and not step.retrying and old is not None and old.retrying
                and old.state == StepState.RUNNING and old.started_at == step.started_at
                and stored.round == record.status.round):
            step.retrying, step.last_attempt = True, old.last_attempt
            step.next_attempt_at, step.error = old.next_attempt_at, step.error or old.error
    return RunState(row.state) in TERMINAL_STATES and record.status.state not in TERMINAL_STATES


async def record_attempt_failure(db: DB, run_id: str, step: str, attempt: int, error: str,
                                 next_attempt_at: str = "") -> bool:
    """A worker saw an attempt of `step` fail and Temporal will retry it: note why on the run's stored
    status and step row, so the database copy says the step is retrying. False when the run or the
    step is not known (a run that never recorded)."""
    async with _session(db, write=True) as session:
        row = await session.get(PipelineRun, run_id)
        if row is None or row.status_json in ("", "{}"):
            return False
        status = PipelineStatus.model_validate_json(row.status_json)
        current = status.steps.get(step)
        if current is None:
            return False
        current.state, current.retrying, current.last_attempt = StepState.RUNNING, True, attempt
        current.error, current.next_attempt_at = error[:2000], next_attempt_at
        status.current_step = step
        row.status_json, row.current_step, row.updated_at = status.model_dump_json(), step, utcnow()
        session.add(row)
        await session.exec(update(StepRun).where(
            col(StepRun.run_id) == run_id, col(StepRun.round) == status.round, col(StepRun.name) == step)
            .values(state=StepState.RUNNING.value, error=current.error, attempts=max(current.attempts, attempt)))
    return True


EDITED_ATTEMPT = 0  # a hand-edited script is stored as attempt 0 of the round it is used in


def _edited_values(record: RunRecord, now: datetime) -> dict[str, Any]:
    """The hand-edited script as the round's script attempt, so every reader finds the script a video was
    made from in one place, whoever wrote it."""
    status, script = record.status, record.edited_script
    assert script is not None
    return {
        "project_id": status.project_id, "run_id": status.workflow_id, "round": status.round,
        "attempt": EDITED_ATTEMPT, "tier": f"edited by {record.edited_by}"[:200], "title": script.title,
        "prompt_version": script.prompt_version, "script_json": script.model_dump_json(),
        "qa_json": "{}", "passed": True, "created_at": now,
    }


def _item_values(record: RunRecord, now: datetime) -> dict[str, Any]:
    status, topic = record.status, record.topic
    return {
        "id": status.item_id, "project_id": status.project_id, "title": topic.title,
        "summary": topic.summary, "source_urls": json.dumps(topic.source_urls), "status": status.state.value,
        "created_at": now,
    }


def _run_values(record: RunRecord, now: datetime) -> dict[str, Any]:
    status = record.status
    video = status.artifacts.get("video")
    return {
        "id": status.workflow_id, "project_id": status.project_id, "item_id": status.item_id,
        "title": status.title or record.topic.title, "state": status.state.value,
        "current_step": status.current_step, "round": status.round, "autonomy": status.autonomy,
        "platforms": json.dumps(record.platforms), "started_at": now, "updated_at": now,
        "finished_at": now if status.state in TERMINAL_STATES else None,
        "video_path": video.path if video else None, "error": status.error,
        "status_json": status.model_dump_json(),
    }


def _step_values(status: PipelineStatus) -> list[dict[str, Any]]:
    return [
        {
            "project_id": status.project_id, "run_id": status.workflow_id, "round": status.round,
            "name": step.name or key, "state": step.state.value, "tier": step.tier, "seconds": step.seconds,
            "attempts": step.attempts, "notes": json.dumps(step.notes), "error": step.error,
            "started_at": _parse_time(step.started_at), "finished_at": _parse_time(step.finished_at),
        }
        for key, step in status.steps.items()
    ]


def _approval_values(status: PipelineStatus, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "project_id": status.project_id, "run_id": status.workflow_id, "round": d.round,
            "approved": d.approved, "by": d.by, "feedback": d.feedback, "auto": d.auto, "decided_at": now,
        }
        for d in status.decisions
    ]


def _post_values(status: PipelineStatus, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "project_id": status.project_id, "run_id": status.workflow_id, "platform": p.platform,
            "status": p.status, "url": p.url, "external_id": p.external_id, "reason": p.reason,
            "published_at": now if p.status == "published" else None, "updated_at": now,
        }
        for p in status.posts
    ]


def _artifact_values(status: PipelineStatus, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "project_id": status.project_id, "run_id": status.workflow_id, "name": name, "path": a.path,
            "sha256": a.sha256, "size": a.size, "kind": a.kind, "media_type": a.media_type,
            "created_at": now,
        }
        for name, a in status.artifacts.items()
    ]


# ---------------------------------------------------------------- reads


async def get_run(db: DB, run_id: str) -> PipelineRun | None:
    async with _session(db) as session:
        return await session.get(PipelineRun, run_id)


async def list_runs(
    db: DB, project_id: str | None = None, state: str | None = None, limit: int = 50, offset: int = 0
) -> list[PipelineRun]:
    """Most recently updated first, for the dashboard and `/status`."""
    query = select(PipelineRun)
    if project_id is not None:
        query = query.where(PipelineRun.project_id == project_id)
    if state is not None:
        query = query.where(PipelineRun.state == state)
    query = query.order_by(col(PipelineRun.updated_at).desc(), PipelineRun.id).limit(limit).offset(offset)
    async with _session(db) as session:
        return list((await session.exec(query)).all())


async def list_steps(db: DB, run_id: str) -> list[StepRun]:
    query = select(StepRun).where(StepRun.run_id == run_id).order_by(col(StepRun.round), col(StepRun.id))
    async with _session(db) as session:
        return list((await session.exec(query)).all())


async def list_posts(db: DB, run_id: str) -> list[Post]:
    query = select(Post).where(Post.run_id == run_id).order_by(Post.platform)
    async with _session(db) as session:
        return list((await session.exec(query)).all())


async def list_approvals(db: DB, run_id: str) -> list[Approval]:
    query = select(Approval).where(Approval.run_id == run_id).order_by(col(Approval.round))
    async with _session(db) as session:
        return list((await session.exec(query)).all())


async def list_artifacts(db: DB, run_id: str) -> list[Artifact]:
    query = select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.name)
    async with _session(db) as session:
        return list((await session.exec(query)).all())
