"""`sma stats`: what each post of the last N days did, at its latest checkpoint, and per platform."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_publishing import PostMetric, PublishRecord
from sma.services.analytics.scoring import median
from sma.services.analytics.store import MetricsStore
from sma.services.platforms.ledger import PublishLedger


def _latest(rows: list[PostMetric]) -> dict[tuple[str, str], PostMetric]:
    latest: dict[tuple[str, str], PostMetric] = {}
    for row in rows:  # ordered by hours, so the last one wins
        if row.status == "ok":
            latest[(row.run_id, row.platform)] = row
    return latest


def _post(record: PublishRecord, row: PostMetric | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "published_at": record.published_at.isoformat() if record.published_at else None,
        "project": record.project_id, "run_id": record.run_id, "platform": record.platform, "title": record.title,
        "url": record.url, "checkpoint": None, "late": None, "views": None, "likes": None, "comments": None,
        "shares": None, "saves": None, "engagement_rate": None, "viral_score": None,
    }
    if row is not None:
        item.update(checkpoint=row.checkpoint, late=row.late, views=row.views, likes=row.likes,
                    comments=row.comments, shares=row.shares, saves=row.saves,
                    engagement_rate=row.engagement_rate, viral_score=row.viral_score)
    return item


async def report(database: Database, days: int, project_id: str | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    since = (now or utcnow()) - timedelta(days=days)
    records = await PublishLedger(database).published(since, [project_id] if project_id else None)
    latest = _latest(await MetricsStore(database).rows([r.run_id for r in records]))
    posts = [_post(r, latest.get((r.run_id, r.platform))) for r in records]
    platforms: dict[str, dict[str, Any]] = {}
    for name in sorted({p["platform"] for p in posts}):
        mine = [p for p in posts if p["platform"] == name]
        platforms[name] = {"posts": len(mine), "views": sum(p["views"] or 0 for p in mine),
                           "median_engagement_rate": median(p["engagement_rate"] for p in mine),
                           "median_viral_score": median(p["viral_score"] for p in mine)}
    return {"since": since.isoformat(), "days": days, "project": project_id, "posts": posts, "platforms": platforms}


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(data: dict[str, Any]) -> str:
    """A plain-text table for the terminal."""
    lines = [f"posts published since {data['since'][:16].replace('T', ' ')} UTC ({data['days']} days)"]
    if not data["posts"]:
        return lines[0] + ": none"
    header = f"{'published':<16} {'platform':<10} {'at':>5} {'views':>8} {'likes':>6} {'comm.':>6} {'shares':>6} " \
             f"{'ER':>6} {'viral':>6}  title / link"
    lines += ["", header, "-" * len(header)]
    for p in data["posts"]:
        at = (p["checkpoint"] or "-") + ("*" if p["late"] else "")
        lines.append(f"{(p['published_at'] or '')[:16].replace('T', ' '):<16} {p['platform']:<10} {at:>5} "
                     f"{_fmt(p['views']):>8} {_fmt(p['likes']):>6} {_fmt(p['comments']):>6} {_fmt(p['shares']):>6} "
                     f"{_fmt(p['engagement_rate'], True):>6} {_fmt(p['viral_score']):>6}  "
                     f"{p['title'][:40]} {p['url']}".rstrip())
    lines += ["", "per platform:"]
    for name, s in data["platforms"].items():
        lines.append(f"  {name:<10} {s['posts']} posts, {s['views']} views, median ER "
                     f"{_fmt(s['median_engagement_rate'], True)}, median viral {_fmt(s['median_viral_score'])}")
    lines.append("(* collected late: the system was down at that checkpoint; viral 1.00 = the project's median)")
    return "\n".join(lines)
