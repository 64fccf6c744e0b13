"""Read-only queries behind the dashboard pages: paginated lists and small aggregates.

Lists are paginated with LIMIT/OFFSET over indexed orderings plus one COUNT, so a page costs the same with
10 runs or 10,000. Every read is `@cached` (sma/dashboard/cache.py): exact reads until the next commit,
aggregates (`ttl_s=AGGREGATE_S`) for a few seconds; results are shared, so callers never mutate them.
Reads of other capabilities' tables (llm_calls, script_attempts, post_metrics) are guarded: a table that
is missing or has changed gives an empty result, never a broken page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import JSON, ColumnElement, Integer, Text, and_, cast, func, or_, type_coerce
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.dashboard.cache import AGGREGATE_S, cached
from sma.db.engine import Database
from sma.db.tables import Approval, Artifact, PipelineRun, Post, StepRun, utcnow
from sma.db.tables_llm import LLMCall, ScriptAttempt
from sma.db.tables_publishing import PostMetric
from sma.db.tables_voice import TTSCall

log = structlog.get_logger("sma.dashboard.queries")
T = TypeVar("T")
DB = Database | AsyncSession  # a route passes its one session; tests and tools may pass the Database
NOT_MADE = ("budget_blocked", "circuit_open")  # llm_calls rows of calls deliberately not made


def start_of_day(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime.combine(now.date(), time(), tzinfo=UTC)


@asynccontextmanager
async def reading(db: DB) -> AsyncIterator[AsyncSession]:
    """The request's session when a route passes one (one connection for the whole page), else a new one."""
    if isinstance(db, AsyncSession):
        yield db
        return
    async with db.session() as session:
        yield session


def dialect_of(db: DB) -> str:
    bind = db.bind if isinstance(db, AsyncSession) else db.engine
    return bind.dialect.name if bind is not None else "sqlite"


async def guarded(what: str, work: Callable[[], Awaitable[T]], default: T, db: DB | None = None) -> T:
    """Another capability's table may not exist yet (or changed): an empty answer, logged once per call.

    On a shared session the failed statement's transaction is rolled back (PostgreSQL refuses further
    statements in an aborted transaction); the page's later reads start a new one.
    """
    try:
        return await work()
    except DBAPIError as exc:
        log.warning("dashboard read failed", what=what, error=str(exc.orig)[:200])
        if isinstance(db, AsyncSession):
            await db.rollback()
        return default


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.size)


def clamp_page(page: int, total: int, size: int) -> int:
    return min(max(1, page), max(1, math.ceil(total / size)))


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunFilter:
    project: str = ""
    state: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""

    def where(self, dialect: str = "sqlite") -> list[Any]:
        clauses: list[Any] = []
        if self.project:
            clauses.append(PipelineRun.project_id == self.project)
        if self.state:
            clauses.append(PipelineRun.state == self.state)
        if self.since:
            clauses.append(col(PipelineRun.updated_at) >= datetime.combine(self.since, time(), tzinfo=UTC))
        if self.until:
            clauses.append(col(PipelineRun.updated_at) < datetime.combine(self.until + timedelta(days=1), time(),
                                                                           tzinfo=UTC))
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # SQLite's LIKE ignores ASCII case already and can scan the narrow (title, id) index.
            op = "like" if dialect == "sqlite" else "ilike"
            clauses.append(or_(getattr(col(PipelineRun.title), op)(pattern, escape="\\"),
                               getattr(col(PipelineRun.id), op)(pattern, escape="\\")))
        return clauses


@cached
async def run_page(db: DB, flt: RunFilter, page: int, size: int) -> Page[PipelineRun]:
    where = and_(True, *flt.where(dialect_of(db)))
    async with reading(db) as session:
        total = (await session.exec(select(func.count()).select_from(PipelineRun).where(where))).one()
        page = clamp_page(page, total, size)
        query = (select(PipelineRun).where(where)
                 .order_by(col(PipelineRun.updated_at).desc(), col(PipelineRun.id).desc())
                 .limit(size).offset((page - 1) * size))
        items = list((await session.exec(query)).all())
    return Page(items, total, page, size)


@cached
async def runs_in_state(db: DB, states: Sequence[str], limit: int = 20,
                        project: str = "") -> list[PipelineRun]:
    query = select(PipelineRun).where(col(PipelineRun.state).in_(states))
    if project:
        query = query.where(PipelineRun.project_id == project)
    query = query.order_by(col(PipelineRun.updated_at).desc()).limit(limit)
    async with reading(db) as session:
        return list((await session.exec(query)).all())


