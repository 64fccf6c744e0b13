"""Providers and budget: LLM usage and cost per day and provider, TTS usage and cost per day and engine
(tts_calls), the per-day total of both, budget caps and today's spend per project. Keys are never shown:
only whether each provider can be called."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard import charts, queries, queries_tts
from sma.dashboard.charts import Series
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import render
from sma.db.tables import utcnow
from sma.models.voice_usage import TTSUsageDay
from sma.settings import Settings

router = APIRouter(dependencies=[Depends(require_user)], tags=["providers"])
RANGES = (7, 14, 30, 90)
DEFAULT_DAYS = 30


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


def _tts_totals(tts: list[TTSUsageDay]) -> list[TTSUsageDay]:
    """The period's TTS usage per engine, most expensive first, then most used."""
    totals: dict[str, TTSUsageDay] = {}
    for row in tts:
        total = totals.setdefault(row.engine, TTSUsageDay(day="", engine=row.engine))
        for name in ("calls", "failed", "qa_failed", "characters", "audio_s", "wall_s", "cost_usd"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    return sorted(totals.values(), key=lambda t: (-t.cost_usd, -t.calls, t.engine))


def _daily_totals(usage: list[queries.UsageDay], tts: list[TTSUsageDay]) -> list[dict[str, Any]]:
    """LLM and TTS spend per UTC day with activity, newest first."""
    days: dict[str, dict[str, Any]] = {}
    for day, kind, cost in [*((u.day, "llm", u.cost_usd) for u in usage), *((t.day, "tts", t.cost_usd) for t in tts)]:
        row = days.setdefault(day, {"day": day, "llm": 0.0, "tts": 0.0, "total": 0.0})
        row[kind] += cost
        row["total"] += cost
    return sorted(days.values(), key=lambda r: r["day"], reverse=True)


def _cost_series(usage: list[queries.UsageDay], tts: list[TTSUsageDay], day_labels: list[str]) -> list[Series]:
    """One line per LLM provider and per priced TTS engine (free engines would only draw zeros)."""
    cost: dict[str, dict[str, float]] = defaultdict(dict)
    for name, day, usd in [*((u.provider, u.day, u.cost_usd) for u in usage),
                           *((f"tts {t.engine}", t.day, t.cost_usd) for t in tts if t.cost_usd > 0)]:
        cost[name][day] = cost[name].get(day, 0.0) + usd
    return [Series(n, [by_day.get(day, 0.0) for day in day_labels]) for n, by_day in sorted(cost.items())]


@router.get("/providers")
async def providers(request: Request, days: int = DEFAULT_DAYS) -> Response:
    d = dash(request)
    days = days if days in RANGES else DEFAULT_DAYS
    since = queries.start_of_day() - timedelta(days=days - 1)
    async with d.database.session() as db:
        usage = await queries.llm_usage(db, since)
        tts = await queries_tts.tts_usage_by_day(db, since)
        spent = await queries.spend_today_by_project(db)
        tts_spent = await queries_tts.tts_spend_today_by_project(db)
    day_labels = [(since + timedelta(days=i)).date().isoformat() for i in range(days)]
    tts_budget = d.settings.tts.daily_budget_usd
    budgets = [{"project": p.id, "budget": d.settings.llm.budget_for(p.id), "spent": spent.get(p.id, 0.0),
                "tts_budget": tts_budget, "tts_spent": tts_spent.get(p.id, 0.0)} for p in d.settings.projects]
    short = [label[5:] for label in day_labels]
    llm_total, tts_total = sum(r.cost_usd for r in usage), sum(r.cost_usd for r in tts)
    return render(request, "pages/providers.html", {
        "days": days, "ranges": RANGES, "usage": usage, "tts": tts, "budgets": budgets,
        "providers": _providers(d.settings), "chains": d.settings.llm.chains, "tts_chain": d.settings.tts.chain,
        "cost_chart": charts.line_chart("Cost per day: LLM providers and TTS engines", short,
                                        _cost_series(usage, tts, day_labels), fmt=charts.usd_axis,
                                        empty="no LLM or TTS spend in this period", width=780, height=280),
        "total": llm_total + tts_total, "llm_total": llm_total, "tts_total": tts_total, "generated": utcnow(),
        "totals": _totals(usage), "tts_totals": _tts_totals(tts), "daily": _daily_totals(usage, tts),
        "tts_prices": sorted(d.settings.tts.prices_per_1k_chars.items()), "tts_budget": tts_budget,
    })
