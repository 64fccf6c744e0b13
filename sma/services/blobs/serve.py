"""A recorded artifact as an HTTP response when this host has no copy: ranges from the bucket, or the whole
file fetched once into this host's cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.responses import FileResponse, Response

from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore
from sma.services.blobs.ranges import UnsatisfiableRange, byte_range


async def remote_response(store: ArtifactStore, ref: ArtifactRef, range_header: str | None, media_type: str,
                          headers: dict[str, str]) -> Response | None:
    """None when the bytes are nowhere (no bucket, or not in it)."""
    if store.remote is None:
        return None
    try:
        span = byte_range(range_header, ref.size)
    except UnsatisfiableRange:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{ref.size}"})
    if span is None:
        local = await asyncio.to_thread(store.localize, ref)
        return None if local is None else FileResponse(Path(local.path), media_type=media_type, headers=headers)
    start, end = span
    body = await asyncio.to_thread(store.read_range, ref, start, end)
    return Response(body, status_code=206, media_type=media_type, headers={
        **headers, "Content-Range": f"bytes {start}-{end}/{ref.size}", "Accept-Ranges": "bytes"})
