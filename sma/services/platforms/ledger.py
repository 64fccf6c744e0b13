"""The idempotency record of each post: one row per (run, platform) in `publish_records`.

`begin` is committed before the adapter makes its first platform call; `save_progress` commits the
platform-side ids the adapter is given (upload session, container, publish id) before the step that can
create a post; `complete` is committed after the platform confirmed. A retry after a crash therefore
finds either `published` (return that post), or `started` with the progress to check the platform with.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_publishing import PublishRecord
from sma.models.pipeline import PostResult
from sma.services.platforms.db import ensure_project, transaction

STARTED, PUBLISHED, FAILED = "started", "published", "failed"


def progress_of(record: PublishRecord) -> dict[str, Any]:
    try:
        data = json.loads(record.progress or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def post_of(record: PublishRecord) -> PostResult:
    status: Literal["published", "failed"] = "published" if record.state == PUBLISHED else "failed"
    return PostResult(platform=record.platform, status=status, url=record.url, external_id=record.external_id,
                      reason=record.reason)


class PublishLedger:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, run_id: str, platform: str) -> PublishRecord | None:
        async with self.database.session() as session:
            return (await session.exec(_where(run_id, platform))).first()

    async def begin(self, project_id: str, run_id: str, platform: str, title: str, video_sha256: str) -> PublishRecord:
        """Create the record (state `started`) or count one more attempt on it; committed on return."""
        for _ in range(2):
            try:
                async with transaction(self.database) as session:
                    await ensure_project(session, project_id)
                    record = (await session.exec(_where(run_id, platform))).first()
                    if record is None:
                        record = PublishRecord(project_id=project_id, run_id=run_id, platform=platform,
                                               title=title, video_sha256=video_sha256)
                    if record.state != PUBLISHED:
                        record.state = STARTED
                    record.attempts += 1
                    record.updated_at = utcnow()
                    session.add(record)
                return record
            except IntegrityError:  # a concurrent begin inserted it first; take the update path
                continue
        raise RuntimeError(f"could not create the publish record of {run_id}/{platform}")

    async def save_progress(self, run_id: str, platform: str, progress: dict[str, Any]) -> None:
        await self._update(run_id, platform, progress=json.dumps(progress, sort_keys=True))

    async def complete(self, run_id: str, platform: str, post: PostResult,
                       published_at: datetime | None = None) -> None:
        await self._update(run_id, platform, state=PUBLISHED, url=post.url, external_id=post.external_id,
                           reason=post.reason, published_at=published_at or utcnow())

    async def fail(self, run_id: str, platform: str, reason: str) -> None:
        await self._update(run_id, platform, state=FAILED, reason=reason)

    async def _update(self, run_id: str, platform: str, **values: Any) -> None:
        async with transaction(self.database) as session:
            record = (await session.exec(_where(run_id, platform))).one()
            if record.state == PUBLISHED and values.get("state") == FAILED:
                return  # a late failure never overwrites a confirmed post
            if record.published_at is not None:
                values.pop("published_at", None)
            for key, value in values.items():
                setattr(record, key, value)
            record.updated_at = utcnow()
            session.add(record)

    async def published(self, since: datetime, project_ids: list[str] | None = None,
                        platforms: list[str] | None = None) -> list[PublishRecord]:
        """Posts confirmed since `since` (for analytics), oldest first."""
        query = select(PublishRecord).where(PublishRecord.state == PUBLISHED,
                                            col(PublishRecord.published_at) >= since)
        if project_ids:
            query = query.where(col(PublishRecord.project_id).in_(project_ids))
        if platforms:
            query = query.where(col(PublishRecord.platform).in_(platforms))
        async with self.database.session() as session:
            return list((await session.exec(query.order_by(col(PublishRecord.published_at)))).all())


def _where(run_id: str, platform: str) -> SelectOfScalar[PublishRecord]:
    return select(PublishRecord).where(PublishRecord.run_id == run_id, PublishRecord.platform == platform)
