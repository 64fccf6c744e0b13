"""Tables of the dashboard capability: admin login, sessions, audit log, script edits; and indexes on
foundation tables for the dashboard's paginated lists (runs, posts).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
Time = sa.DateTime(timezone=True)

# The dashboard's lists over foundation tables: (updated_at DESC, id DESC) pages without a sort at any offset.
INDEXES = (
    ("ix_pipeline_runs_updated_id", "pipeline_runs", ["updated_at", "id"]),
    ("ix_pipeline_runs_state_updated", "pipeline_runs", ["state", "updated_at", "id"]),
    ("ix_pipeline_runs_project_updated_id", "pipeline_runs", ["project_id", "updated_at", "id"]),
    ("ix_pipeline_runs_finished_at", "pipeline_runs", ["finished_at"]),
    ("ix_pipeline_runs_title_id", "pipeline_runs", ["title", "id"]),
    ("ix_posts_published_at", "posts", ["published_at"]),
    ("ix_posts_updated_id", "posts", ["updated_at", "id"]),
    ("ix_step_runs_name_finished", "step_runs", ["name", "finished_at"]),
)


def upgrade() -> None:
    op.create_table(
        "dashboard_admin",
        sa.Column("username", String(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("source", String(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_dashboard_admin")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", String(), nullable=False),
        sa.Column("username", String(), nullable=False),
        sa.Column("csrf_token", String(), nullable=False),
        sa.Column("client", String(), nullable=False),
        sa.Column("user_agent", String(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_seen", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"])
    op.create_table(
        "dashboard_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", String(), nullable=False),
        sa.Column("client", String(), nullable=False),
        sa.Column("action", String(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("target", String(), nullable=False),
        sa.Column("outcome", String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_audit")),
    )
    op.create_index(op.f("ix_dashboard_audit_at"), "dashboard_audit", ["at"])
    op.create_index(op.f("ix_dashboard_audit_project_id"), "dashboard_audit", ["project_id"])
    op.create_table(
        "dashboard_script_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("run_id", String(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("by", String(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("edited", sa.Text(), nullable=False),
        sa.Column("sent_as", String(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_script_edits")),
    )
    op.create_index(op.f("ix_dashboard_script_edits_project_id"), "dashboard_script_edits", ["project_id"])
    op.create_index(op.f("ix_dashboard_script_edits_run_id"), "dashboard_script_edits", ["run_id"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index(op.f("ix_dashboard_script_edits_run_id"), table_name="dashboard_script_edits")
    op.drop_index(op.f("ix_dashboard_script_edits_project_id"), table_name="dashboard_script_edits")
    op.drop_table("dashboard_script_edits")
    op.drop_index(op.f("ix_dashboard_audit_project_id"), table_name="dashboard_audit")
    op.drop_index(op.f("ix_dashboard_audit_at"), table_name="dashboard_audit")
    op.drop_table("dashboard_audit")
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("dashboard_admin")
