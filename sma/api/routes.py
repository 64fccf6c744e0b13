"""The /api/v1 routes. Every route names the scope it needs (`Read` or `Write`); lists page by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sma.api import reads
from sma.api import runs as ops
from sma.api import schemas as s
from sma.api.context import ApiContext, bearer
from sma.api.errors import ApiError
from sma.api.pagination import Page, PageParams, page_of, page_params
from sma.api.tokens import Caller
from sma.client import RunSummary
from sma.services.autonomy.service import AutonomyService
from sma.services.blobs.ranges import ref_of
from sma.services.blobs.serve import remote_response
from sma.services.blobs.store import artifact_store

router = APIRouter()
RunId = Annotated[str, Path(max_length=300, description="the run's workflow id")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="repeat-safe create")]


def api(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api  # Starlette's state is untyped
    return context


# Declared through HTTPBearer so the OpenAPI schema names the scheme (Swagger UI's Authorize button);
# refusals stay ours (auto_error=False), in the one error shape.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


async def read_caller(request: Request, credentials: Credentials) -> Caller:
    return await api(request).authenticate(_token(request, credentials), "read")


async def write_caller(request: Request, credentials: Credentials) -> Caller:
    return await api(request).authenticate(_token(request, credentials), "write")


def _token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    return credentials.credentials if credentials else bearer(request.headers.get("authorization"))


Ctx = Annotated[ApiContext, Depends(api)]
Read = Annotated[Caller, Depends(read_caller)]
Write = Annotated[Caller, Depends(write_caller)]
Paging = Annotated[PageParams, Depends(page_params)]


# ---------------------------------------------------------------- runs


@router.post("/runs", status_code=201, response_model=s.RunCreated, tags=["runs"],
             responses={200: {"model": s.RunCreated, "description": "an existing run answered (same key or topic)"}})
async def create_run(req: s.RunCreate, ctx: Ctx, caller: Write, response: Response,
                     key: IdempotencyKey = None) -> s.RunCreated:
    """Start a run from a topic or an article URL. With `Idempotency-Key`, a repeat returns the same run."""
    created = await ops.create(ctx, caller, req, key)
    if created.existing:
        response.status_code = 200
    return created


@router.post("/runs/upload", status_code=201, response_model=s.RunCreated, tags=["runs"])
async def create_run_with_media(ctx: Ctx, caller: Write, response: Response,
                                media: Annotated[UploadFile, File(description="an image or a short video")],
                                topic: Annotated[str, Form(max_length=400)] = "",
                                project_id: Annotated[str, Form()] = "",
                                key: IdempotencyKey = None) -> s.RunCreated:
    """Start a run from an uploaded image or video (multipart); the topic defaults to the media kind."""
    path = ops.store_upload(ctx, media.content_type or "", await media.read())
    req = s.RunCreate(topic=topic or "Media from the API", project_id=project_id)
    created = await ops.create(ctx, caller, req, key, media=[path])
    if created.existing:
        response.status_code = 200
    return created


@router.get("/runs", response_model=Page[RunSummary], tags=["runs"])
async def list_runs(ctx: Ctx, _: Read, paging: Paging, project_id: str | None = None,
                    state: str | None = None) -> Page[RunSummary]:
    """Runs, most recently updated first."""
    client = await ops.run_client(ctx)
    found = await ops.guarded(lambda: client.list_runs(project_id, state, paging.limit, paging.cursor))
    return Page(items=found.runs, next_cursor=found.next_cursor)


@router.get("/runs/{run_id}", response_model=s.RunOut, tags=["runs"])
async def get_run(run_id: RunId, ctx: Ctx, _: Read) -> s.RunOut:
    """A run with its status, steps, QA reports, artifacts, decisions and posts."""
    return await ops.detail(ctx, run_id)


@router.get("/runs/{run_id}/artifacts/{name}", tags=["runs"], response_class=FileResponse)
async def get_artifact(run_id: RunId, name: Annotated[str, Path(max_length=100)], ctx: Ctx, _: Read,
                       request: Request) -> Response:
    """The bytes of one artifact (the video, the voice...)."""
    row = await reads.artifact_path(await ctx.database(), run_id, name)
    if row is None:
        raise ApiError(404, f"run {run_id} has no artifact {name!r}", code="artifact_not_found")
    from pathlib import Path as FsPath

    path = FsPath(row.path)
    if path.is_file():
        return FileResponse(path, media_type=row.media_type)
    ref = ref_of(row.path, row.sha256, row.size, row.kind, row.media_type)
    response = await remote_response(artifact_store(ctx.settings), ref, request.headers.get("range"),
                                     row.media_type, {})
    if response is None:
        raise ApiError(404, f"artifact {name!r} of run {run_id} is no longer on disk", code="artifact_gone")
    return response


@router.post("/runs/{run_id}/approve", response_model=s.DecisionOut, tags=["decisions"])
async def approve(run_id: RunId, ctx: Ctx, caller: Write, req: s.Approve | None = None) -> s.DecisionOut:
    """Approve the waiting video (or the named round's; another round answers 409)."""
    return await ops.approve(ctx, caller, run_id, req.round if req else None)


@router.post("/runs/{run_id}/reject", response_model=s.DecisionOut, tags=["decisions"])
async def reject(run_id: RunId, req: s.Reject, ctx: Ctx, caller: Write) -> s.DecisionOut:
    """Reject the waiting video with feedback: the script is written again from it."""
    return await ops.reject(ctx, caller, run_id, req.feedback, req.round)


@router.put("/runs/{run_id}/script", response_model=s.DecisionOut, tags=["decisions"])
async def edit_script(run_id: RunId, req: s.EditScript, ctx: Ctx, caller: Write) -> s.DecisionOut:
    """Replace the waiting round's script; the run records the voice again from it."""
    return await ops.edit_script(ctx, caller, run_id, req.script, req.round)


@router.post("/runs/{run_id}/cancel", response_model=s.Cancelled, tags=["decisions"])
async def cancel(run_id: RunId, ctx: Ctx, caller: Write) -> s.Cancelled:
    """Cancel an open run; nothing from it is published."""
    return await ops.cancel(ctx, caller, run_id)


@router.post("/runs/{run_id}/reopen", response_model=s.RunActed, tags=["decisions"])
async def reopen(run_id: RunId, ctx: Ctx, caller: Write) -> s.RunActed:
    """Re-open an expired approval: the run waits for a decision again."""
    return await ops.reopen(ctx, caller, run_id)


@router.post("/runs/{run_id}/retry", response_model=s.RunActed, tags=["decisions"])
async def retry(run_id: RunId, ctx: Ctx, caller: Write) -> s.RunActed:
    """Retry a failed run from its failed step, keeping every finished step."""
    return await ops.retry(ctx, caller, run_id)


# ---------------------------------------------------------------- trends, calendar, posts, analytics


@router.get("/projects/{project_id}/trends", response_model=s.TrendPage, tags=["planning"])
async def trends(project_id: str, ctx: Ctx, _: Read, paging: Paging) -> s.TrendPage:
    """The ranked topics of the project's latest trend scan."""
    scan, rows = await reads.trends(await ctx.database(), ops.project_of(ctx, project_id), paging)
    page = page_of(rows, paging)
    return s.TrendPage(items=page.items, next_cursor=page.next_cursor, scan_id=scan.id if scan else None,
                       scanned_at=scan.started_at if scan else None)


@router.get("/calendar", response_model=Page[s.SlotOut], tags=["planning"])
async def calendar(ctx: Ctx, _: Read, paging: Paging, project_id: str | None = None,
                   since: datetime | None = None, state: str | None = None) -> Page[s.SlotOut]:
    """Planned and past publishing slots, earliest first."""
    return page_of(await reads.calendar(await ctx.database(), project_id, since, state, paging), paging)


@router.get("/posts", response_model=Page[s.PostOut], tags=["results"])
async def posts(ctx: Ctx, _: Read, paging: Paging, project_id: str | None = None, platform: str | None = None,
                status: str | None = None) -> Page[s.PostOut]:
    """Posts per platform, most recently updated first."""
    return page_of(await reads.posts(await ctx.database(), project_id, platform, status, paging), paging)


@router.get("/analytics", response_model=s.AnalyticsOut, tags=["results"])
async def analytics(ctx: Ctx, _: Read, project_id: str | None = None,
                    days: Annotated[int, Query(ge=1, le=365)] = 30) -> s.AnalyticsOut:
    """The latest metrics of each post published in the last `days` days, with totals."""
    return await reads.analytics(await ctx.database(), project_id, days)


# ---------------------------------------------------------------- autonomy


async def autonomy_of(ctx: ApiContext, project_id: str) -> s.AutonomyOut:
    project_id = ops.project_of(ctx, project_id)
    o = await AutonomyService(ctx.settings, await ctx.database()).overview(project_id)
    return s.AutonomyOut(project_id=o.project_id, level=o.level, configured=o.configured, level_set=o.level_set,
                         paused=o.paused, paused_by=o.paused_by, pause_reason=o.pause_reason,
                         daily_cap=o.limits.daily_cap, platform_caps=dict(o.limits.platform_caps),
                         published_today=o.published_today, day=o.day)


@router.get("/projects/{project_id}/autonomy", response_model=s.AutonomyOut, tags=["autonomy"])
async def get_autonomy(project_id: str, ctx: Ctx, _: Read) -> s.AutonomyOut:
    """The project's autonomy level, pause and caps."""
    return await autonomy_of(ctx, project_id)


@router.put("/projects/{project_id}/autonomy", response_model=s.LevelOut, tags=["autonomy"])
async def set_autonomy(project_id: str, req: s.LevelIn, ctx: Ctx, caller: Write) -> s.LevelOut:
    """Change the project's level (logged with who changed it); its open runs are told."""
    return await ops.set_level(ctx, caller, project_id, req.level, "api")