@cached  # exact: the approval badge and the overview's counts follow every commit
async def count_by_state(db: DB, since: datetime | None = None) -> dict[str, int]:
    query = select(PipelineRun.state, func.count()).group_by(PipelineRun.state)
    if since is not None:
        query = query.where(col(PipelineRun.updated_at) >= since)
    async with reading(db) as session:
        return {state: n for state, n in (await session.exec(query)).all()}


@cached
async def runs_by_id(db: DB, ids: Sequence[str]) -> dict[str, PipelineRun]:
    if not ids:
        return {}
    async with reading(db) as session:
        rows = (await session.exec(select(PipelineRun).where(col(PipelineRun.id).in_(list(ids))))).all()
    return {r.id: r for r in rows}


@cached
async def finished_runs(db: DB, limit: int = 10) -> list[PipelineRun]:
    query = (select(PipelineRun).where(col(PipelineRun.finished_at).is_not(None))
             .order_by(col(PipelineRun.finished_at).desc()).limit(limit))
    async with reading(db) as session:
        return list((await session.exec(query)).all())


@cached(ttl_s=AGGREGATE_S)
async def machine_seconds(db: DB, run_ids: Sequence[str]) -> dict[str, float]:
    """Seconds the steps of each run worked (every round), i.e. production time without human waits."""
    if not run_ids:
        return {}
    query = (select(StepRun.run_id, func.sum(StepRun.seconds)).where(col(StepRun.run_id).in_(list(run_ids)))
             .group_by(StepRun.run_id))
    async with reading(db) as session:
        return {r: float(s or 0.0) for r, s in (await session.exec(query)).all()}


@cached(ttl_s=AGGREGATE_S)
async def cost_by_run(db: DB, run_ids: Sequence[str]) -> dict[str, float]:
    """What each run cost: its LLM calls (llm_calls) and its voiceovers (tts_calls) together."""
    if not run_ids:
        return {}

    async def work() -> dict[str, float]:
        costs: dict[str, float] = {}
        for table in (LLMCall, TTSCall):
            query = (select(table.run_id, func.sum(table.cost_usd)).where(col(table.run_id).in_(list(run_ids)))
                     .group_by(table.run_id))
            async with reading(db) as session:
                for run_id, cost in (await session.exec(query)).all():
                    costs[run_id] = costs.get(run_id, 0.0) + float(cost or 0.0)
        return costs
    return await guarded("cost_by_run", work, {}, db)


@cached
async def run(db: DB, run_id: str) -> PipelineRun | None:
    async with reading(db) as session:
        return await session.get(PipelineRun, run_id)


@cached
async def run_children(db: DB, run_id: str) -> tuple[list[StepRun], list[Artifact], list[Approval], list[Post]]:
    async with reading(db) as session:
        steps = (await session.exec(select(StepRun).where(StepRun.run_id == run_id)
                                    .order_by(col(StepRun.round).desc(), col(StepRun.id)))).all()
        artifacts = (await session.exec(select(Artifact).where(Artifact.run_id == run_id)
                                        .order_by(col(Artifact.name)))).all()
        approvals = (await session.exec(select(Approval).where(Approval.run_id == run_id)
                                        .order_by(col(Approval.round)))).all()
        posts = (await session.exec(select(Post).where(Post.run_id == run_id).order_by(col(Post.platform)))).all()
    return list(steps), list(artifacts), list(approvals), list(posts)


@cached
async def artifact(db: DB, run_id: str, name: str) -> Artifact | None:
    async with reading(db) as session:
        return (await session.exec(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name))).first()


@cached
async def script_attempts(db: DB, run_id: str) -> list[ScriptAttempt]:
    async def work() -> list[ScriptAttempt]:
        query = (select(ScriptAttempt).where(ScriptAttempt.run_id == run_id)
                 .order_by(col(ScriptAttempt.round), col(ScriptAttempt.attempt)))
        async with reading(db) as session:
            return list((await session.exec(query)).all())
    return await guarded("script_attempts", work, [], db)


@cached
async def for_runs(db: DB, run_ids: Sequence[str]) -> RunExtras:
    """Video artifact, script attempts and decisions of several runs in three queries (approval queue)."""
    extras = RunExtras()
    if not run_ids:
        return extras
    ids = list(run_ids)
    async with reading(db) as session:
        for a in (await session.exec(select(Artifact).where(col(Artifact.run_id).in_(ids),
                                                            Artifact.name == "video"))).all():
            extras.videos[a.run_id] = a
        for d in (await session.exec(select(Approval).where(col(Approval.run_id).in_(ids))
                                     .order_by(col(Approval.round)))).all():
            extras.approvals.setdefault(d.run_id, []).append(d)

    async def attempts() -> None:
        query = (select(ScriptAttempt).where(col(ScriptAttempt.run_id).in_(ids))
                 .order_by(col(ScriptAttempt.round), col(ScriptAttempt.attempt)))
        async with reading(db) as session:
            for s in (await session.exec(query)).all():
                extras.attempts.setdefault(s.run_id, []).append(s)
    await guarded("script_attempts", attempts, None, db)
    return extras


