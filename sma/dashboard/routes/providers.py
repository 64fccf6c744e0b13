"""Providers and budget: LLM usage and cost per day and provider, TTS engines used per day, budget caps
and today's spend per project. Keys are never shown: only whether each provider can be called."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard import charts, queries
from sma.dashboard.charts import Series
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import render
from sma.db.tables import utcnow
from sma.settings import Settings

router = APIRouter(dependencies=[Depends(require_user)], tags=["providers"])
RANGES = (7, 14, 30, 90)


def _public_url(url: str | None) -> str:
    """A base URL without user:password@ (someone may have put credentials in it)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _providers(settings: Settings) -> list[dict[str, Any]]:
    from sma.services.llm.providers import availability

    rows = []
    for name, p in sorted(settings.llm.provider_settings().items()):
        ready, reason = availability(p, settings.secrets)
        rows.append({"name": name, "kind": p.kind, "model": p.model, "base_url": _public_url(p.base_url),
                     "enabled": p.enabled, "ready": ready, "reason": reason, "price_in": p.input_usd_per_mtok,
                     "price_out": p.output_usd_per_mtok})
    return rows


def _totals(usage: list[queries.UsageDay]) -> list[queries.UsageDay]:
    """The period's usage per provider, most expensive first."""
    totals: dict[str, queries.UsageDay] = {}
    for row in usage:
        total = totals.setdefault(row.provider, queries.UsageDay(day="", provider=row.provider))
        total.calls += row.calls
        total.failed += row.failed
        total.tokens_in += row.tokens_in
        total.tokens_out += row.tokens_out
        total.cost_usd += row.cost_usd
    return sorted(totals.values(), key=lambda t: (-t.cost_usd, t.provider))


@router.get("/providers")
async def providers(request: Request, days: int = 14) -> Response:
    d = dash(request)
    days = days if days in RANGES else 14
    since = queries.start_of_day() - timedelta(days=days - 1)
    async with d.database.session() as db:
        usage = await queries.llm_usage(db, since)
        tts = await queries.tts_usage(db, since)
        spent = await queries.spend_today_by_project(db)
    day_labels = [(since + timedelta(days=i)).date().isoformat() for i in range(days)]
    cost: dict[str, dict[str, float]] = defaultdict(dict)
    for row in usage:
        cost[row.provider][row.day] = cost[row.provider].get(row.day, 0.0) + row.cost_usd
    series = [Series(p, [by_day.get(day, 0.0) for day in day_labels]) for p, by_day in sorted(cost.items())]
    budgets = [{"project": p.id, "budget": d.settings.llm.budget_for(p.id), "spent": spent.get(p.id, 0.0)}
               for p in d.settings.projects]
    short = [label[5:] for label in day_labels]
    return render(request, "pages/providers.html", {
        "days": days, "ranges": RANGES, "usage": usage, "tts": tts, "budgets": budgets,
        "providers": _providers(d.settings), "chains": d.settings.llm.chains, "tts_chain": d.settings.tts.chain,
        "cost_chart": charts.line_chart("LLM cost per day and provider", short, series, fmt=charts.usd_axis,
                                        empty="no LLM calls in this period", width=780, height=280),
        "total": sum(r.cost_usd for r in usage), "generated": utcnow(), "totals": _totals(usage),
    })
