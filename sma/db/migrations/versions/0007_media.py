"""Tables of the media engine: media_background_uses (stock clip freshness per project).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "media_background_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("run_id", String(), nullable=False),
        sa.Column("provider", String(), nullable=False),
        sa.Column("clip_id", String(), nullable=False),
        sa.Column("query", String(), nullable=False),
        sa.Column("file_url", sa.Text(), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("author", String(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_media_background_uses_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_background_uses")),
        sa.UniqueConstraint("project_id", "run_id", name=op.f("uq_media_background_uses_project_id_run_id")),
    )
    op.create_index(op.f("ix_media_background_uses_project_id"), "media_background_uses", ["project_id"])
    op.create_index(op.f("ix_media_background_uses_clip_id"), "media_background_uses", ["clip_id"])
    op.create_index(op.f("ix_media_background_uses_used_at"), "media_background_uses", ["used_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_media_background_uses_used_at"), table_name="media_background_uses")
    op.drop_index(op.f("ix_media_background_uses_clip_id"), table_name="media_background_uses")
    op.drop_index(op.f("ix_media_background_uses_project_id"), table_name="media_background_uses")
    op.drop_table("media_background_uses")
