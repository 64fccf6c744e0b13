"""Tables of the media engine (registered on SQLModel.metadata by import).

- `media_background_uses`: which background each video of a project got (a stock clip or the procedural
  loop), one row per run. The background step reads it to keep stock clips fresh (no clip reused within
  a project's last N videos) and to give a retried run the same clip again.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, utcnow


class BackgroundUse(SQLModel, table=True):
    __tablename__ = "media_background_uses"
    __table_args__ = (sa.UniqueConstraint("project_id", "run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    run_id: str
    provider: str  # pexels | procedural
    clip_id: str = Field(default="", index=True)
    query: str = ""
    file_url: str = Field(default="", sa_type=sa.Text)  # the rendition downloaded; a retry fetches it again
    page_url: str = Field(default="", sa_type=sa.Text)  # attribution: the clip's page on the provider
    author: str = ""
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
