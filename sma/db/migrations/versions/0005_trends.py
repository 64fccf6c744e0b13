"""Tables of the trends and calendar capability: scans, ranked results with score breakdowns, calendar.

Written to match sma/db/tables_trends.py (tests/test_trends_store.py compares them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
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
        "trend_scans",
        sa.Column("id", String(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=True),
        sa.Column("answered", sa.Text(), nullable=False),
        sa.Column("failed", sa.Text(), nullable=False),
        sa.Column("reports", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("raw_items", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("filtered_out", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        _project_fk("trend_scans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trend_scans")),
    )
    _index("trend_scans", "project_id")
    _index("trend_scans", "started_at")

    op.create_table(
        "trend_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("scan_id", String(), nullable=False),
        sa.Column("key", String(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("links", sa.Text(), nullable=False),
        sa.Column("published_at", Time, nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("popularity", sa.Float(), nullable=False),
        sa.Column("velocity", sa.Float(), nullable=False),
        sa.Column("freshness", sa.Float(), nullable=False),
        sa.Column("multi_source", sa.Float(), nullable=False),
        sa.Column("coverage_penalty", sa.Float(), nullable=False),
        sa.Column("covered_by", sa.Text(), nullable=False),
        sa.Column("niche_similarity", sa.Float(), nullable=True),
        sa.Column("keyword_hits", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        _project_fk("trend_results"),
        sa.ForeignKeyConstraint(["scan_id"], ["trend_scans.id"], name=op.f("fk_trend_results_scan_id_trend_scans"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trend_results")),
        sa.UniqueConstraint("scan_id", "key", name=op.f("uq_trend_results_scan_id_key")),
    )
    _index("trend_results", "project_id")
    _index("trend_results", "scan_id")
    _index("trend_results", "key")

    op.create_table(
        "calendar_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", String(), nullable=False),
        sa.Column("item_id", String(), nullable=False),
        sa.Column("workflow_id", String(), nullable=False),
        sa.Column("trend_key", String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("platforms", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("slot_score", sa.Float(), nullable=False),
        sa.Column("slot_at", Time, nullable=False),
        sa.Column("start_at", Time, nullable=False),
        sa.Column("state", String(), nullable=False),
        sa.Column("reschedules", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        _project_fk("calendar_slots"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_slots")),
        sa.UniqueConstraint("project_id", "item_id", name=op.f("uq_calendar_slots_project_id_item_id")),
    )
    _index("calendar_slots", "project_id")
    _index("calendar_slots", "trend_key")
    _index("calendar_slots", "slot_at")
    _index("calendar_slots", "state")


def downgrade() -> None:
    op.drop_table("calendar_slots")
    op.drop_table("trend_results")
    op.drop_table("trend_scans")
