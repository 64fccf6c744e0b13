"""Budget holds: the worst case of paid calls in flight, shared by every worker process (plans/030-postgresql.md).

Revision ID: 0028
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "budget_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("kind", String(), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_budget_holds_project_id_projects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_holds")),
    )
    op.create_index("ix_budget_holds_project_kind", "budget_holds", ["project_id", "kind"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_budget_holds_project_kind", table_name="budget_holds")
    op.drop_table("budget_holds")
