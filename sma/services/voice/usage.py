"""TTS usage: what each synthesis cost, where it is recorded, and the daily budget of the priced engines.

Synchronous on purpose: the voice step is a sync activity on a thread of the GPU worker, which has no async
Database, so the store uses a plain SQLAlchemy engine on the same database URL as everything else (like
media/usage.py), with one short transaction per row. The per-day aggregate is one SQL statement shared by
this store (the CLI) and the dashboard's async session (sma/dashboard/queries_tts.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from sma.db.engine import make_sync_engine, sqlite_path
from sma.db.locks import exclusive_sync
from sma.db.tables import Project, utcnow
from sma.db.tables_llm import BudgetHold
from sma.db.tables_voice import TTSCall
from sma.models.voice_usage import TTSCallRecord, TTSUsageDay

if TYPE_CHECKING:
    from sma.settings import Settings, TTSSettings

log = structlog.get_logger("sma.tts.usage")

_ON_CONFLICT: dict[str, Callable[..., sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert}


# ---------------------------------------------------------------- prices and budget


def price_per_1k(settings: TTSSettings, engine: str) -> float:
    """USD per 1,000 characters for an engine; one not listed in `tts.prices_per_1k_chars` is free."""
    return float(settings.prices_per_1k_chars.get(engine.strip().lower(), 0.0))


def cost_usd(settings: TTSSettings, engine: str, characters: int) -> float:
    return round(characters / 1000 * price_per_1k(settings, engine), 6)


def start_of_day(now: datetime | None = None) -> datetime:
    """00:00 UTC of today: budgets are per UTC day, like the LLM budget."""
    return datetime.combine((now or utcnow()).astimezone(UTC).date(), time(), tzinfo=UTC)


def budget_reason(
    settings: TTSSettings, usage: TTSUsageRecorder | None, engine: str, project_id: str, characters: int
) -> str | None:
    """Why a priced engine must not speak this take today, or None. Free engines are never blocked.

    The spend that cannot be read blocks the priced engine too (fails closed): the chain's free engines
    still speak, and nothing is spent that nobody can count.
    """
    budget = settings.daily_budget_usd
    estimate = cost_usd(settings, engine, characters)
    if budget is None or price_per_1k(settings, engine) <= 0:
        return None
    try:
        spent = usage.spent_since(project_id, start_of_day()) if usage is not None else 0.0
    except Exception as exc:
        log.warning("tts spend unreadable", project_id=project_id, error=f"{type(exc).__name__}: {exc}"[:300])
        return f"daily TTS budget of ${budget:.2f} cannot be checked (spend unreadable: {type(exc).__name__})"
    if spent + estimate > budget + 1e-9:
        return f"daily TTS budget of ${budget:.2f} reached (${spent:.2f} spent, this take ${estimate:.2f})"
    return None


def hold_budget(
    settings: TTSSettings, usage: TTSUsageRecorder | None, engine: str, project_id: str, characters: int
) -> tuple[str | None, int | None]:
    """`budget_reason`, exact across worker processes: the take's cost is held against the budget in the same
    locked transaction that counts the spend (release it once the take is recorded). Returns (reason, hold):
    a reason when the engine must not speak, else the hold to release (None when nothing was held)."""
    budget = settings.daily_budget_usd
    if budget is None or price_per_1k(settings, engine) <= 0 or usage is None or not hasattr(usage, "hold"):
        return budget_reason(settings, usage, engine, project_id, characters), None
    estimate = cost_usd(settings, engine, characters)
    try:
        hold, spent = usage.hold(project_id, estimate, budget, start_of_day())
    except Exception as exc:
        log.warning("tts spend unreadable", project_id=project_id, error=f"{type(exc).__name__}: {exc}"[:300])
        return f"daily TTS budget of ${budget:.2f} cannot be checked (spend unreadable: {type(exc).__name__})", None
    if hold is None:
        return f"daily TTS budget of ${budget:.2f} reached (${spent:.2f} spent, this take ${estimate:.2f})", None
    return None, hold


def engine_model(engine: object) -> str:
    """A short model/voice label for the row, read from the engine's settings (never a key or a URL)."""
    label = getattr(engine, "usage_label", None)
    if callable(label):
        return str(label())[:200]
    name = getattr(engine, "name", "")
    s: Any = getattr(engine, "settings", None)  # each engine has its own settings; a miss is an AttributeError
    try:
        if name == "elevenlabs":
            return f"{s.model_id}/{s.voice_id}"
        if name == "kokoro":
            return f"{s.model}/{s.voice}"
        if name == "edge":
            return str(s.voice)
        if name == "xtts":
            checkpoint = Path(s.model_dir).name if s.model_dir else "xtts-v2"
            return f"{checkpoint}/{getattr(engine, 'project_id', '')}"
        if name == "piper":
            return Path(engine.voice_path).name.removesuffix(".onnx")  # type: ignore[attr-defined]  # the Piper engine's own field
    except AttributeError:
        pass
    return ""


# ---------------------------------------------------------------- the per-day aggregate (one SQL statement)


def _day() -> Any:
    # SQLite keeps UTC text, PostgreSQL timestamptz: the first 10 characters are the UTC day either way
    # (the dashboard's llm_usage reads days the same way).
    return func.substr(sa.cast(TTSCall.created_at, sa.Text), 1, 10)


def _count(outcome: str) -> Any:
    return func.sum(sa.case((col(TTSCall.outcome) == outcome, 1), else_=0))


