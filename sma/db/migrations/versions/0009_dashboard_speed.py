"""Dashboard speed: the index the posts page's platform filter reads.

`SELECT DISTINCT platform FROM posts` (the filter's choices, on every visit of /posts) scanned the table;
with this index it reads the narrow index instead (1 ms -> 0.2 ms with 7,000 posts). The other lists were
already index walks (revision 0006); what made the pages slow under load was per-request work, which the
dashboard now caches until the database changes (sma/dashboard/cache.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_posts_platform", "posts", ["platform"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
