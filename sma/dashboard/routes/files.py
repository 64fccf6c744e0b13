"""A run's artifact files (video player, audio, captions), served only from the artifact store or outbox.

The URL names a run and an artifact *name*; the path comes from the recorded artifact row, and it is
served only when its resolved location lies inside `data_dir/artifacts` or `data_dir/outbox` (no path
from the URL ever reaches the filesystem; symlinks out of the store are refused). Only media types that
a browser cannot execute are served inline; anything else is a download.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response

from sma.dashboard import queries
from sma.dashboard.deps import Dashboard, dash, require_user
from sma.db.tables import Artifact
from sma.services.artifacts import ArtifactStore
from sma.services.blobs.ranges import ref_of
from sma.services.blobs.serve import remote_response
from sma.services.blobs.store import artifact_store

router = APIRouter(dependencies=[Depends(require_user)], tags=["files"])
INLINE = frozenset({"video/mp4", "video/webm", "audio/wav", "audio/x-wav", "audio/mpeg", "audio/mp4", "audio/ogg",
                    "image/png", "image/jpeg", "image/webp", "text/plain", "application/json"})
TEXT = frozenset({"text/x-ssa", "text/plain", "application/json"})


def allowed_roots(data_dir: Path) -> list[Path]:
    return [(data_dir / "artifacts").resolve(), (data_dir / "outbox").resolve()]


def safe_path(recorded: str, roots: list[Path]) -> Path | None:
    """The recorded file's real location when it is a regular file inside one of `roots`, else None."""
    try:
        path = Path(recorded).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_file() or not any(path.is_relative_to(root) for root in roots):
        return None
    return path


@router.get("/files/{run_id}/{name}")
async def artifact_file(request: Request, run_id: str, name: str) -> Response:
    d = dash(request)
    row = await queries.artifact(d.database, run_id, name)
    if row is None:
        raise HTTPException(404, "no such artifact")
    media_type = row.media_type if row.media_type in INLINE else (
        "text/plain; charset=utf-8" if row.media_type in TEXT else "application/octet-stream")
    if media_type in ("text/plain", "application/json"):
        media_type = "text/plain; charset=utf-8"
    inline = media_type != "application/octet-stream"
    filename = f"{name}{Path(row.path).suffix}"
    path = await asyncio.to_thread(safe_path, row.path, allowed_roots(d.settings.data_dir))
    if path is None:
        return await _from_bucket(d, request, row, media_type, filename, inline)
    return FileResponse(path, media_type=media_type, filename=filename,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Cache-Control": "private, max-age=3600"})


async def _from_bucket(d: Dashboard, request: Request, row: Artifact, media_type: str, filename: str,
                       inline: bool) -> Response:
    """Another host made this artifact: serve it from the shared bucket (the player's ranges included)."""
    store = d.extra.get("artifact_store")
    if not isinstance(store, ArtifactStore):
        store = d.extra["artifact_store"] = artifact_store(d.settings)
    ref = ref_of(row.path, row.sha256, row.size, row.kind, row.media_type)
    disposition = "inline" if inline else "attachment"
    response = await remote_response(store, ref, request.headers.get("range"), media_type, {
        "Cache-Control": "private, max-age=3600", "Content-Disposition": f'{disposition}; filename="{filename}"'})
    if response is None:
        raise HTTPException(404, "the artifact file is not in the artifact store")
    return response
