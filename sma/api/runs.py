"""Run operations of the API and the MCP server, on the shared `RunClient` (the CLI, bot and dashboard use
the same one): topics, article URLs and uploads become runs; the client's typed errors become API errors.

Idempotency: with a key, the run's item id is derived from the caller's token and the key, so Temporal's
duplicate-id rejection answers a repeat (or a racing twin) with the first run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError

from sma.api import reads
from sma.api import schemas as s
from sma.api.context import ApiContext
from sma.api.errors import ApiError
from sma.api.tokens import Caller
from sma.client import NotDecidable, RunClient, RunError, RunNotFound, Started, Unavailable
from sma.models.autonomy import Level
from sma.models.pipeline import Script
from sma.models.topic import Topic, TopicError

T = TypeVar("T")
ENTRY = "api"
KEY_MAX = 200
UPLOAD_KINDS = {"image/jpeg": ("image", ".jpg"), "image/png": ("image", ".png"), "image/webp": ("image", ".webp"),
                "video/mp4": ("video", ".mp4"), "video/quicktime": ("video", ".mov")}


async def run_client(ctx: ApiContext) -> RunClient:
    """The run client; with Temporal out of reach it still lists and reads recorded runs (the rest 503)."""
    try:
        temporal, why = await ctx.client(), ""
    except ApiError as exc:
        temporal, why = None, exc.message
    return RunClient(temporal, ctx.settings, await ctx.database(), queue_suffix=ctx.queue_suffix, unavailable=why)


async def guarded(work: Callable[[], Awaitable[T]]) -> T:
    """The run client's errors as API errors: unknown run 404, a decision not due 409, bad input 400."""
    try:
        return await work()
    except RunNotFound as exc:
        raise ApiError(404, str(exc), code="run_not_found") from exc
    except NotDecidable as exc:
        raise ApiError(409, str(exc), code="not_decidable") from exc
    except Unavailable as exc:
        raise ApiError(503, str(exc), code="temporal_unavailable", headers={"Retry-After": "5"}) from exc
    except RunError as exc:
        raise ApiError(400, str(exc), code="run_error") from exc
    except RPCError as exc:
        raise ApiError(503, f"Temporal did not answer ({exc.message}); is a worker for this run's queue "
                            "running? (`sma up` or `sma worker`)", code="temporal_unavailable") from exc


def project_of(ctx: ApiContext, project_id: str) -> str:
    """The named project, or the first configured one; 404 for a name not in the configuration."""
    projects = ctx.settings.projects
    if not project_id:
        if not projects:
            raise ApiError(400, "no project is configured: add one under 'projects' in config.yaml")
        return projects[0].id
    if not any(p.id == project_id for p in projects):
        known = ", ".join(p.id for p in projects) or "none"
        raise ApiError(404, f"no project {project_id!r} (configured: {known})", code="project_not_found")
    return project_id


