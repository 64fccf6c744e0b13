"""The bot's rows: approval messages (one per run, round and ask), progress messages, reject prompts.

The approval row is what makes the bot safe to restart and to tap twice: a sender that finds the row
already sent or answered does not ask again, and a tap claims the row with one conditional UPDATE, so
exactly one tap of many turns into a signal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables import Project, utcnow
from sma.db.tables_autonomy import ApprovalMessage, ProgressMessage, RejectPrompt

OPEN = "sent"


async def _ensure_project(db: Database, project_id: str) -> None:
    async with db.session() as session, session.begin():
        if await session.get(Project, project_id) is None:
            session.add(Project(id=project_id))


# ---------------------------------------------------------------- approval messages


async def approval_row(db: Database, project_id: str, run_id: str, round_no: int, seq: int,
                       title: str = "") -> tuple[ApprovalMessage, bool]:
    """The row for this ask, created if new; the flag says whether it was created just now."""
    query = select(ApprovalMessage).where(ApprovalMessage.run_id == run_id, ApprovalMessage.round == round_no,
                                          ApprovalMessage.seq == seq)
    async with db.session() as session:
        row = (await session.exec(query)).first()
    if row is not None:
        return row, False
    await _ensure_project(db, project_id)
    try:
        async with db.session() as session, session.begin():
            row = ApprovalMessage(project_id=project_id, run_id=run_id, round=round_no, seq=seq, title=title)
            session.add(row)
    except IntegrityError:  # a concurrent sender created it first
        async with db.session() as session:
            return (await session.exec(query)).one(), False
    return row, True


async def get_approval(db: Database, approval_id: int) -> ApprovalMessage | None:
    async with db.session() as session:
        return await session.get(ApprovalMessage, approval_id)


async def latest_approval(db: Database, run_id: str, round_no: int | None = None) -> ApprovalMessage | None:
    query = select(ApprovalMessage).where(ApprovalMessage.run_id == run_id)
    if round_no is not None:
        query = query.where(ApprovalMessage.round == round_no)
    query = query.order_by(col(ApprovalMessage.round).desc(), col(ApprovalMessage.seq).desc(),
                           col(ApprovalMessage.id).desc())
    async with db.session() as session:
        return (await session.exec(query)).first()


async def approvals_of_run(db: Database, run_id: str) -> list[ApprovalMessage]:
    query = select(ApprovalMessage).where(ApprovalMessage.run_id == run_id).order_by(col(ApprovalMessage.id))
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def mark_sent(db: Database, approval_id: int, chat_id: int, message_id: int, text: str,
                    video_message_id: int | None = None) -> None:
    async with db.session() as session, session.begin():
        await session.exec(update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id).values(
            chat_id=chat_id, message_id=message_id, video_message_id=video_message_id, text=text, state=OPEN))


async def set_state(db: Database, approval_id: int, state: str, only_from: tuple[str, ...] = ()) -> bool:
    stmt = update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id)
    if only_from:
        stmt = stmt.where(col(ApprovalMessage.state).in_(only_from))
    async with db.session() as session, session.begin():
        result = await session.exec(stmt.values(state=state))
    return result.rowcount == 1


async def claim(db: Database, approval_id: int, decision: str, by: str) -> bool:
    """Take the decision for this ask; False if someone (or an earlier tap) already did."""
    stmt = (update(ApprovalMessage)
            .where(col(ApprovalMessage.id) == approval_id, col(ApprovalMessage.state) == OPEN)
            .values(state="answered", decision=decision, decided_by=by, decided_at=utcnow()))
    async with db.session() as session, session.begin():
        result = await session.exec(stmt)
    return result.rowcount == 1


async def unclaim(db: Database, approval_id: int) -> None:
    """Give a claimed ask back (the signal could not be delivered), so the person can tap again."""
    stmt = (update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id)
            .values(state=OPEN, decision="", decided_by="", decided_at=None))
    async with db.session() as session, session.begin():
        await session.exec(stmt)


async def record_decision(db: Database, approval_id: int, decision: str, by: str, when: datetime | None = None) -> None:
    """Note a decision made elsewhere (CLI, dashboard, autonomy) on the row, without the claim check."""
    stmt = (update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id)
            .values(state="answered", decision=decision, decided_by=by, decided_at=when or utcnow()))
    async with db.session() as session, session.begin():
        await session.exec(stmt)


async def supersede(db: Database, run_id: str, keep_id: int) -> None:
    """A new ask for the run makes the older open asks stale (their buttons answer 'no longer current')."""
    stmt = (update(ApprovalMessage)
            .where(col(ApprovalMessage.run_id) == run_id, col(ApprovalMessage.id) != keep_id,
                   col(ApprovalMessage.state).in_(("pending", OPEN, "expired")))
            .values(state="stale"))
    async with db.session() as session, session.begin():
        await session.exec(stmt)


async def mark_reminded(db: Database, approval_id: int) -> None:
    async with db.session() as session, session.begin():
        await session.exec(update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id)
                           .values(reminded=True))


async def open_approvals(db: Database, project_ids: list[str], states: tuple[str, ...] = (OPEN, "expired"),
                         limit: int = 50) -> list[ApprovalMessage]:
    query = (select(ApprovalMessage)
             .where(col(ApprovalMessage.project_id).in_(project_ids), col(ApprovalMessage.state).in_(states))
             .order_by(col(ApprovalMessage.id).desc()).limit(limit))
    async with db.session() as session:
        return list((await session.exec(query)).all())


# ---------------------------------------------------------------- progress messages


async def progress_row(db: Database, run_id: str) -> ProgressMessage | None:
    async with db.session() as session:
        return await session.get(ProgressMessage, run_id)


async def save_progress(db: Database, project_id: str, run_id: str, chat_id: int, message_id: int,
                        text: str) -> None:
    await _ensure_project(db, project_id)
    async with db.session() as session, session.begin():
        row = await session.get(ProgressMessage, run_id)
        if row is None:
            session.add(ProgressMessage(run_id=run_id, project_id=project_id, chat_id=chat_id,
                                        message_id=message_id, text=text))
        else:
            row.text, row.updated_at = text, utcnow()


# ---------------------------------------------------------------- reject prompts


async def open_prompt(db: Database, project_id: str, approval_id: int, chat_id: int, user_id: int,
                      message_id: int | None) -> None:
    """Wait for this person's reason in this chat (a newer Reject tap replaces an older question)."""
    async with db.session() as session, session.begin():
        await session.exec(delete(RejectPrompt).where(col(RejectPrompt.chat_id) == chat_id,
                                                      col(RejectPrompt.user_id) == user_id))
        session.add(RejectPrompt(project_id=project_id, approval_id=approval_id, chat_id=chat_id,
                                 user_id=user_id, message_id=message_id))


async def get_prompt(db: Database, chat_id: int, user_id: int) -> RejectPrompt | None:
    query = select(RejectPrompt).where(RejectPrompt.chat_id == chat_id, RejectPrompt.user_id == user_id)
    async with db.session() as session:
        return (await session.exec(query)).first()


async def close_prompts(db: Database, approval_id: int) -> None:
    async with db.session() as session, session.begin():
        await session.exec(delete(RejectPrompt).where(col(RejectPrompt.approval_id) == approval_id))


async def update_approval(db: Database, approval_id: int, **values: object) -> None:
    async with db.session() as session, session.begin():
        await session.exec(update(ApprovalMessage).where(col(ApprovalMessage.id) == approval_id).values(**values))
