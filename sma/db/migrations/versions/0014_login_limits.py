"""Dashboard login: the throttle's counters and the single-use form tokens (plans/014-exposure.md).

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "dashboard_login_limits",
        sa.Column("bucket", String(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_dashboard_login_limits")),
    )
    op.create_index(op.f("ix_dashboard_login_limits_window_start"), "dashboard_login_limits", ["window_start"])
    op.create_table(
        "dashboard_form_tokens",
        sa.Column("token_hash", String(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_form_tokens")),
    )
    op.create_index(op.f("ix_dashboard_form_tokens_expires_at"), "dashboard_form_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_form_tokens_expires_at"), table_name="dashboard_form_tokens")
    op.drop_table("dashboard_form_tokens")
    op.drop_index(op.f("ix_dashboard_login_limits_window_start"), table_name="dashboard_login_limits")
    op.drop_table("dashboard_login_limits")