def usage_by_day_query(since: datetime, project_id: str | None = None) -> Any:
    """Attempts per UTC day and engine since `since` (a range scan on ix_tts_calls_created_at)."""
    day = _day()
    query = select(day, TTSCall.engine, func.count(), _count("failed"), _count("qa_failed"),  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
                   func.sum(TTSCall.characters), func.sum(TTSCall.audio_s), func.sum(TTSCall.wall_s),
                   func.sum(TTSCall.cost_usd)).where(col(TTSCall.created_at) >= since)
    if project_id is not None:
        query = query.where(TTSCall.project_id == project_id)
    return query.group_by(day, TTSCall.engine).order_by(day.desc(), TTSCall.engine)


def usage_days(rows: Any) -> list[TTSUsageDay]:
    return [TTSUsageDay(day=str(d), engine=e or "?", calls=int(n), failed=int(f or 0), qa_failed=int(q or 0),
                        characters=int(c or 0), audio_s=round(float(a or 0.0), 3), wall_s=round(float(w or 0.0), 3),
                        cost_usd=round(float(usd or 0.0), 6))
            for d, e, n, f, q, c, a, w, usd in rows]


def spend_by_project_query(since: datetime) -> Any:
    return (select(TTSCall.project_id, func.sum(TTSCall.cost_usd))
            .where(col(TTSCall.created_at) >= since).group_by(TTSCall.project_id))


# ---------------------------------------------------------------- the store


class TTSUsageRecorder(Protocol):
    def record(self, call: TTSCallRecord) -> None: ...

    def spent_since(self, project_id: str, since: datetime) -> float: ...


HOLD_TTL = timedelta(minutes=15)  # a hold left by a worker that died stops counting after this


class TTSUsageStore:
    """tts_calls on the deployment's database; its budget holds make the daily budget exact across workers.
    A SQLite file that does not exist yet holds nothing: reads
    answer zero and writes are dropped (logged once), so a voice step never creates a stray database."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.database_url = database_url
        self._engine = engine
        self._lock = threading.Lock()
        self._known_projects: set[str] = set()
        self._warned_missing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> TTSUsageStore:
        return cls(settings.database_url)

    def engine(self) -> Engine | None:
        with self._lock:
            if self._engine is None:
                path = sqlite_path(self.database_url)
                if path is not None and not path.exists():
                    return None
                self._engine = make_sync_engine(self.database_url)
            return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def record(self, call: TTSCallRecord) -> None:
        engine = self.engine()
        if engine is None:
            if not self._warned_missing:
                log.warning("tts usage not recorded: no database yet", database=str(sqlite_path(self.database_url)))
                self._warned_missing = True
            return
        values = {**call.model_dump(), "created_at": call.created_at or utcnow(), "error": call.error[:500]}
        with Session(engine) as session:
            self._ensure_project(session, call.project_id)
            session.add(TTSCall(**values))
            session.commit()
        self._known_projects.add(call.project_id)

    def _ensure_project(self, session: Session, project_id: str) -> None:
        """A placeholder project row so the foreign key holds (the recorder fills in name and niche)."""
        if project_id in self._known_projects:
            return
        dialect = session.get_bind().dialect.name
        values: dict[str, Any] = {"id": project_id, "name": "", "niche": "", "created_at": utcnow()}
        if dialect in _ON_CONFLICT:
            stmt = _ON_CONFLICT[dialect](Project).values(**values).on_conflict_do_nothing(index_elements=["id"])
            session.exec(stmt)
        elif session.get(Project, project_id) is None:
            session.add(Project(**values))
            session.flush()

    def spent_since(self, project_id: str, since: datetime) -> float:
        engine = self.engine()
        if engine is None:
            return 0.0
        with Session(engine) as session:
            return self._spent(session, project_id, since)

    @staticmethod
    def _spent(session: Session, project_id: str, since: datetime) -> float:
        stmt = select(func.coalesce(func.sum(TTSCall.cost_usd), 0.0)).where(
            TTSCall.project_id == project_id, col(TTSCall.created_at) >= since)
        return float(session.exec(stmt).one())

    def hold(self, project_id: str, amount: float, budget: float, since: datetime) -> tuple[int | None, float]:
        """Count the day's spend and the takes in flight, and hold `amount` if it fits, in one transaction
        under the project's TTS budget lock (exact across processes). (None, spent) when it does not fit;
        hold 0 when there is no database yet (nothing to count or hold)."""
        engine = self.engine()
        if engine is None:
            return (0 if amount <= budget else None), 0.0
        now = utcnow()
        with exclusive_sync(engine, f"tts-budget:{project_id}") as session:
            self._ensure_project(session, project_id)
            held = select(func.coalesce(func.sum(BudgetHold.amount_usd), 0.0)).where(
                BudgetHold.project_id == project_id, BudgetHold.kind == "tts", col(BudgetHold.expires_at) > now)
            spent = self._spent(session, project_id, since) + float(session.exec(held).one())
            if spent + amount > budget + 1e-9:
                return None, spent
            row = BudgetHold(project_id=project_id, kind="tts", amount_usd=amount, created_at=now,
                             expires_at=now + HOLD_TTL)
            session.add(row)
            session.flush()
            return row.id, spent

    def release(self, hold_id: int) -> None:
        engine = self.engine()
        if engine is None or not hold_id:
            return
        with Session(engine) as session:
            session.exec(sa.delete(BudgetHold).where(col(BudgetHold.id) == hold_id))
            session.commit()

    def usage_by_day(self, since: datetime, project_id: str | None = None) -> list[TTSUsageDay]:
        engine = self.engine()
        if engine is None:
            return []
        with Session(engine) as session:
            return usage_days(session.exec(usage_by_day_query(since, project_id)).all())

    def spent_by_project(self, since: datetime) -> dict[str, float]:
        engine = self.engine()
        if engine is None:
            return {}
        with Session(engine) as session:
            return {p: float(c or 0.0) for p, c in session.exec(spend_by_project_query(since)).all()}