@dataclass
class RunExtras:
    videos: dict[str, Artifact] = field(default_factory=dict)
    attempts: dict[str, list[ScriptAttempt]] = field(default_factory=dict)
    approvals: dict[str, list[Approval]] = field(default_factory=dict)


@cached
async def llm_calls_of_run(db: DB, run_id: str, limit: int = 50) -> list[LLMCall]:
    async def work() -> list[LLMCall]:
        query = select(LLMCall).where(LLMCall.run_id == run_id).order_by(col(LLMCall.created_at)).limit(limit)
        async with reading(db) as session:
            return list((await session.exec(query)).all())
    return await guarded("llm_calls_of_run", work, [], db)


# ---------------------------------------------------------------- posts


@dataclass(frozen=True)
class PostRow:
    post: Post
    title: str


@cached
async def posts_since(db: DB, since: datetime, limit: int = 50) -> list[PostRow]:
    query = (select(Post, PipelineRun.title).join(PipelineRun, col(PipelineRun.id) == Post.run_id)
             .where(col(Post.published_at) >= since).order_by(col(Post.published_at).desc()).limit(limit))
    async with reading(db) as session:
        return [PostRow(p, t) for p, t in (await session.exec(query)).all()]


@cached
async def post_page(db: DB, page: int, size: int, project: str = "", platform: str = "",
                    status: str = "") -> Page[PostRow]:
    clauses: list[Any] = []
    if project:
        clauses.append(Post.project_id == project)
    if platform:
        clauses.append(Post.platform == platform)
    if status:
        clauses.append(Post.status == status)
    where = and_(True, *clauses)
    newest = (col(Post.updated_at).desc(), col(Post.id).desc())
    async with reading(db) as session:
        total = (await session.exec(select(func.count()).select_from(Post).where(where))).one()
        page = clamp_page(page, total, size)
        # The offset walks the (updated_at, id) index of posts alone; only the page's rows join their run
        # (joining first made SQLite look up the run of every skipped post: 4 ms at page 30).
        ids = select(Post.id).where(where).order_by(*newest).limit(size).offset((page - 1) * size).subquery()
        query = (select(Post, PipelineRun.title).join(ids, ids.c.id == Post.id)
                 .join(PipelineRun, col(PipelineRun.id) == Post.run_id, isouter=True).order_by(*newest))
        items = [PostRow(p, t or "") for p, t in (await session.exec(query)).all()]
    return Page(items, total, page, size)


@cached(ttl_s=AGGREGATE_S)
async def post_platforms(db: DB) -> list[str]:
    async with reading(db) as session:
        return sorted(p for p in (await session.exec(select(Post.platform).distinct())).all())


# ---------------------------------------------------------------- spend and usage


@cached(ttl_s=AGGREGATE_S)
async def spend_since(db: DB, since: datetime) -> float:
    """LLM and TTS spend since `since`: what the day cost, whoever billed it."""
    async def work() -> float:
        total = 0.0
        for table in (LLMCall, TTSCall):
            query = select(func.coalesce(func.sum(table.cost_usd), 0.0)).where(col(table.created_at) >= since)
            async with reading(db) as session:
                total += float((await session.exec(query)).one())
        return total
    return await guarded("spend_since", work, 0.0, db)


@dataclass
class UsageDay:
    day: str
    provider: str
    calls: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


@cached(ttl_s=AGGREGATE_S)
async def llm_usage(db: DB, since: datetime) -> list[UsageDay]:
    """LLM calls per UTC day and provider (calls not made — budget, open circuit — are not counted)."""
    async def work() -> list[UsageDay]:
        day = func.substr(cast(LLMCall.created_at, Text), 1, 10)
        query = (select(day, LLMCall.provider, func.count(), func.sum(cast(LLMCall.outcome != "ok", Integer)),  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
                        func.sum(LLMCall.tokens_in), func.sum(LLMCall.tokens_out), func.sum(LLMCall.cost_usd))
                 .where(col(LLMCall.created_at) >= since, col(LLMCall.outcome).not_in(NOT_MADE))
                 .group_by(day, LLMCall.provider).order_by(day.desc(), LLMCall.provider))
        async with reading(db) as session:
            rows = (await session.exec(query)).all()
        return [UsageDay(str(d), p or "?", int(n), int(f or 0), int(ti or 0), int(to or 0), float(c or 0.0))
                for d, p, n, f, ti, to, c in rows]
    return await guarded("llm_usage", work, [], db)


