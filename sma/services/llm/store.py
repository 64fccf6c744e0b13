"""Where the gateway keeps its records: every call (for cost, budget and audit) and every script attempt.

`DBUsageStore` writes the llm tables; `MemoryUsageStore` keeps rows in memory for processes without a
database. Both answer "how much did this project spend since T" for the budget, and hold the worst case of
a call in flight against it; the database's holds are shared by every worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database
from sma.db.locks import exclusive
from sma.db.tables import Project, utcnow
from sma.db.tables_llm import BudgetHold, LLMCall, ScriptAttempt
from sma.models.llm import CallRecord, ScriptAttemptRecord, UsageRow

_ON_CONFLICT: dict[str, Callable[..., sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert}


HOLD_TTL = timedelta(minutes=15)  # a hold left by a worker that died stops counting after this


class UsageStore(Protocol):
    async def record_call(self, record: CallRecord) -> None: ...

    async def spent_since(self, project_id: str, since: datetime) -> float: ...

    async def held(self, project_id: str) -> float: ...

    async def hold(self, project_id: str, amount: float, budget: float, since: datetime) -> tuple[int | None, float]:
        """Atomically: hold `amount` if spend since `since` plus holds plus `amount` fits `budget`.
        Returns (hold id or None when it does not fit, what was spent and held before)."""
        ...

    async def release(self, hold_id: int) -> None: ...

    async def record_attempt(self, attempt: ScriptAttemptRecord) -> None: ...

    async def calls(self, since: datetime, project_id: str | None = None) -> list[CallRecord]: ...


def start_of_day(now: datetime | None = None) -> datetime:
    """00:00 UTC of today: budgets are per UTC day."""
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def summarize(calls: list[CallRecord]) -> list[UsageRow]:
    """Calls grouped by UTC day, project, provider and model."""
    rows: dict[tuple[str, str, str, str], UsageRow] = {}
    for call in calls:
        if call.outcome in ("budget_blocked", "circuit_open"):
            continue  # not made: no tokens, no cost
        day = (call.created_at or utcnow()).date().isoformat()
        key = (day, call.project_id, call.provider, call.model)
        row = rows.setdefault(key, UsageRow(day=day, project_id=call.project_id, provider=call.provider,
                                            model=call.model))
        row.calls += 1
        row.failed += call.outcome != "ok"
        row.tokens_in += call.tokens_in
        row.tokens_out += call.tokens_out
        row.cost_usd = round(row.cost_usd + call.cost_usd, 6)
    return sorted(rows.values(), key=lambda r: (r.day, r.project_id, r.provider, r.model), reverse=True)


class MemoryUsageStore:
    """One process's records; its check-and-hold has no await inside, so it is atomic within the process."""

    def __init__(self) -> None:
        self.call_records: list[CallRecord] = []
        self.attempts: dict[tuple[str, int, int], ScriptAttemptRecord] = {}
        self.holds: dict[int, tuple[str, float]] = {}
        self._next_hold = 0

    async def held(self, project_id: str) -> float:
        return sum(amount for project, amount in self.holds.values() if project == project_id)

    async def hold(self, project_id: str, amount: float, budget: float, since: datetime) -> tuple[int | None, float]:
        spent = await self.spent_since(project_id, since) + await self.held(project_id)
        if spent + amount > budget:
            return None, spent
        self._next_hold += 1
        self.holds[self._next_hold] = (project_id, amount)
        return self._next_hold, spent

    async def release(self, hold_id: int) -> None:
        self.holds.pop(hold_id, None)

    async def record_call(self, record: CallRecord) -> None:
        self.call_records.append(record.model_copy(update={"created_at": record.created_at or utcnow()}))

    async def spent_since(self, project_id: str, since: datetime) -> float:
        return sum(c.cost_usd for c in self.call_records
                   if c.project_id == project_id and c.created_at is not None and c.created_at >= since)

    async def record_attempt(self, attempt: ScriptAttemptRecord) -> None:
        self.attempts[(attempt.run_id, attempt.round, attempt.attempt)] = attempt

    async def calls(self, since: datetime, project_id: str | None = None) -> list[CallRecord]:
        return [c for c in self.call_records if c.created_at is not None and c.created_at >= since
                and (project_id is None or c.project_id == project_id)]


class DBUsageStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._known_projects: set[str] = set()

    async def _ensure_project(self, session: AsyncSession, project_id: str) -> None:
        """A placeholder project row so the foreign key holds (the recorder fills name and niche)."""
        if project_id in self._known_projects:
            return
        dialect = (await session.connection()).dialect.name
        values = {"id": project_id, "name": "", "niche": "", "created_at": utcnow()}
        if dialect in _ON_CONFLICT:
            stmt = _ON_CONFLICT[dialect](Project).values(**values).on_conflict_do_nothing(index_elements=["id"])
            await session.exec(stmt)
        elif (await session.get(Project, project_id)) is None:
            try:
                async with session.begin_nested():
                    await session.exec(insert(Project).values(**values))
            except IntegrityError:
                pass  # created meanwhile by another writer
        self._known_projects.add(project_id)

    async def record_call(self, record: CallRecord) -> None:
        values = record.model_dump()
        values["created_at"] = record.created_at or utcnow()
        async with self.database.session() as session, session.begin():
            await self._ensure_project(session, record.project_id)
            session.add(LLMCall(**values))

    async def spent_since(self, project_id: str, since: datetime) -> float:
        async with self.database.session() as session:
            stmt = select(func.coalesce(func.sum(LLMCall.cost_usd), 0.0)).where(
                LLMCall.project_id == project_id, LLMCall.created_at >= since)
            return float((await session.exec(stmt)).one())

    async def held(self, project_id: str, session: AsyncSession | None = None) -> float:
        stmt = select(func.coalesce(func.sum(BudgetHold.amount_usd), 0.0)).where(
            BudgetHold.project_id == project_id, BudgetHold.kind == "llm", BudgetHold.expires_at > utcnow())
        if session is not None:
            return float((await session.exec(stmt)).one())
        async with self.database.session() as own:
            return float((await own.exec(stmt)).one())

    async def hold(self, project_id: str, amount: float, budget: float, since: datetime) -> tuple[int | None, float]:
        """Count and hold in one transaction under the project's budget lock: exact across processes."""
        async with exclusive(self.database, f"llm-budget:{project_id}") as session:
            await self._ensure_project(session, project_id)
            spent_stmt = select(func.coalesce(func.sum(LLMCall.cost_usd), 0.0)).where(
                LLMCall.project_id == project_id, LLMCall.created_at >= since)
            spent = float((await session.exec(spent_stmt)).one()) + await self.held(project_id, session)
            if spent + amount > budget:
                return None, spent
            now = utcnow()
            await session.exec(delete(BudgetHold).where(
                col(BudgetHold.project_id) == project_id, col(BudgetHold.expires_at) <= now))
            row = BudgetHold(project_id=project_id, kind="llm", amount_usd=amount, created_at=now,
                             expires_at=now + HOLD_TTL)
            session.add(row)
            await session.flush()
            return row.id, spent

    async def release(self, hold_id: int) -> None:
        async with self.database.session() as session, session.begin():
            await session.exec(delete(BudgetHold).where(col(BudgetHold.id) == hold_id))

    async def record_attempt(self, attempt: ScriptAttemptRecord) -> None:
        """Idempotent on (run, round, attempt): a retried activity replaces its earlier row."""
        values = {**attempt.model_dump(), "created_at": utcnow()}
        async with self.database.session() as session, session.begin():
            await self._ensure_project(session, attempt.project_id)
            existing = (await session.exec(select(ScriptAttempt).where(
                ScriptAttempt.run_id == attempt.run_id, ScriptAttempt.round == attempt.round,
                ScriptAttempt.attempt == attempt.attempt))).first()
            if existing is None:
                session.add(ScriptAttempt(**values))
            else:
                for key, value in values.items():
                    if key != "created_at":
                        setattr(existing, key, value)

    async def calls(self, since: datetime, project_id: str | None = None) -> list[CallRecord]:
        async with self.database.session() as session:
            stmt = select(LLMCall).where(LLMCall.created_at >= since)
            if project_id is not None:
                stmt = stmt.where(LLMCall.project_id == project_id)
            rows = (await session.exec(stmt.order_by(col(LLMCall.created_at)))).all()
        return [CallRecord.model_validate(row.model_dump(exclude={"id"})) for row in rows]

    async def attempts(self, run_id: str) -> list[ScriptAttemptRecord]:
        async with self.database.session() as session:
            rows = (await session.exec(select(ScriptAttempt).where(ScriptAttempt.run_id == run_id)
                                       .order_by(col(ScriptAttempt.round), col(ScriptAttempt.attempt)))).all()
        return [ScriptAttemptRecord.model_validate(row.model_dump(exclude={"id", "created_at"})) for row in rows]


def usage_since_days(days: int) -> datetime:
    return start_of_day() - timedelta(days=max(0, days - 1))