def idempotent_item(caller: Caller, key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise ApiError(400, f"Idempotency-Key must be 1..{KEY_MAX} printable characters", code="bad_idempotency_key")
    return "api-" + hashlib.sha256(f"{caller.token_id}\n{key}".encode()).hexdigest()[:20]


async def topic_of(ctx: ApiContext, req: s.RunCreate) -> Topic:
    try:
        if req.url:
            from sma.services.articles import ArticleError, article_topic

            try:
                _, topic = await article_topic(ctx.settings.articles, req.url, req.topic, req.summary)
            except ArticleError as exc:
                raise ApiError(422, str(exc), code="bad_url", details={"field": "url"}) from exc
            return topic
        if not req.topic.strip():
            raise ApiError(422, "give a topic or a url", code="invalid", details={"field": "topic"})
        return Topic.checked(req.topic, req.summary, req.facts)
    except TopicError as exc:
        raise ApiError(422, str(exc), code="bad_topic", details={"field": "topic"}) from exc


async def create(ctx: ApiContext, caller: Caller, req: s.RunCreate, key: str | None,
                 media: list[str] | None = None) -> s.RunCreated:
    project_id = project_of(ctx, req.project_id)
    topic = await topic_of(ctx, req)
    item = idempotent_item(caller, key)
    client = await run_client(ctx)
    started: Started = await guarded(lambda: client.start(
        topic, project_id, entry=ENTRY, autonomy=req.autonomy, platforms=req.platforms, media=media or [],
        force=req.force, item_id=item))
    return s.RunCreated(run_id=started.workflow_id, existing=started.existing, state=started.state,
                        autonomy=started.autonomy, note=started.note_for("force=true") if item is None else "")


def store_upload(ctx: ApiContext, content_type: str, data: bytes) -> str:
    """Keep an uploaded image or video in the artifact store; its path goes to the run's media step."""
    from sma.services.blobs.store import artifact_store

    kind = UPLOAD_KINDS.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        raise ApiError(422, f"unsupported media type {content_type!r}: send one of {', '.join(UPLOAD_KINDS)}",
                       code="bad_media", details={"field": "media"})
    if not data:
        raise ApiError(422, "the uploaded file is empty", code="bad_media", details={"field": "media"})
    store = artifact_store(ctx.settings)
    return str(store.put_bytes(data, kind[1], kind=kind[0]).path)


async def detail(ctx: ApiContext, run_id: str) -> s.RunOut:
    client = await run_client(ctx)
    status = await guarded(lambda: client.status(run_id))
    steps, artifacts, approvals, posts = await reads.run_children(await ctx.database(), run_id)
    return s.RunOut(run_id=run_id, source=status.source, running=status.running, status=status.status,
                    qa=status.status.qa, progress=status.progress, steps=steps, artifacts=artifacts,
                    approvals=approvals, posts=posts)


async def audited(ctx: ApiContext, caller: Caller, action: str, target: str, work: Callable[[], Awaitable[T]],
                  project_id: str = "") -> T:
    """Run a state-changing operation and write its outcome to the audit log the dashboard shows."""
    from sma.services import audit

    outcome, detail = "error", ""
    try:
        result = await guarded(work)
        outcome = "ok"
        return result
    except ApiError as exc:
        outcome, detail = ("refused" if exc.status < 500 else "error"), exc.message
        raise
    finally:
        await audit.record(await ctx.database(), caller.by, f"api_{action}", target=target, project_id=project_id,
                           outcome=outcome, token=caller.token_id, reason=detail[:300])


async def approve(ctx: ApiContext, caller: Caller, run_id: str, round_no: int | None) -> s.DecisionOut:
    client = await run_client(ctx)
    done = await audited(ctx, caller, "approve", run_id, lambda: client.approve(run_id, round_no, by=caller.by))
    return s.DecisionOut(**done.model_dump())


async def reject(ctx: ApiContext, caller: Caller, run_id: str, feedback: str, round_no: int | None) -> s.DecisionOut:
    client = await run_client(ctx)
    done = await audited(ctx, caller, "reject", run_id,
                         lambda: client.reject(run_id, feedback, round_no, by=caller.by))
    return s.DecisionOut(**done.model_dump())


async def edit_script(ctx: ApiContext, caller: Caller, run_id: str, script: Script,
                      round_no: int | None) -> s.DecisionOut:
    client = await run_client(ctx)
    done = await audited(ctx, caller, "edit_script", run_id,
                         lambda: client.edit_script(run_id, script, round_no, by=caller.by))
    return s.DecisionOut(**done.model_dump())


async def cancel(ctx: ApiContext, caller: Caller, run_id: str) -> s.Cancelled:
    client = await run_client(ctx)
    await audited(ctx, caller, "cancel", run_id, lambda: client.cancel(run_id, by=caller.by))
    return s.Cancelled(run_id=run_id)


async def set_level(ctx: ApiContext, caller: Caller, project_id: str, level: Level, source: str) -> s.LevelOut:
    project_id = project_of(ctx, project_id)
    client = await run_client(ctx)
    change = await audited(ctx, caller, "set_level", project_id,
                           lambda: client.set_level(project_id, level, by=caller.by, source=source),
                           project_id=project_id)
    return s.LevelOut(**change.model_dump())


async def reopen(ctx: ApiContext, caller: Caller, run_id: str) -> s.RunActed:
    client = await run_client(ctx)
    await audited(ctx, caller, "reopen", run_id, lambda: client.reopen(run_id, by=caller.by))
    return s.RunActed(run_id=run_id, action="reopen")


async def retry(ctx: ApiContext, caller: Caller, run_id: str) -> s.RunActed:
    client = await run_client(ctx)
    done = await audited(ctx, caller, "retry", run_id, lambda: client.retry(run_id, by=caller.by))
    return s.RunActed(run_id=run_id, action="retry", step=done.step)
