"""The dashboard's own records besides sessions and audit: script edits made in the approval queue."""

from __future__ import annotations

from sqlmodel import col, select

from sma.dashboard.cache import cached
from sma.dashboard.queries import DB, reading
from sma.db.engine import Database
from sma.db.tables_dashboard import ScriptEdit


async def record_edit(db: Database, edit: ScriptEdit) -> ScriptEdit:
    async with db.session() as session, session.begin():
        session.add(edit)
    return edit


@cached
async def edits_of_run(db: DB, run_id: str) -> list[ScriptEdit]:
    query = select(ScriptEdit).where(ScriptEdit.run_id == run_id).order_by(col(ScriptEdit.at), col(ScriptEdit.id))
    async with reading(db) as session:
        return list((await session.exec(query)).all())
