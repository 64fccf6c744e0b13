"""Tables of the publishing capability: publish records (idempotency), encrypted credentials, post metrics.

Written to match sma/db/tables_publishing.py (checked by tests/test_publish_store.py against the models):
unique keys are the business keys the code upserts on; rows cascade from their project.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
Time = sa.DateTime(timezone=True)


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=op.f(f"fk_{table}_project_id_projects"), ondelete="CASCADE"
    )


def _index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "publish_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("run_id", String(), nullable=False),
        sa.Column("platform", String(), nullable=False),
        sa.Column("state", String(), nullable=False),
        sa.Column("title", String(), nullable=False),
        sa.Column("video_sha256", String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("url", String(), nullable=False),
        sa.Column("external_id", String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("published_at", Time, nullable=True),
        _project_fk("publish_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publish_records")),
        sa.UniqueConstraint("run_id", "platform", name=op.f("uq_publish_records_run_id_platform")),
    )
    _index("publish_records", "project_id")
    _index("publish_records", "run_id")

    op.create_table(
        "platform_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("platform", String(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires_at", Time, nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        _project_fk("platform_credentials"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_credentials")),
        sa.UniqueConstraint("project_id", "platform", name=op.f("uq_platform_credentials_project_id_platform")),
    )
    _index("platform_credentials", "project_id")

    op.create_table(
        "post_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("run_id", String(), nullable=False),
        sa.Column("platform", String(), nullable=False),
        sa.Column("external_id", String(), nullable=False),
        sa.Column("checkpoint", String(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("published_at", Time, nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("collected_at", Time, nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("lag_s", sa.Float(), nullable=False),
        sa.Column("status", String(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.Column("comments", sa.Integer(), nullable=True),
        sa.Column("shares", sa.Integer(), nullable=True),
        sa.Column("saves", sa.Integer(), nullable=True),
        sa.Column("watch_time_s", sa.Float(), nullable=True),
        sa.Column("avg_view_s", sa.Float(), nullable=True),
        sa.Column("retention", sa.Float(), nullable=True),
        sa.Column("followers_gained", sa.Integer(), nullable=True),
        sa.Column("engagement_rate", sa.Float(), nullable=True),
        sa.Column("viral_score", sa.Float(), nullable=True),
        sa.Column("baseline_views", sa.Float(), nullable=True),
        sa.Column("baseline_engagement", sa.Float(), nullable=True),
        sa.Column("baseline_n", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        _project_fk("post_metrics"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_metrics")),
        sa.UniqueConstraint("run_id", "platform", "checkpoint",
                            name=op.f("uq_post_metrics_run_id_platform_checkpoint")),
    )
    _index("post_metrics", "project_id")
    _index("post_metrics", "run_id")


def downgrade() -> None:
    for table in ("post_metrics", "platform_credentials", "publish_records"):
        op.drop_table(table)
