"""The embedded default channel: an outbox folder a person (or a sync tool) picks videos up from."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sma.models.pipeline import PostResult, PublishRequest
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.metadata import PostDraft

MARKER = ".published.json"


class LocalOutbox:
    """Writes `outbox/<project>/<run>/video.mp4` and `metadata.json`, exactly once per run.

    The marker file is written last and read first: a retry after a crash either finds it and returns the
    earlier post, or finds no marker and rewrites the same two files atomically (same names, same bytes).
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, project_id: str, run_id: str) -> Path:
        return self.root / project_id / run_id

    def publish(self, req: PublishRequest) -> PostResult:
        folder = self.folder(req.project_id, req.run_id)
        marker = folder / MARKER
        if marker.is_file():
            return PostResult.model_validate_json(marker.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "video.mp4"
        _atomic_copy(Path(req.video.path), video)
        _atomic_write(folder / "metadata.json", json.dumps(self._metadata(req), indent=2))
        post = PostResult(platform=self.name, status="published", url=video.resolve().as_uri(),
                          external_id=req.run_id)
        _atomic_write(marker, post.model_dump_json())
        return post

    def _metadata(self, req: PublishRequest) -> dict[str, Any]:
        script = req.script
        return {
            "run_id": req.run_id,
            "project_id": req.project_id,
            "title": script.title,
            "description": script.description,
            "hashtags": script.hashtags,
            "hook": script.hook,
            "hook_style": script.hook_style,
            "video_sha256": req.video.sha256,
            "published_at": datetime.now(UTC).isoformat(),
        }


class LocalAdapter:
    """The outbox behind the `Platform` interface; it is exactly-once on its own (marker file)."""

    name = "local"

    def __init__(self, outbox: LocalOutbox) -> None:
        self.outbox = outbox

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        return await asyncio.to_thread(self.outbox.publish, ctx.request)

    async def aclose(self) -> None:
        return None


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _atomic_copy(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