@cached(ttl_s=AGGREGATE_S)
async def spend_today_by_project(db: DB) -> dict[str, float]:
    async def work() -> dict[str, float]:
        query = (select(LLMCall.project_id, func.sum(LLMCall.cost_usd))
                 .where(col(LLMCall.created_at) >= start_of_day()).group_by(LLMCall.project_id))
        async with reading(db) as session:
            return {p: float(c or 0.0) for p, c in (await session.exec(query)).all()}
    return await guarded("spend_today_by_project", work, {}, db)


# ---------------------------------------------------------------- analytics


@dataclass
class MetricPoint:
    run_id: str
    platform: str
    published_at: datetime
    views: int
    engagement: float | None
    viral: float | None
    hook_style: str = ""


@dataclass
class Analytics:
    points: list[MetricPoint] = field(default_factory=list)

    def by_day(self) -> list[tuple[date, float, float | None, float | None]]:
        """(day, views, mean engagement rate, mean viral score)."""
        return _group(self.points, lambda p: p.published_at.date())

    def by(self, key: Callable[[MetricPoint], Any]) -> list[tuple[Any, float, float | None, float | None]]:
        return _group(self.points, key)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _group(points: list[MetricPoint], key: Callable[[MetricPoint], Any]
           ) -> list[tuple[Any, float, float | None, float | None]]:
    groups: dict[Any, list[MetricPoint]] = defaultdict(list)
    for point in points:
        groups[key(point)].append(point)
    return [(k, float(_mean([p.views for p in g]) or 0.0), _mean([p.engagement for p in g if p.engagement is not None]),
             _mean([p.viral for p in g if p.viral is not None])) for k, g in sorted(groups.items())]


@cached(ttl_s=AGGREGATE_S)
async def analytics(db: DB, since: datetime, project: str = "", limit: int = 5000) -> Analytics:
    """The latest checkpoint of every post published since `since`, with the hook style of its script.

    One pass in SQL: a window picks each post's latest checkpoint and the hook style is read from the
    script JSON by the database, so the page loads only the numbers it draws.
    """
    where: list[ColumnElement[bool]] = [col(PostMetric.published_at) >= since, col(PostMetric.status) == "ok"]
    if project:
        where.append(col(PostMetric.project_id) == project)
    rank = func.row_number().over(partition_by=(PostMetric.run_id, PostMetric.platform),
                                  order_by=col(PostMetric.hours).desc()).label("rank")
    ranked = (select(PostMetric.run_id, PostMetric.platform, PostMetric.published_at, PostMetric.views,  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
                     PostMetric.engagement_rate, PostMetric.viral_score, rank).where(*where).subquery())
    style = type_coerce(ScriptAttempt.script_json, JSON)["hook_style"].as_string()
    posted = select(PostMetric.run_id).where(*where)
    styles = (select(ScriptAttempt.run_id, func.max(style).label("style"))
              .where(ScriptAttempt.passed == True, col(ScriptAttempt.run_id).in_(posted))  # noqa: E712
              .group_by(ScriptAttempt.run_id).subquery())
    query = (select(ranked.c.run_id, ranked.c.platform, ranked.c.published_at, ranked.c.views,  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
                    ranked.c.engagement_rate, ranked.c.viral_score, styles.c.style)
             .join(styles, styles.c.run_id == ranked.c.run_id, isouter=True)
             .where(ranked.c.rank == 1).order_by(ranked.c.published_at.desc()).limit(limit))

    async def work() -> list[MetricPoint]:
        async with reading(db) as session:
            rows = (await session.exec(query)).all()
        return [MetricPoint(r, p, at, views or 0, rate, viral, s or "unknown")
                for r, p, at, views, rate, viral, s in rows]
    return Analytics(await guarded("analytics", work, [], db))


# ---------------------------------------------------------------- errors


@cached
async def failed_steps(db: DB, limit: int = 20) -> list[StepRun]:
    query = (select(StepRun).where(StepRun.state == "failed")
             .order_by(col(StepRun.finished_at).desc(), col(StepRun.id).desc()).limit(limit))
    async with reading(db) as session:
        return list((await session.exec(query)).all())


@cached(ttl_s=AGGREGATE_S)
async def run_total(db: DB) -> int:
    async with reading(db) as session:
        return int((await session.exec(select(func.count()).select_from(PipelineRun))).one())
