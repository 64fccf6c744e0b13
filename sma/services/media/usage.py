"""Which background each video got, per project: the memory behind stock-clip freshness.

Synchronous on purpose: the background step is a sync activity on a thread (CPU pool), so it uses a
plain SQLAlchemy engine on the same database as everything else (SQLite file or PostgreSQL), with short
transactions. Nothing here is on the hot path: one read and one write per video.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sma.db.engine import make_sync_engine
from sma.db.tables import Project, utcnow
from sma.db.tables_media import BackgroundUse


@dataclass(frozen=True)
class Pick:
    """A background chosen for one run."""

    provider: str
    clip_id: str = ""
    query: str = ""
    file_url: str = ""
    page_url: str = ""
    author: str = ""


class BackgroundUsage:
    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.engine = engine or make_sync_engine(database_url)

    def close(self) -> None:
        self.engine.dispose()

    def pick_for(self, project_id: str, run_id: str) -> Pick | None:
        """The background recorded for this run, so a retry (or a re-render after a rejection) keeps it."""
        with Session(self.engine) as session:
            row = session.exec(
                select(BackgroundUse).where(BackgroundUse.project_id == project_id, BackgroundUse.run_id == run_id)
            ).first()
        if row is None:
            return None
        return Pick(row.provider, row.clip_id, row.query, row.file_url, row.page_url, row.author)

    def recent_clips(self, project_id: str, videos: int, exclude_run: str = "") -> set[str]:
        """Stock clip ids used by the project's last `videos` videos (other than `exclude_run`)."""
        if videos <= 0:
            return set()
        with Session(self.engine) as session:
            rows = session.exec(
                select(BackgroundUse.clip_id)
                .where(BackgroundUse.project_id == project_id, BackgroundUse.run_id != exclude_run)
                .order_by(col(BackgroundUse.used_at).desc(), col(BackgroundUse.id).desc())
                .limit(videos)
            ).all()
        return {clip for clip in rows if clip}

    def record(self, project_id: str, run_id: str, pick: Pick) -> None:
        """Remember the run's background (first write wins: a concurrent retry keeps the earlier pick)."""
        with Session(self.engine) as session:
            if session.get(Project, project_id) is None:
                session.add(Project(id=project_id, created_at=utcnow()))
                session.flush()
            session.add(BackgroundUse(project_id=project_id, run_id=run_id, provider=pick.provider,
                                      clip_id=pick.clip_id, query=pick.query, file_url=pick.file_url,
                                      page_url=pick.page_url, author=pick.author))  # fmt: skip
            try:
                session.commit()
            except sa.exc.IntegrityError:
                session.rollback()
