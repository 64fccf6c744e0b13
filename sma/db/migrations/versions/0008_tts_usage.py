"""Voice usage: tts_calls (one row per synthesis: engine, characters, seconds, cost).

ix_tts_calls_created_at serves the dashboard's "last N days by day and engine"; ix_tts_calls_project_created
the daily budget's "spend of a project since midnight".

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "tts_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("run_id", String(), nullable=False),
        sa.Column("engine", String(), nullable=False),
        sa.Column("model", String(), nullable=False),
        sa.Column("characters", sa.Integer(), nullable=False),
        sa.Column("audio_s", sa.Float(), nullable=False),
        sa.Column("wall_s", sa.Float(), nullable=False),
        sa.Column("outcome", String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_tts_calls_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tts_calls")),
    )
    op.create_index(op.f("ix_tts_calls_created_at"), "tts_calls", ["created_at"], unique=False)
    op.create_index("ix_tts_calls_project_created", "tts_calls", ["project_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tts_calls_project_created", table_name="tts_calls")
    op.drop_index(op.f("ix_tts_calls_created_at"), table_name="tts_calls")
    op.drop_table("tts_calls")
